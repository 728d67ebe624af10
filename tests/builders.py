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


def ts(text: str) -> datetime:
    """``"2025-10-10T21:20"`` → aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    spec = next(s for s in TABLES if s.name == name)
    schema = pa.schema([(c.name, ARROW[c.kind]) for c in spec.columns])
    return pa.Table.from_pylist(rows, schema=schema)


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

    def write(self, folder: Path, fmt: str = "parquet") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in (
            "users",
            "accounts",
            "balances",
            "prices",
            "liquidations",
            "prior_compensation",
        ):
            data = table(name, getattr(self, name))
            if fmt == "parquet":
                pq.write_table(data, folder / f"{name}.parquet")
            else:
                import pyarrow.csv as pacsv

                pacsv.write_csv(data, folder / f"{name}.csv")
        return folder


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
