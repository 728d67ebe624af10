"""One user's exports → the data contract's fills and snapshot balances.

Each rule here is stated, with its evidence in the real exports, in ``docs/import.md``.

**Which fills.** A fill's order decides: client order id ``autoclose-…`` is a forced
liquidation, ``adl_autoclose…`` auto-deleveraging (written with kind ``adl``, never
counted), ``settlement_autoclose-…`` a delivery (not written). COIN-M's order export has
no client id, and an order missing from the order export has none either: such an order
is taken as a liquidation only on the evidence that exists — a negative
``INSURANCE_CLEAR`` ledger row of the same symbol in the same second as one of its fills
— and the report says it was inferred.

**Each fill's numbers.** ``realized_pnl`` is the trade's ``Realized Profit``, and must
equal its ``REALIZED_PNL`` ledger row (same symbol and second — the web exports write
seconds, the API milliseconds, so times are compared to the second; the transaction id ends
with the trade id, the API names the trade); ``margin_asset`` is that row's asset and
``fill_id`` its transaction id (trade ids repeat across symbols). A fill without PnL has
no ledger row: its id is synthetic (negative) and its asset the symbol's quote (USDⓈ-M)
or coin (COIN-M).

**Clearance fees.** ``INSURANCE_CLEAR`` is charged per liquidation order, not per fill:
the negative rows of one symbol and second are spread over that symbol's liquidation
fills in that second in proportion to quantity, in the fee's own smallest unit (1e-8 as
Binance writes it), with the units left over going one each to the largest remainders
(ties: smaller trade id) — so the fills' fees sum to the ledger's exactly. Positive
``INSURANCE_CLEAR`` rows (insurance-fund top-ups of a negative balance) are balance
movements, not fees.

**Net assets at the snapshot.** The ledger summed through the end of the snapshot
minute, per asset, when the ledger is complete (its first row is money coming in: the
account's first transfer or deposit); from the account statement when one is given
(every wallet); or the user's own figure. Otherwise the import is refused.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.files import UserExports
from recompense.imports.binance.records import (
    PRODUCT_LABELS,
    FieldError,
    LedgerRow,
    Order,
    Product,
    Trade,
    margin_asset_of,
)

FillKind = Literal["liquidation", "adl", "delivery", "other"]
MAX_EXAMPLES = 5
IN_TYPES = ("TRANSFER", "DEPOSIT")
STATEMENT_WALLETS = {
    "spot": "spot",
    "funding": "funding",
    "earn": "earn",
    "simple earn": "earn",
    "savings": "earn",
    "usdt-futures": "usdm_futures",
    "usdⓢ-m futures": "usdm_futures",
    "usd-m futures": "usdm_futures",
    "usd-futures": "usdm_futures",
    "coin-futures": "coinm_futures",
    "coin-m futures": "coinm_futures",
    "cross margin": "cross_margin",
    "margin": "cross_margin",
    "isolated margin": "isolated_margin",
    "portfolio margin": "portfolio_margin",
}


@dataclass(frozen=True, slots=True)
class Fill:
    """A liquidation or ADL fill in the contract's terms, with where it came from."""

    fill_id: int
    product: Product
    kind: Literal["liquidation", "adl"]
    symbol: str
    ts: datetime
    margin_asset: str
    realized_pnl: Decimal
    clearance_fee: Decimal
    trade: Trade
    how: str  # how it was classified
    ledger_where: str  # the REALIZED_PNL row it was checked against, or why none


@dataclass(frozen=True, slots=True)
class Balance:
    wallet: str
    asset: str
    amount: Decimal  # signed: negative is a liability


@dataclass
class Derived:
    """What one user's exports give the contract, and the report's account of it."""

    user_id: int
    fills: list[Fill] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    net_assets_source: str = ""
    first_seen: datetime | None = None
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fees: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def derive(
    user: UserExports,
    *,
    snapshot_at: datetime,
    net_assets_usd: Decimal | None,
) -> Derived:
    """The contract's rows for one user; inconsistencies raise or become warnings."""
    out = Derived(user.user_id)
    for product in ("usdm_futures", "coinm_futures"):
        _fills(user, product, out)
    _balances(user, snapshot_at, net_assets_usd, out)
    _open_positions(user, snapshot_at, out)
    times = [r.time for f in user.files for r in f.rows if hasattr(r, "time")]
    out.first_seen = min(times) if times else None
    for name, count in user.duplicates.items():
        out.counts[f"duplicate_{name}_rows_dropped"] = count
    return out


