"""USD prices by asset and minute, as a forward-filled grid (portable: no ``asof_join``).

The rule: a fill at minute *m* uses the asset's price at *m*, else the latest earlier
minute within the staleness limit; otherwise there is no price and the run fails naming
the asset and minute. Implemented with window functions and equi-joins only, which run
alike on DuckDB and PySpark:

1. a grid of every (asset, minute) the rules can ask for — each minute of the loss
   window plus the snapshot minute — built as a small in-memory table;
2. the grid is unioned with the price rows, and a running ``max`` over each asset's
   rows ordered by minute gives the latest priced minute at or before each grid point;
3. grid points whose latest price is older than the limit are dropped, so a left join
   from fills or balances yields NULL exactly where the rule says "no price".

Minutes are carried as integer epoch seconds (``minute_s``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import ibis

from recompense.data.contract import NUMBER_TYPE
from recompense.engine.exact import EpochMicros, minute_s


def window_minutes(start: datetime, end: datetime, extra: tuple[datetime, ...] = ()) -> Any:
    """The minutes of ``[start, end)`` plus ``extra`` minutes, as a one-column table.

    Built from ``ibis.range`` rather than an in-memory table, so the expression is
    self-contained on every backend (Spark's cached tables cannot see memtables).
    """
    spans = [(_floor_minute(start), int(end.timestamp()))]
    spans += [(_floor_minute(t), _floor_minute(t) + 60) for t in extra]
    tables = [
        ibis.range(_int64(first), _int64(last), _int64(60)).unnest().name("minute_s").as_table()
        for first, last in spans
    ]
    return ibis.union(*tables, distinct=True) if len(tables) > 1 else tables[0]


def price_grid(prices: Any, minutes: Any, staleness: timedelta, epoch_us: EpochMicros) -> Any:
    """(asset, minute_s, usd) for every asset and grid minute with a fresh-enough price."""
    rows = prices.select(
        asset=prices.asset,
        minute_s=minute_s(prices.minute, epoch_us),
        usd=prices.usd,
        is_grid=ibis.literal(0, type="int8"),
    )
    assets = rows.select("asset").distinct()
    grid = assets.cross_join(minutes).select(
        asset="asset",
        minute_s="minute_s",
        usd=ibis.null(NUMBER_TYPE),
        is_grid=ibis.literal(1, type="int8"),
    )
    both = rows.union(grid)
    running = ibis.window(
        group_by="asset", order_by=["minute_s", "is_grid"], preceding=None, following=0
    )
    priced_minute = (
        ibis.ifelse(both.is_grid == 0, both.minute_s, ibis.null("int64")).max().over(running)
    )
    filled = both.mutate(priced_s=priced_minute).filter(lambda t: t.is_grid == 1)
    limit_s = int(staleness.total_seconds())
    fresh = filled.filter(
        filled.priced_s.notnull() & (filled.minute_s - filled.priced_s <= limit_s)
    )
    lookup = rows.select(p_asset="asset", p_minute_s="minute_s", p_usd="usd")
    joined = fresh.join(
        lookup, [fresh.asset == lookup.p_asset, fresh.priced_s == lookup.p_minute_s]
    )
    return joined.select(
        asset=joined.asset, minute_s=joined.minute_s, usd=joined.p_usd, priced_s=joined.priced_s
    )


def _int64(value: int) -> Any:
    return ibis.literal(value, type="int64")


def _floor_minute(t: datetime) -> int:
    seconds = int(t.timestamp())
    return seconds - seconds % 60
