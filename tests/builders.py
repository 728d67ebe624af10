"""Small inline datasets for tests: tables as lists of dicts, written per the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recompense.data.contract import TABLES

ARROW = {
    "int": pa.int64(),
    "num": pa.float64(),
    "ts": pa.timestamp("us", tz="UTC"),
    "str": pa.string(),
    "enum": pa.string(),
}
SNAPSHOT = datetime(2025, 10, 9, 23, 59, tzinfo=UTC)
CRASH = datetime(2025, 10, 10, 21, 20, tzinfo=UTC)
PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "together-2025-10.toml"
DEPEG_PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "depeg-2025-10.toml"
# The de-peg programme's reference time, and reference rows that give round adjusted prices
# under its adjustments: USDE max(1.00, ½·0.9979 + ½·1·1.0001) = 1.00; BNSOL 1·1.07·182.5 =
# 195.275; WBETH 1·1.081·3526.83 = 3812.50323.
REFERENCE_AT = datetime(2025, 10, 11, tzinfo=UTC)
DEPEG_REFERENCES = (
    ("USDE", "0.9979", "1", "1.0001"),
    ("BNSOL", "180", "1.07", "182.5"),
    ("WBETH", "3700", "1.081", "3526.83"),
)


def ts(text: str) -> datetime:
    """``"2025-10-10T21:20"`` → aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as the contract's table; ``num`` values given as text are written as exact
    ``decimal128(38, 12)``, floats as float64."""
    spec = next(s for s in TABLES if s.name == name)
    decimal_text = any(
        isinstance(r.get(c.name), str) for r in rows for c in spec.columns if c.kind == "num"
    )
    kinds = dict(ARROW, num=pa.decimal128(38, 12)) if decimal_text else ARROW
    schema = pa.schema([(c.name, kinds[c.kind]) for c in spec.columns])
    if decimal_text:
        from decimal import Decimal

        rows = [
            {k: Decimal(v) if isinstance(v, str) and k in _nums(spec) else v for k, v in r.items()}
            for r in rows
        ]
    return pa.Table.from_pylist(rows, schema=schema)


def _nums(spec: Any) -> set[str]:
    return {c.name for c in spec.columns if c.kind == "num"}


def flat_prices(assets: dict[str, float], start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = []
    minute = start
    while minute < end:
        rows += [{"asset": a, "minute": minute, "usd": p} for a, p in assets.items()]
        minute += timedelta(minutes=1)
    return rows


class World:
    """A tiny exchange: users with one master account each, flat prices, no fills."""

    def __init__(self) -> None:
        self.users: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []
        self.balances: list[dict[str, Any]] = []
        self.liquidations: list[dict[str, Any]] = []
        self.prior_compensation: list[dict[str, Any]] = []
        self.collateral_liquidations: list[dict[str, Any]] = []
        self.reference_prices: list[dict[str, Any]] = []
        self.prices = flat_prices(
            {"USDT": 1.0, "BTC": 100_000.0},
            SNAPSHOT - timedelta(minutes=5),
            SNAPSHOT + timedelta(minutes=1),
        )
        self.prices += flat_prices(
            {"USDT": 1.0, "BTC": 100_000.0}, ts("2025-10-10T00:00"), ts("2025-10-12T00:05")
        )
        self._fill = 0

    def user(
        self,
        user_id: int,
        *,
        net_usdt: float = 1000.0,
        vip_tier: int = 0,
        user_type: str = "retail",
    ) -> int:
        self.users.append(
            {
                "user_id": user_id,
                "user_type": user_type,
                "vip_tier": vip_tier,
                "registered_at": ts("2020-01-01T00:00"),
                "email": f"u{user_id}@example.com",
                "locale": "en",
            }
        )
        self.accounts.append({"account_id": user_id * 10, "user_id": user_id, "kind": "master"})
        if net_usdt:
            balance, liability = (net_usdt, 0.0) if net_usdt > 0 else (0.0, -net_usdt)
            self.balances.append(
                {
                    "account_id": user_id * 10,
                    "wallet": "usdm_futures",
                    "asset": "USDT",
                    "balance": balance,
                    "liability": liability,
                    "unrealized_pnl": 0.0,
                }
            )
        return user_id * 10

    def fill(
        self,
        account_id: int,
        loss: float,
        *,
        at: str = "2025-10-10T21:20",
        asset: str = "USDT",
        product: str = "usdm_futures",
        kind: str = "liquidation",
        fee: float = 0.0,
    ) -> None:
        self._fill += 1
        self.liquidations.append(
            {
                "fill_id": self._fill,
                "account_id": account_id,
                "product": product,
                "kind": kind,
                "symbol": "BTCUSDT",
                "ts": ts(at),
                "margin_asset": asset,
                "realized_pnl": -loss,
                "clearance_fee": fee,
            }
        )

    def collateral(
        self,
        account_id: int,
        asset: str,
        quantity: str,
        price: str,
        *,
        at: str = "2025-10-10T21:40",
        product: str = "usdm_futures",
    ) -> int:
        """A collateral liquidation event (decimal text: exact); returns its event id."""
        event_id = max((e["event_id"] for e in self.collateral_liquidations), default=0) + 1
        self.collateral_liquidations.append(
            {
                "event_id": event_id,
                "account_id": account_id,
                "product": product,
                "asset": asset,
                "quantity": quantity,
                "liquidation_price": price,
                "ts": datetime.fromisoformat(at).astimezone(UTC)
                if "+" in at or at.endswith("Z")
                else ts(at),
            }
        )
        return event_id

    def depeg_references(self, rows: tuple[tuple[str, ...], ...] = DEPEG_REFERENCES) -> None:
        """Reference rows at the de-peg programme's reference time (asset, market, rate,
        underlying; decimal text)."""
        for asset, market, rate, underlying in rows:
            self.reference_prices.append(
                {
                    "asset": asset,
                    "at": REFERENCE_AT,
                    "market_usd": market,
                    "redemption_rate": rate,
                    "underlying_usd": underlying,
                }
            )

    def write(self, folder: Path, fmt: str = "parquet") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        names = ["users", "accounts", "balances", "prices", "liquidations", "prior_compensation"]
        if self.collateral_liquidations or self.reference_prices:
            names += ["collateral_liquidations", "reference_prices"]
        for name in names:
            data = table(name, getattr(self, name))
            if fmt == "parquet":
                pq.write_table(data, folder / f"{name}.parquet")
            else:
                import pyarrow.csv as pacsv

                pacsv.write_csv(data, folder / f"{name}.csv")
        return folder


# The de-peg programme's small exchange (tests/runs/test_full_run.py tells its story).
DEPEG_PAID = {1: 210_890, 2: 28_583, 5: 20_069}


def depeg_world() -> World:
    """Users 1, 2 and 5 paid, 3 listed but paid 0, 4 with no counted event."""
    world = World()
    a1 = world.user(1)
    world.collateral(a1, "WBETH", "0.52", "430", at="2025-10-10T21:40")
    world.collateral(a1, "USDE", "1000", "0.65", at="2025-10-10T21:54", product="loan")
    world.collateral(world.user(2), "BNSOL", "3", "100", at="2025-10-10T21:36")
    world.collateral(world.user(3), "WBETH", "1", "5000", at="2025-10-10T22:00")
    a4 = world.user(4)
    world.collateral(a4, "BNSOL", "5", "50", at="2025-10-10T22:17")
    world.collateral(a4, "WBETH", "1", "400", product="loan", at="2025-10-10T21:35:59.999999")
    a5 = world.user(5)
    world.accounts.append({"account_id": 51, "user_id": 5, "kind": "sub"})
    world.collateral(a5, "bnsol", "2", "95", product="cross_margin")
    world.collateral(51, "BNSOL", "0.5", "195", at="2025-10-10T22:16:59.999999")
    world.depeg_references()
    return world


APPROVERS = ("ops:approver-1", "ops:approver-2")


def approve_twice(run: Path, url: str) -> None:
    """Two officers' approvals of ``run`` (neither ran it), as ``distribute`` requires."""
    from recompense.distribution.approvals import approve

    for approver in APPROVERS:
        approve(run, url, approver)


