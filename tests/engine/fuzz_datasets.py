"""Hypothesis strategies for adversarial contract datasets, and their writers.

A case is a tiny exchange (1–4 users, their accounts, balances and fills, the prices
those need) plus how it is stored — Parquet with decimals of a random precision and
scale (sometimes wider than 38 digits), Parquet with floats, or CSV text with numbers
in plain or scientific notation and timestamps with ``Z``, other offsets or none — and
a handful of mutations an adversary would try: seconds in price minutes, boundary
timestamps, zero/negative/huge values, digits beyond the 12th decimal place, NaN,
duplicate and orphan keys. Logical values are exact ``Decimal`` (floats only for NaN
and infinity), so the reference can compute what the stored file means.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from recompense.data.contract import TABLES  # the column list only: names and kinds

START = datetime(2025, 10, 10, tzinfo=UTC)
END = datetime(2025, 10, 12, tzinfo=UTC)
SNAPSHOT = datetime(2025, 10, 9, 23, 59, tzinfo=UTC)
US = timedelta(microseconds=1)
INSTANTS = (
    START,
    START - US,
    END - US,
    END,
    datetime(2025, 10, 10, 21, 18, tzinfo=UTC),  # an incident starts
    datetime(2025, 10, 10, 21, 59, 59, 999_999, tzinfo=UTC),
    datetime(2025, 10, 10, 22, 0, tzinfo=UTC),  # the first incident ends
    datetime(2025, 10, 10, 23, 0, tzinfo=UTC),  # the second incident ends
)
ASSETS = ("USDT", "BTC", "PEPE")
PRODUCTS = ("usdm_futures", "coinm_futures", "cross_margin", "isolated_margin", "portfolio_margin")
WALLETS = ("spot", "usdm_futures", "cross_margin", "earn")
USER_IDS = (1, 2, 3, 7, -5, 2**63 - 1, -(2**63))
OFFSETS = {"Z": timedelta(0), "+02:00": timedelta(hours=2), "-05:30": timedelta(hours=-5.5)}


@dataclass
class Case:
    tables: dict[str, list[dict[str, Any]]]
    storage: dict[str, Any]
    budget_usd: str

    def __repr__(self) -> str:
        rows = "\n".join(f"  {name}: {rows!r}" for name, rows in self.tables.items())
        return f"Case(storage={self.storage!r}, budget_usd={self.budget_usd!r},\n{rows})"

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for spec in TABLES:
            rows = self.tables[spec.name]
            if self.storage["format"] == "csv":
                _write_csv(folder / f"{spec.name}.csv", spec, rows, self.storage)
            else:
                _write_parquet(folder / f"{spec.name}.parquet", spec, rows, self.storage)
        return folder


def amounts(*, float_safe: bool) -> st.SearchStrategy[Decimal]:
    """Exact amounts: mostly ordinary, sometimes tiny, huge, or finer than 12 places."""
    ordinary = st.builds(
        lambda n, k: Decimal(n).scaleb(-k),
        st.integers(-(10**6), 10**6),
        st.integers(0, 5 if float_safe else 8),
    )
    if float_safe:
        return _mostly(ordinary, st.sampled_from([Decimal("1E+16"), Decimal("0")]))
    return _mostly(
        ordinary,
        st.builds(lambda n: Decimal(n).scaleb(-12), st.integers(-(10**6), 10**6)),
        st.builds(lambda n: Decimal(n).scaleb(-13), st.integers(1, 99)),  # beyond 12 places
        st.sampled_from(
            [Decimal("1E+15"), Decimal("999999999999999.999999999999"), Decimal("-4.0000005")]
        ),
    )


def _mostly(usual: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> Any:
    """``usual`` about 95% of the time, else one of ``rare``."""
    return st.integers(0, 19).flatmap(lambda n: st.one_of(*rare) if n == 13 else usual)


def prices(*, float_safe: bool) -> st.SearchStrategy[Decimal]:
    digits = 6 if float_safe else 12
    return st.one_of(
        st.builds(
            lambda n, k: Decimal(n).scaleb(-k), st.integers(1, 10**7), st.integers(0, digits)
        ),
        st.sampled_from([Decimal("1"), Decimal("0.00000651"), Decimal("121500.5")]),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    numbers = draw(st.sampled_from([("float",), ("text",), ("decimal", 0, 0)]))
    storage: dict[str, Any] = {
        "format": "csv" if numbers[0] == "text" else "parquet",
        "naive_ok": draw(st.booleans()),
        "naive_parquet": False,
        "ts_styles": {},
        "exponent": draw(st.booleans()),
    }
    float_safe = numbers[0] == "float"
    amount = amounts(float_safe=float_safe)
    tables = _exchange(draw, amount, prices(float_safe=float_safe))
    _mutate(draw, tables, float_safe=float_safe)
    if numbers[0] == "decimal":
        numbers = _decimal_type(draw, tables)
    storage["numbers"] = numbers
    if storage["format"] == "csv":
        naive = draw(st.integers(0, 4)) == 3
        styles = st.sampled_from(["Z", "Z", "+02:00", "-05:30", *(["naive"] if naive else [])])
        storage["ts_styles"] = {
            (name, i, c): draw(styles)
            for name, rows in tables.items()
            for i, row in enumerate(rows)
            for c, v in row.items()
            if isinstance(v, datetime)
        }
    else:
        storage["naive_parquet"] = draw(st.integers(0, 9)) == 7
    budget = draw(st.sampled_from(["5.00", "1000.00", "100000000.00"]))
    return Case(tables, storage, budget)


def _exchange(draw: st.DrawFn, amount: Any, price: Any) -> dict[str, list[dict[str, Any]]]:
    user_ids = draw(st.lists(st.sampled_from(USER_IDS), min_size=1, max_size=4, unique=True))
    tables: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in TABLES}
    account_id = 100
    needed: set[tuple[str, datetime]] = set()
    for user_id in user_ids:
        tables["users"].append(
            {
                "user_id": user_id,
                "user_type": "retail",
                "vip_tier": 0,
                "registered_at": draw(
                    st.sampled_from([SNAPSHOT - timedelta(days=400), SNAPSHOT + US])
                ),
                "email": None,
                "locale": "en",
            }
        )
        for _ in range(draw(st.integers(1, 2))):
            account_id += 1
            kind = "master" if account_id % 2 else "sub"
            tables["accounts"].append({"account_id": account_id, "user_id": user_id, "kind": kind})
            for asset in draw(st.lists(st.sampled_from(ASSETS), max_size=2, unique=True)):
                tables["balances"].append(
                    {
                        "account_id": account_id,
                        "wallet": draw(st.sampled_from(WALLETS)),
                        "asset": asset,
                        "balance": abs(draw(amount)),
                        "liability": abs(draw(amount)) if draw(st.booleans()) else Decimal(0),
                        "unrealized_pnl": draw(amount),
                    }
                )
                needed.add((asset, SNAPSHOT))
            for _ in range(draw(st.integers(0, 3))):
                at = draw(_mostly(_instants(), st.sampled_from(INSTANTS)))
                asset = draw(st.sampled_from(ASSETS))
                tables["liquidations"].append(
                    {
                        "fill_id": len(tables["liquidations"]) + 1,
                        "account_id": account_id,
                        "product": draw(st.sampled_from(PRODUCTS)),
                        "kind": draw(st.sampled_from(["liquidation", "liquidation", "adl"])),
                        "symbol": f"{asset}USDT",
                        "ts": at,
                        "margin_asset": asset,
                        "realized_pnl": -abs(draw(amount)) if draw(st.booleans()) else draw(amount),
                        "clearance_fee": abs(draw(amount)) if draw(st.booleans()) else Decimal(0),
                    }
                )
                needed.add((asset, at))
        if draw(st.integers(0, 4)) == 0:
            tables["prior_compensation"].append(
                {
                    "user_id": user_id,
                    "program_id": draw(st.sampled_from(["depeg-2025-10", "other"])),
                    "amount_usd": Decimal("12.50"),
                    "paid_at": SNAPSHOT,
                }
            )
    for asset, at in sorted(needed):
        minute = at.replace(second=0, microsecond=0)
        lag = draw(st.sampled_from([0] * 12 + [1, 60, 61]))
        tables["prices"].append(
            {"asset": asset, "minute": minute - timedelta(minutes=lag), "usd": draw(price)}
        )
    _dedupe_prices(tables)
    return tables


def _instants() -> st.SearchStrategy[datetime]:
    """Inside the window, most of them in the crash hours 21:00–23:00 of Oct 10."""
    crash = datetime(2025, 10, 10, 21, tzinfo=UTC)
    return st.one_of(
        st.integers(0, 2 * 3600 * 10**6 - 1).map(lambda us: crash + us * US),
        st.integers(0, 2 * 86_400 * 10**6 - 1).map(lambda us: START + us * US),
    )


def _dedupe_prices(tables: dict[str, list[dict[str, Any]]]) -> None:
    seen: set[tuple[str, datetime]] = set()
    kept = []
    for row in tables["prices"]:
        if (row["asset"], row["minute"]) not in seen:
            seen.add((row["asset"], row["minute"]))
            kept.append(row)
    tables["prices"] = kept


def _mutate(draw: st.DrawFn, tables: dict[str, list[dict[str, Any]]], *, float_safe: bool) -> None:
    """At most two adversarial edits; most cases get none, so most runs complete."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2]))):
        edit = draw(st.sampled_from(_EDITS))
        edit(draw, tables, float_safe)