# ---------------------------------------------------------------------------------
# Fills


def second(t: datetime) -> datetime:
    """Rows are linked within one second: the web exports write seconds, the API ms."""
    return t.replace(microsecond=0) if t.microsecond else t


def _fills(user: UserExports, product: Product, out: Derived) -> None:
    trades, ledger = user.trades[product], user.ledger[product]
    if not trades:
        if any(r.type in ("REALIZED_PNL", "INSURANCE_CLEAR") for r in ledger):
            out.warnings.append(
                f"{PRODUCT_LABELS[product]}: a Transaction History with PnL but no Trade "
                "History: without the trades no fill can be derived"
            )
        return
    label = PRODUCT_LABELS[product]
    orders = {(o.symbol, o.order_id): o for o in user.orders[product]}
    clears = _insurance_clears(ledger)
    by_order: dict[tuple[str, int], list[Trade]] = defaultdict(list)
    for t in trades:
        by_order[(t.symbol, t.order_id)].append(t)
    pnl_rows: dict[tuple[str, datetime], list[LedgerRow]] = defaultdict(list)
    for r in ledger:
        if r.type == "REALIZED_PNL":
            pnl_rows[(r.symbol, second(r.time))].append(r)
    span = (ledger[0].time, ledger[-1].time) if ledger else None
    matched: set[int] = set()
    pending: list[tuple[Trade, FillKind, str]] = []
    for key, fills in by_order.items():
        kind, how = _classify(orders.get(key), fills, clears, label, out)
        out.counts[f"{product}_{kind}_fills"] += len(fills)
        if kind in ("liquidation", "adl"):
            pending.extend((t, kind, how) for t in fills)
        else:
            for t in fills:  # still claim their ledger rows, for the unmatched check
                row = _ledger_row(t, pnl_rows, span, label)
                if row is not None:
                    matched.add(row.txid)
    made: list[Fill] = []
    for t, kind, how in sorted(pending, key=lambda p: (p[0].time, p[0].symbol, p[0].trade_id)):
        row = _ledger_row(t, pnl_rows, span, label)
        if row is not None:
            matched.add(row.txid)
        made.append(_fill(t, kind, how, row, product, span))  # type: ignore[arg-type]
    made = _spread_fees(made, clears, _trade_span(trades), label, out)
    out.fills.extend(made)
    _unmatched_pnl(ledger, matched, _trade_span(trades), made, label, out)


def _insurance_clears(ledger: list[LedgerRow]) -> dict[tuple[str, datetime], list[LedgerRow]]:
    clears: dict[tuple[str, datetime], list[LedgerRow]] = defaultdict(list)
    for r in ledger:
        if r.type == "INSURANCE_CLEAR" and r.symbol and r.amount < 0:
            clears[(r.symbol, second(r.time))].append(r)
    return clears


def _classify(
    order: Order | None,
    fills: list[Trade],
    clears: dict[tuple[str, datetime], list[LedgerRow]],
    label: str,
    out: Derived,
) -> tuple[FillKind, str]:
    if order is not None and order.client_id is not None:
        cid = order.client_id
        if cid.startswith("autoclose-"):
            return "liquidation", "client order id autoclose-…"
        if cid.startswith("adl_autoclose"):
            return "adl", "client order id adl_autoclose…"
        if cid.startswith("settlement_autoclose-"):
            return "delivery", "client order id settlement_autoclose-… (delivery, not counted)"
        return "other", "client order id of an ordinary order"
    evidence = any((t.symbol, second(t.time)) in clears for t in fills)
    why = "no client order id in the COIN-M order export" if order else "order not exported"
    if order is None:
        t = fills[0]
        out.counts["fills_whose_order_is_missing"] += len(fills)
        if len([w for w in out.warnings if "not in any order export" in w]) < MAX_EXAMPLES:
            out.warnings.append(
                f"{label}: order {t.order_id} ({t.symbol}) of {len(fills)} fill(s) from "
                f"{t.where} is not in any order export; classified from the ledger"
            )
    if evidence:
        out.counts["liquidation_fills_inferred"] += len(fills)
        return "liquidation", f"{why}: INSURANCE_CLEAR in the same symbol and second (inferred)"
    return "other", f"{why}: no INSURANCE_CLEAR in the same symbol and second (inferred)"


