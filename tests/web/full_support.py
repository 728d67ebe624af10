"""A full-payment programme (the de-peg compensation) and the Together Initiative in one
ledger, for the web tests of both kinds.

The dataset is the synthetic crash (:func:`recompense.data.synth.generate`, small) with
its collateral tables replaced by hand-written events, so every figure a test asserts is
known: the reference prices are the lead's (WBETH ``(1 − 1) × 3700 + 1 × 1.081 ×
3526.83 = 3,812.50323``; BNSOL ``1.07 × 182.5 = 195.275``; USDe ``max(1.00, ½ × 0.9979 +
½ × 1.0001) = 1.00``), and the users are:

- ``paid``: three events — WBETH 0.52 at $430 (``→ $1,758.90``), USDe 1,000 at $0.65
  (``→ $350.00``) and BNSOL 3 at $200, above its reference (``→ $0.00``): $2,108.90 in full;
- ``capped``: WBETH 2 at $1,000 (``→ $5,625.01``), above the $5,000 ceiling;
- ``no_loss``: WBETH 1 at $5,000, above the reference: ``NO_LOSS_AT_REFERENCE``;
- ``outside``: USDe sold at 22:17:00, the window's excluded end: no counted event;
- ``together``: an eligible user of the Together Initiative, paid $50.00 for USDe 500 at
  $0.90 (so the Together run with ``--db`` excludes them: paid by the de-peg programme);
- ``late``: BNSOL 3 at $100 found only in the second batch's data (``→ $285.83``);
- ``corrected``: USDe 200 at $0.50 (``→ $100.00``), corrected to $0.80 in the second
  batch's data (``→ $40.00``): the decrease is recorded, the $100.00 stays paid;
- ``vanished``: USDe 100 at $0.90 (``→ $10.00``), corrected to $1.05 (above the
  reference) in the second batch's data: no longer eligible, the $10.00 stays paid.

:func:`build_ledger` distributes the de-peg programme, its second batch (an amendment
run on the newer data, ``recompense amend --data``) and the Together Initiative's run
against that ledger, into a ledger of its own.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from builders import approve_twice
from recompense.distribution.distribute import distribute

ROOT = Path(__file__).resolve().parents[2]
DEPEG_FILE = ROOT / "programs" / "depeg-2025-10.toml"
TOGETHER_FILE = ROOT / "programs" / "together-2025-10.toml"
DEPEG, TOGETHER = "depeg-2025-10", "together-2025-10"
DEPEG_NAME = "USDe, BNSOL and WBETH de-peg compensation"
CEILING_CENTS = 500_000
NUMBER = pa.decimal128(38, 12)
STAMP = pa.timestamp("us", tz="UTC")
REFERENCE_AT = datetime(2025, 10, 11, tzinfo=UTC)
COLLATERAL_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("account_id", pa.int64()),
        ("product", pa.string()),
        ("asset", pa.string()),
        ("quantity", NUMBER),
        ("liquidation_price", NUMBER),
        ("ts", STAMP),
    ]
)


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2025, 10, 10, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    """The runs that need no ledger, and who is who in them."""

    data: Path
    newer: Path  # the second batch's dataset
    depeg_policy: Path  # the shipped policy with a $5,000 ceiling
    depeg_run: Path
    users: dict[str, int]
    accounts: dict[str, int]


@dataclass(frozen=True)
class Books:
    """A ledger holding both programmes, distributed."""

    url: str
    world: World
    batch: Path  # the de-peg programme's second batch: the head run the service shows
    together_run: Path

    @property
    def users(self) -> dict[str, int]:
        return self.world.users


def build_world(root: Path) -> World:
    """The dataset, the newer dataset and the de-peg programme's first run (~6 s)."""
    from recompense.data.synth import generate
    from recompense.runs import execute_run

    data = root / "data"
    generate(3_000, 7, data)
    plain = root / "together-plain"
    execute_run(TOGETHER_FILE, data, plain)
    together_users = _eligible(plain)
    master = _master_accounts(data)
    taken = {together_users[0]}
    others = [u for u in sorted(master) if u not in set(together_users) and u not in taken]
    names = ("paid", "capped", "no_loss", "outside", "late", "corrected", "vanished")
    users = dict(zip(names, others[: len(names)], strict=True), together=together_users[0])
    accounts = {name: master[user] for name, user in users.items()}
    events = [
        (accounts["paid"], "usdm_futures", "WBETH", "0.52", "430", at(21, 40)),
        (accounts["paid"], "loan", "USDE", "1000", "0.65", at(21, 54)),
        (accounts["paid"], "cross_margin", "BNSOL", "3", "200", at(21, 36, 30)),
        (accounts["capped"], "isolated_margin", "WBETH", "2", "1000", at(21, 45)),
        (accounts["no_loss"], "usdm_futures", "WBETH", "1", "5000", at(22, 0)),
        (accounts["outside"], "usdm_futures", "USDE", "100", "0.5", at(22, 17)),
        (accounts["together"], "cross_margin", "USDE", "500", "0.9", at(21, 45)),
        (accounts["corrected"], "loan", "USDE", "200", "0.5", at(21, 50)),
        (accounts["vanished"], "loan", "USDE", "100", "0.9", at(21, 51)),
    ]
    _write_collateral(data, events)
    newer = root / "newer"
    shutil.copytree(data, newer)
    corrected = [
        *events[:-2],
        (accounts["corrected"], "loan", "USDE", "200", "0.8", at(21, 50)),
        (accounts["vanished"], "loan", "USDE", "100", "1.05", at(21, 51)),
        (accounts["late"], "loan", "BNSOL", "3", "100", at(21, 50)),
    ]
    _write_collateral(newer, corrected)
    policy = root / "depeg.toml"
    policy.write_text(
        DEPEG_FILE.read_text(encoding="utf-8").replace(
            '# ceiling_usd = "1000000.00"', 'ceiling_usd = "5000.00"'
        ),
        encoding="utf-8",
    )
    run = root / "depeg-run"
    execute_run(policy, data, run)
    return World(data, newer, policy, run, users, accounts)