def _seconds_in_a_price_minute(draw, tables, float_safe):
    if tables["prices"]:
        row = dict(draw(st.sampled_from(tables["prices"])))
        row["minute"] += timedelta(seconds=draw(st.integers(1, 59)))
        tables["prices"].append(row)


def _negative(draw, tables, float_safe):
    name, column = draw(
        st.sampled_from(
            [("liquidations", "clearance_fee"), ("balances", "balance"), ("prices", "usd")]
        )
    )
    if tables[name]:
        draw(st.sampled_from(tables[name]))[column] = Decimal("-0.01")


def _zero_price(draw, tables, float_safe):
    if tables["prices"]:
        draw(st.sampled_from(tables["prices"]))["usd"] = Decimal(0)


def _huge(draw, tables, float_safe):
    name, column = draw(
        st.sampled_from([("liquidations", "realized_pnl"), ("balances", "unrealized_pnl")])
    )
    if tables[name]:
        value = draw(
            st.sampled_from([Decimal("-3E+18"), Decimal("-900000000000000"), Decimal("-9E+11")])
        )
        draw(st.sampled_from(tables[name]))[column] = value


def _nan(draw, tables, float_safe):
    if float_safe and tables["liquidations"]:
        draw(st.sampled_from(tables["liquidations"]))["realized_pnl"] = draw(
            st.sampled_from([float("nan"), float("inf"), float("-inf")])
        )