def sign_in(client: Any, token: str, next_path: str = "/") -> Any:
    """Sign a test client in as a browser does (``recompense.web.sessions``): trade the
    JWT for a one-time code (``POST /api/sign-in-codes``), open the link, post its form.
    The client then holds the session cookie; the answer (303 to ``next_path``) is
    returned."""
    import html
    import re

    issued = client.post("/api/sign-in-codes", headers={"Authorization": f"Bearer {token}"})
    assert issued.status_code == 200, issued.text
    page = client.get("/login", params={"code": issued.json()["code"], "next": next_path})
    assert page.status_code == 200, page.text
    fields = re.findall(r'name="(code|signin_check|next)" value="([^"]*)"', page.text)
    form = {name: html.unescape(value) for name, value in fields}
    answer = client.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer


def missing_tool(reason: str, required_by: str) -> None:
    """Skip for want of a tool the host lacks, or fail when ``required_by`` (an environment
    variable, set by .ci/run) says this run must not skip it: CI cannot go green without
    the Spark engine or the JavaScript libraries checked."""
    import os

    if os.environ.get(required_by) == "1":
        pytest.fail(f"{reason} ({required_by}=1: this run must not skip it)")
    pytest.skip(reason)


NODE_MODULES = Path(__file__).resolve().parent / "browser" / "node_modules"


def linked_node_modules(folder: Path, package: str, label: str) -> Path:
    """``folder`` with the pinned JavaScript (tests/browser/package-lock.json, installed by
    ``make browser``) linked in as its ``node_modules``; skipped (failed under .ci/run)
    without Node or without ``package`` installed."""
    import shutil

    if shutil.which("node") is None or not (NODE_MODULES / package).is_dir():
        missing_tool(
            f"Node.js and {label} (pinned in tests/browser/package-lock.json; `make browser` "
            "installs them) are needed here",
            "RECOMPENSE_REQUIRE_NODE",
        )
    (folder / "node_modules").symlink_to(NODE_MODULES)
    return folder