def _ledger_row(
    t: Trade,
    pnl_rows: dict[tuple[str, datetime], list[LedgerRow]],
    span: tuple[datetime, datetime] | None,
    label: str,
) -> LedgerRow | None:
    tid = str(t.trade_id)
    found = [
        r
        for r in pnl_rows.get((t.symbol, second(t.time)), ())
        if (r.trade_id == t.trade_id if r.trade_id is not None else str(r.txid).endswith(tid))
    ]
    if len(found) > 1:
        found = [r for r in found if r.amount == t.realized] or found
    if len(found) > 1:
        raise ExportError(
            f"{t.where}: {label} trade {t.trade_id} ({t.symbol}) matches "
            f"{len(found)} REALIZED_PNL rows ({', '.join(str(r.where) for r in found)})"
        )
    if found and found[0].amount != t.realized:
        r = found[0]
        raise ExportError(
            f"{t.where}: {label} trade {t.trade_id} ({t.symbol}) has Realized Profit "
            f"{t.realized}, but its REALIZED_PNL ledger row {r.where} says {r.amount}"
        )
    return found[0] if found else None


def _fill(
    t: Trade,
    kind: Literal["liquidation", "adl"],
    how: str,
    row: LedgerRow | None,
    product: Product,
    span: tuple[datetime, datetime] | None,
) -> Fill:
    if row is not None:
        return Fill(
            row.txid, product, kind, t.symbol, t.time, row.asset, t.realized,
            Decimal(0), t, how, str(row.where),
        )  # fmt: skip
    if t.realized != 0 and span is not None and span[0] <= t.time <= span[1]:
        raise ExportError(
            f"{t.where}: {PRODUCT_LABELS[product]} {kind} fill {t.trade_id} ({t.symbol}, "
            f"Realized Profit {t.realized}) has no REALIZED_PNL row in the Transaction "
            f"History, which covers {span[0]:%Y-%m-%d %H:%M:%S} – {span[1]:%Y-%m-%d %H:%M:%S}"
        )
    try:
        asset = t.margin_asset or margin_asset_of(t.symbol, product)
    except FieldError as exc:
        raise ExportError(f"{t.where}: column 'Symbol': {exc}") from None
    why = "no PnL, so no ledger row" if t.realized == 0 else "outside the ledger's period"
    return Fill(
        synthetic_fill_id(product, t.symbol, t.trade_id), product, kind, t.symbol, t.time,
        asset, t.realized, Decimal(0), t, how, why,
    )  # fmt: skip


def synthetic_fill_id(product: str, symbol: str, trade_id: int) -> int:
    """A stable negative id for a fill with no ledger row (transaction ids are positive)."""
    digest = hashlib.sha256(f"{product}:{symbol}:{trade_id}".encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 2) - 1


def _trade_span(trades: Sequence[Trade]) -> tuple[datetime, datetime]:
    return trades[0].time, trades[-1].time