def _duplicate(draw, tables, float_safe):
    name = draw(st.sampled_from(["liquidations", "accounts", "users", "prices", "balances"]))
    if tables[name]:
        tables[name].append(dict(draw(st.sampled_from(tables[name]))))


def _orphan(draw, tables, float_safe):
    name = draw(st.sampled_from(["liquidations", "balances", "accounts"]))
    if tables[name]:
        row = draw(st.sampled_from(tables[name]))
        row["user_id" if name == "accounts" else "account_id"] = 999_999


_EDITS = (_seconds_in_a_price_minute, _negative, _zero_price, _huge, _nan, _duplicate, _orphan)


def _decimal_type(draw: st.DrawFn, tables: dict[str, list[dict[str, Any]]]) -> tuple[str, int, int]:
    """A decimal type wide enough for every number: scale 0–30 beyond need, maybe > 38 digits."""
    values = [
        v
        for rows in tables.values()
        for row in rows
        for v in row.values()
        if isinstance(v, Decimal)
    ]
    scale = max((-v.as_tuple().exponent for v in values), default=0)
    scale = max(scale, 0) + draw(st.integers(0, 3))
    whole = max((len(str(int(abs(v)))) for v in values), default=1)
    precision = scale + whole + draw(st.sampled_from([0, 1, 5, 20]))
    return ("decimal", min(precision, 76), scale)


def _arrow_type(kind: str, numbers: tuple[Any, ...], naive: bool) -> pa.DataType:
    if kind == "num":
        if numbers[0] == "float":
            return pa.float64()
        _, precision, scale = numbers
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    return {
        "int": pa.int64(),
        "ts": pa.timestamp("us", tz=None if naive else "UTC"),
        "str": pa.string(),
        "enum": pa.string(),
    }[kind]


def _write_parquet(
    path: Path, spec: Any, rows: list[dict[str, Any]], storage: dict[str, Any]
) -> None:
    naive = storage["naive_parquet"] and spec.name == "liquidations"
    schema = pa.schema(
        [(c.name, _arrow_type(c.kind, storage["numbers"], naive)) for c in spec.columns]
    )
    data = []
    for row in rows:
        out = {}
        for col in spec.columns:
            value = row[col.name]
            if (
                col.kind == "num"
                and storage["numbers"][0] == "float"
                and isinstance(value, Decimal)
            ):
                value = float(value)
            if col.kind == "ts" and naive:
                value = value.replace(tzinfo=None)
            out[col.name] = value
        data.append(out)
    pq.write_table(pa.Table.from_pylist(data, schema=schema), path)


def _write_csv(path: Path, spec: Any, rows: list[dict[str, Any]], storage: dict[str, Any]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow([c.name for c in spec.columns])
        for i, row in enumerate(rows):
            writer.writerow([_text(spec.name, i, c, row[c.name], storage) for c in spec.columns])


def _text(table: str, i: int, col: Any, value: Any, storage: dict[str, Any]) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        style = storage["ts_styles"][(table, i, col.name)]
        if style == "naive":
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        local = value.astimezone(UTC) + OFFSETS[style]
        return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + style
    if isinstance(value, Decimal):
        return f"{value:E}" if storage["exponent"] else f"{value:f}"
    return str(value)