def build_ledger(world: World, url: str, folder: Path) -> Books:
    """Distribute the de-peg programme, its second batch, then the Together Initiative
    (run against this ledger, so it excludes the users the de-peg programme paid)."""
    from recompense.amend import amend_run
    from recompense.runs import execute_run

    approve_twice(world.depeg_run, url)
    distribute(world.depeg_run, url)
    batch = folder / "depeg-batch-2"
    amend_run(world.depeg_run, url, batch, data=world.newer, run_by="ops:batcher")
    approve_twice(batch, url)
    distribute(batch, url)
    together = folder / "together"
    execute_run(TOGETHER_FILE, world.data, together, db=url)
    approve_twice(together, url)
    distribute(together, url)
    return Books(url, world, batch, together)


def events_of(run: Path, user_id: int) -> list[dict[str, Any]]:
    """The user's rows of ``events.parquet``, read directly (an independent look)."""
    table = pq.read_table(run / "events.parquet", filters=[("user_id", "=", user_id)])
    return sorted(table.to_pylist(), key=lambda r: (r["ts"], r["event_id"]))


def _write_collateral(folder: Path, events: list[tuple[Any, ...]]) -> None:
    rows = [
        {
            "event_id": n,
            "account_id": account,
            "product": product,
            "asset": asset,
            "quantity": Decimal(quantity),
            "liquidation_price": Decimal(price),
            "ts": moment,
        }
        for n, (account, product, asset, quantity, price, moment) in enumerate(events, 1)
    ]
    pq.write_table(
        pa.Table.from_pylist(rows, schema=COLLATERAL_SCHEMA),
        folder / "collateral_liquidations.parquet",
    )
    references = pa.table(
        {
            "asset": ["USDE", "BNSOL", "WBETH"],
            "at": pa.array([REFERENCE_AT] * 3, STAMP),
            "market_usd": pa.array([Decimal("0.9979"), Decimal(180), Decimal(3700)], NUMBER),
            "redemption_rate": pa.array([Decimal(1), Decimal("1.07"), Decimal("1.081")], NUMBER),
            "underlying_usd": pa.array(
                [Decimal("1.0001"), Decimal("182.5"), Decimal("3526.83")], NUMBER
            ),
        }
    )
    pq.write_table(references, folder / "reference_prices.parquet")


def _eligible(run: Path) -> list[int]:
    table = pq.read_table(run / "eligibility.parquet", columns=["user_id", "eligible"])
    return sorted(int(r["user_id"]) for r in table.to_pylist() if r["eligible"])


def _master_accounts(data: Path) -> dict[int, int]:
    rows = pq.read_table(data / "accounts.parquet").to_pylist()
    return {int(r["user_id"]): int(r["account_id"]) for r in rows if r["kind"] == "master"}