def _spread_fees(
    fills: list[Fill],
    clears: dict[tuple[str, datetime], list[LedgerRow]],
    trade_span: tuple[datetime, datetime],
    label: str,
    out: Derived,
) -> list[Fill]:
    groups: dict[tuple[str, datetime], list[int]] = defaultdict(list)
    for i, f in enumerate(fills):
        if f.kind == "liquidation":
            groups[(f.symbol, second(f.ts))].append(i)
    fees = [Decimal(0)] * len(fills)
    for (symbol, ts), rows in sorted(clears.items()):
        charged = -sum((r.amount for r in rows), Decimal(0))
        where = ", ".join(str(r.where) for r in rows)
        members = groups.get((symbol, ts), [])
        if not members:
            if trade_span[0] <= ts <= trade_span[1]:
                raise ExportError(
                    f"{where}: {label} INSURANCE_CLEAR of {charged} {rows[0].asset} "
                    f"({symbol}, {ts:%Y-%m-%d %H:%M:%S}) has no liquidation fill of that symbol "
                    "in that second in the Trade History"
                )
            out.warnings.append(
                f"{where}: INSURANCE_CLEAR outside the Trade History's period; not a fill's fee"
            )
            continue
        assets = {fills[i].margin_asset for i in members} | {r.asset for r in rows}
        if len(assets) > 1:
            raise ExportError(f"{where}: INSURANCE_CLEAR in {rows[0].asset}, fills in {assets}")
        shares = apportion(charged, [fills[i].trade.quantity for i in members],
                           [fills[i].trade.trade_id for i in members])  # fmt: skip
        for i, share in zip(members, shares, strict=True):
            fees[i] += share
        out.fees.append(
            {
                "symbol": symbol,
                "time": ts.isoformat(),
                "asset": rows[0].asset,
                "amount": str(charged),
                "rows": where,
                "fills": len(members),
            }
        )
    return [f if fee == 0 else _with_fee(f, fee) for f, fee in zip(fills, fees, strict=True)]


def _with_fee(f: Fill, fee: Decimal) -> Fill:
    from dataclasses import replace

    return replace(f, clearance_fee=fee)


