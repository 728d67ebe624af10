"""Derived rows → the data contract's tables (Arrow), written atomically with the report.

Every table of the contract is written, as Parquet with the contract's exact types
(amounts ``decimal(38, 12)``, times UTC), sorted, so importing the same exports twice
gives byte-identical files. Users: ``user_type`` from ``--user-type`` (the exports do not
say; default ``retail``), ``vip_tier`` 0, ``registered_at`` the earliest time in the
user's exports (the exports do not say either). One master account per user, its id the
uid. ``prior_compensation`` is empty: the exports cannot say who was paid before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recompense.atomic import (
    discard,
    disk_error,
    make_folders,
    remove_made,
    remove_stale_temps,
    sync_folder,
    sync_tree,
    temp_sibling,
)
from recompense.data import contract
from recompense.imports.binance.derive import Derived
from recompense.imports.binance.errors import ExportError
from recompense.imports.binance.prices import PriceBook

REPORT = "import-report.json"
_PARQUET: dict[str, Any] = {"compression": "zstd", "write_statistics": True}


def _arrow_type(kind: contract.ColumnKind) -> pa.DataType:
    return {
        "int": pa.int64(),
        "str": pa.string(),
        "enum": pa.string(),
        "ts": pa.timestamp("us", tz="UTC"),
        "num": pa.decimal128(38, contract.SCALE),
    }[kind]


SCHEMAS = {
    t.name: pa.schema([(c.name, _arrow_type(c.kind)) for c in t.columns]) for t in contract.TABLES
}


def tables(
    derived: Sequence[Derived],
    book: PriceBook,
    *,
    user_type: str,
    snapshot_at: datetime,
    needed: Sequence[tuple[str, datetime]],
) -> dict[str, pa.Table]:
    """The contract's tables for ``derived`` users and the prices they need."""
    users, accounts, balances, fills = [], [], [], []
    for d in derived:
        start = d.first_seen or snapshot_at
        users.append((d.user_id, user_type, 0, start, None, None))
        accounts.append((d.user_id, d.user_id, "master"))
        for b in d.balances:
            pos, neg = (b.amount, Decimal(0)) if b.amount > 0 else (Decimal(0), -b.amount)
            balances.append((d.user_id, b.wallet, b.asset, pos, neg, Decimal(0)))
        for f in d.fills:
            fills.append(
                (f.fill_id, d.user_id, f.product, f.kind, f.symbol, f.ts, f.margin_asset,
                 f.realized_pnl, f.clearance_fee)
            )  # fmt: skip
    _unique_fill_ids(derived)
    prices = _price_rows(book, needed, snapshot_at)
    return {
        "users": _table("users", sorted(users)),
        "accounts": _table("accounts", sorted(accounts)),
        "balances": _table("balances", sorted(balances)),
        "prices": _table("prices", prices),
        "liquidations": _table("liquidations", sorted(fills)),
        "prior_compensation": _table("prior_compensation", []),
    }


def write(out: Path, data: dict[str, pa.Table], report: dict[str, Any]) -> None:
    """Write the dataset folder ``out`` atomically; an existing non-empty folder is refused.

    Built in a hidden sibling, synced and renamed into place: on any failure nothing is
    left (neither that folder nor the parents it made). A full or read-only disk raises
    :class:`~recompense.errors.StorageError` (exit code 3), any other failure to write
    there :class:`ExportError` (exit code 2), both naming ``--out``.
    """
    made: list[Path] = []
    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ExportError(f"--out {out}: already exists and is not empty")
        made = make_folders(out.parent)
        remove_stale_temps(out)
        tmp = temp_sibling(out)
        discard(tmp)
        tmp.mkdir()
    except OSError as exc:
        remove_made(made)
        raise disk_error(exc, out) or ExportError(
            f"--out {out}: cannot create: {exc.strerror or exc}"
        ) from exc
    try:
        for name, table in data.items():
            pq.write_table(table, tmp / f"{name}.parquet", **_PARQUET)
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        (tmp / REPORT).write_text(text, encoding="utf-8")
        sync_tree(tmp)
        if out.is_dir():
            out.rmdir()
        os.replace(tmp, out)
    except OSError as exc:  # the disk filled, the folder appeared meanwhile
        discard(tmp)
        remove_made(made)
        raise disk_error(exc, out) or ExportError(
            f"--out {out}: cannot write: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        discard(tmp)
        remove_made(made)
        raise
    sync_folder(out.parent)


def _table(name: str, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    schema = SCHEMAS[name]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.Table.from_arrays(
        [pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _unique_fill_ids(derived: Sequence[Derived]) -> None:
    seen: dict[int, int] = {}
    for d in derived:
        for f in d.fills:
            other = seen.get(f.fill_id)
            seen[f.fill_id] = d.user_id
            if other is not None:
                raise ExportError(
                    f"fill id {f.fill_id} ({f.trade.where}) is used twice (users {other} and "
                    f"{d.user_id}); transaction ids must be unique"
                )


def _price_rows(
    book: PriceBook, needed: Sequence[tuple[str, datetime]], snapshot_at: datetime
) -> list[tuple[str, datetime, Decimal]]:
    """Every minute the sources hold (so staleness works as in the engine) + stablecoins."""
    rows: dict[tuple[str, datetime], Decimal] = {}
    lo = min((m for _, m in needed), default=snapshot_at) - timedelta(days=1)
    hi = max((m for _, m in needed), default=snapshot_at) + timedelta(days=1)
    for asset, minutes in book.prices.items():
        for minute, usd in minutes.items():
            if lo <= minute <= hi:
                rows[(asset, minute)] = usd
    for asset, minute in needed:
        if asset in book.stablecoins:
            rows[(asset, minute.replace(second=0, microsecond=0))] = book.stablecoins[asset]
    return sorted((a, m, v) for (a, m), v in rows.items())