def apportion(total: Decimal, weights: Sequence[Decimal], ids: Sequence[int]) -> list[Decimal]:
    """Split ``total`` over ``weights`` exactly, in ``total``'s smallest written unit.

    Hamilton's method: each part is floored to the unit; the units left over go one
    each to the largest remainders (ties: the smaller id). Equal parts when every weight
    is 0. The parts sum to ``total`` exactly.
    """
    exponent = total.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    unit = Decimal(1).scaleb(-places)
    units = int(total / unit)
    scale = 10 ** max(
        [0] + [-e for w in weights if isinstance(e := w.as_tuple().exponent, int) and e < 0]
    )
    ints = [int(w * scale) for w in weights]
    if sum(ints) == 0:
        ints = [1] * len(weights)
    whole = sum(ints)
    parts = [units * w // whole for w in ints]
    left = units - sum(parts)
    order = sorted(range(len(ints)), key=lambda i: (-(units * ints[i] % whole), ids[i]))
    for i in order[:left]:
        parts[i] += 1
    return [Decimal(p) * unit for p in parts]


def _unmatched_pnl(
    ledger: list[LedgerRow],
    matched: set[int],
    trade_span: tuple[datetime, datetime],
    fills: list[Fill],
    label: str,
    out: Derived,
) -> None:
    liquidated = {(f.symbol, second(f.ts)) for f in fills if f.kind == "liquidation"}
    loose = [
        r
        for r in ledger
        if r.type == "REALIZED_PNL"
        and r.txid not in matched
        and trade_span[0] <= r.time <= trade_span[1]
    ]
    for r in loose:
        if (r.symbol, second(r.time)) in liquidated:
            raise ExportError(
                f"{r.where}: {label} REALIZED_PNL of {r.amount} {r.asset} ({r.symbol}, "
                f"{r.time:%Y-%m-%d %H:%M:%S}) matches no trade, in a second with liquidation "
                "fills: a liquidation fill is missing from the Trade History"
            )
    if loose:
        out.counts["ledger_pnl_rows_without_trade"] += len(loose)
        examples = ", ".join(str(r.where) for r in loose[:MAX_EXAMPLES])
        out.warnings.append(
            f"{label}: {len(loose)} REALIZED_PNL row(s) in the Trade History's period match "
            f"no trade (not liquidations; e.g. {examples})"
        )


# ---------------------------------------------------------------------------------
# Net assets


def _balances(user: UserExports, snapshot_at: datetime, own: Decimal | None, out: Derived) -> None:
    end = snapshot_at + timedelta(minutes=1)
    if own is not None:
        out.balances.append(Balance("usdm_futures", "USD", own))
        out.net_assets_source = f"the user's own figure: {own} USD (--net-assets-usd)"
        return
    if user.statement:
        _statement_balances(user, end, out)
        return
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    used: list[str] = []
    for product in ("usdm_futures", "coinm_futures"):
        ledger, label = user.ledger[product], PRODUCT_LABELS[product]
        if not ledger:
            if user.trades[product]:
                raise _no_net_assets(user, f"no {label} Transaction History")
            continue
        first = ledger[0]
        if first.type not in IN_TYPES or first.amount <= 0:
            raise _no_net_assets(
                user,
                f"the {label} Transaction History starts {first.time:%Y-%m-%d %H:%M:%S} "
                f"with {first.type} ({first.where}), not with the account's first transfer in, "
                "so it cannot be summed to the snapshot",
            )
        if ledger[-1].time < end:
            out.warnings.append(
                f"{label}: the Transaction History ends {ledger[-1].time:%Y-%m-%d %H:%M:%S}, "
                "before the snapshot; balances assume nothing moved after it"
            )
        for r in ledger:
            if r.time < end:
                sums[(product, r.asset)] += r.amount
        used.append(label)
    out.balances.extend(Balance(w, a, v) for (w, a), v in sorted(sums.items()) if v != 0)
    out.net_assets_source = (
        f"{' and '.join(used)} Transaction History summed through "
        f"{snapshot_at:%Y-%m-%d %H:%M} UTC (complete: starts with the first transfer in); "
        "wallet balances, without unrealized PnL"
        if used
        else "no balances in the exports"
    )


def _statement_balances(user: UserExports, end: datetime, out: Derived) -> None:
    first = user.statement[0]
    if first.change <= 0 or not any(w in first.operation.lower() for w in ("deposit", "transfer")):
        raise _no_net_assets(
            user,
            f"the account statement starts {first.time:%Y-%m-%d %H:%M:%S} with "
            f"{first.operation!r} ({first.where}), not with the account's first deposit",
        )
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in user.statement:
        wallet = STATEMENT_WALLETS.get(r.account.strip().lower())
        if wallet is None:
            raise ExportError(
                f"{r.where}: column 'Account': {r.account!r} is not a wallet the contract "
                f"knows ({', '.join(sorted(set(STATEMENT_WALLETS)))})"
            )
        if r.time < end:
            sums[(wallet, r.coin)] += r.change
    out.balances.extend(Balance(w, a, v) for (w, a), v in sorted(sums.items()) if v != 0)
    out.net_assets_source = "the account statement (every wallet) summed to the snapshot"


def _no_net_assets(user: UserExports, why: str) -> ExportError:
    return ExportError(
        f"user {user.user_id}: net assets at the snapshot cannot be derived: {why}. Export "
        "the history from the account's first transfer, add the account statement, or give "
        "the user's own figure with --net-assets-usd"
    )


def _open_positions(user: UserExports, snapshot_at: datetime, out: Derived) -> None:
    """Positions the trades leave open at the snapshot: their unrealized PnL is unknown."""
    end = snapshot_at + timedelta(minutes=1)
    net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for product in ("usdm_futures", "coinm_futures"):
        for t in user.trades[product]:
            if t.time >= end:
                break
            sign = 1 if t.side == "BUY" else -1
            if t.position_side == "SHORT":
                sign = -sign
            net[(t.symbol, t.position_side)] += sign * t.quantity
    still = sorted(f"{s} {side} {q.normalize()}" for (s, side), q in net.items() if q != 0)
    if still and not out.net_assets_source.startswith("the user's own"):
        out.counts["positions_open_at_snapshot"] = len(still)
        out.warnings.append(
            f"{len(still)} position(s) open at the snapshot by the trades ({', '.join(still[:8])}"
            f"{', …' if len(still) > 8 else ''}): their unrealized PnL is not in the exports, "
            "so net assets are wallet balances; pass --net-assets-usd to use your own figure"
        )
