"""Vouchers as a Hypothesis state machine, on a real distributed run and its ledger.

A small run is approved and distributed once (about 600 vouchers, SQLite); each example
starts from a copy of that ledger. Owners and strangers redeem, operations revoke, the
expiry job runs, and time passes, in any order. A model predicts every outcome — the
new state, "not found" for a stranger, the refusal of a closed or expired voucher, the
first result again for a second click — and after every step the ledger must show:

- each voucher in exactly one state, the one the model says;
- the states matching the journal: a closed voucher has exactly one closing entry, of
  its kind, named by ``close_entry_id``; an issued one has none (so no voucher is ever
  redeemed twice);
- the books balanced, money conserved (fund + liability + wallets = what the treasury
  funded), the liability equal to the issued vouchers, each wallet to its redemptions;
- ``reconcile`` passing.

A failure prints the steps that led to it.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from builders import approve_twice
from recompense.distribution.distribute import distribute
from recompense.distribution.reconcile import reconcile
from recompense.ledger.db import connect, upgrade
from recompense.ledger.errors import VoucherError, VoucherNotFound
from recompense.ledger.journal import balances
from recompense.ledger.schema import journal_entries, postings, vouchers
from recompense.ledger.vouchers import expire_due, redeem, revoke

TRACKED = 6  # vouchers the rules act on one by one (the expiry job acts on all)
CLOSING = {"redeem": "redeemed", "expire": "expired", "revoke": "revoked"}
SEEN: Counter[str] = Counter()


@dataclass
class Voucher:
    user_id: int
    amount: int
    expires_at: datetime
    state: str = "issued"
    entry: str | None = None


class VoucherMachine(RuleBasedStateMachine):
    template: Path
    run: Path
    folder: Path

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.vouchers: dict[str, Voucher] = {}
        self.tracked: list[str] = []
        self.now = datetime.now(UTC)

    @initialize()
    def copy_the_ledger(self) -> None:
        copy = self.folder / f"{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.template, copy)
        self.url = f"sqlite:///{copy}"
        with connect(self.url).connect() as conn:
            rows = conn.execute(select(vouchers).order_by(vouchers.c.user_id)).fetchall()
        for r in rows:
            expires = r.expires_at.replace(tzinfo=UTC)
            self.vouchers[r.id] = Voucher(r.user_id, r.amount_cents, expires)
        self.tracked = [r.id for r in rows[:TRACKED]]
        self.now = min(v.expires_at for v in self.vouchers.values()) - timedelta(days=8)

    def teardown(self) -> None:
        if self.url:
            connect(self.url).dispose()

    # -- transitions -------------------------------------------------------------------

    @rule(pick=st.integers(0, TRACKED - 1), stranger=st.sampled_from((False, False, True)))
    def redeem(self, pick: int, stranger: bool) -> None:
        voucher_id = self.tracked[pick]
        v = self.vouchers[voucher_id]
        user = v.user_id + 1 if stranger else v.user_id
        expected: type[Exception] | None = None
        if stranger:
            expected = VoucherNotFound  # another user's voucher: "not found", never "forbidden"
        elif v.state in ("expired", "revoked") or (
            v.state == "issued" and v.expires_at <= self.now
        ):
            expected = VoucherError
        if expected is not None:
            with pytest.raises(VoucherError) as raised:
                redeem(connect(self.url), voucher_id, user, now=self.now)
            assert type(raised.value) is expected
            SEEN[f"refused: {expected.__name__}"] += 1
            return
        done = redeem(connect(self.url), voucher_id, user, now=self.now)
        assert done.already == (v.state == "redeemed")  # a second click: the first result
        assert done.amount_cents == v.amount
        if v.state == "redeemed":
            assert done.entry_id == v.entry
        v.state, v.entry = "redeemed", done.entry_id
        SEEN["redeemed again" if done.already else "redeemed"] += 1
        again = redeem(connect(self.url), voucher_id, user, now=self.now)  # a double click
        assert again.already
        assert again.entry_id == v.entry
        SEEN["redeemed again"] += 1

    @rule(pick=st.integers(0, TRACKED - 1))
    def revoke(self, pick: int) -> None:
        voucher_id = self.tracked[pick]
        v = self.vouchers[voucher_id]
        if v.state != "issued":
            with pytest.raises(VoucherError, match="only issued vouchers"):
                revoke(connect(self.url), voucher_id, reason="test", now=self.now)
            SEEN["refused revoke"] += 1
            return
        v.entry = revoke(connect(self.url), voucher_id, reason="duplicate account", now=self.now)
        v.state = "revoked"
        SEEN["revoked"] += 1

    @rule()
    def expire(self) -> None:
        due = [
            (i, v)
            for i, v in self.vouchers.items()
            if v.state == "issued" and v.expires_at <= self.now
        ]
        program = "together-2025-10"
        result = expire_due(connect(self.url), program, now=self.now, batch=250)
        assert result.expired == len(due)
        assert result.clawed_back_cents == sum(v.amount for _, v in due)
        for _, v in due:
            v.state = "expired"
        SEEN["expired"] += result.expired

    @rule(days=st.sampled_from((1, 2, 5)))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def the_ledger_agrees(self) -> None:
        if not self.url:
            return
        with connect(self.url).connect() as conn:
            stored = {r.id: r for r in conn.execute(select(vouchers))}
            closing = conn.execute(
                select(postings.c.voucher_id, journal_entries.c.kind, journal_entries.c.id)
                .select_from(postings.join(journal_entries))
                .where(journal_entries.c.kind.in_(sorted(CLOSING)))
                .distinct()
            ).fetchall()
            totals = conn.execute(
                select(postings.c.currency, func.sum(postings.c.amount_cents)).group_by(
                    postings.c.currency
                )
            ).fetchall()
            books = balances(conn)
        assert {i: r.status for i, r in stored.items()} == {
            i: v.state for i, v in self.vouchers.items()
        }
        entries: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for voucher_id, kind, entry in closing:
            entries[voucher_id].append((kind, entry))
        for voucher_id, row in stored.items():
            found = entries.get(voucher_id, [])
            if row.status == "issued":
                assert found == [], voucher_id
                continue
            assert len(found) == 1, (voucher_id, found)  # closed exactly once
            kind, entry = found[0]
            assert CLOSING[kind] == row.status, voucher_id
            assert row.close_entry_id == entry, voucher_id
        assert all(int(total) == 0 for _, total in totals), totals  # the books balance
        self._money_is_conserved(books)

    @invariant()
    def reconcile_passes(self) -> None:
        if not self.url:
            return
        failed = [c for c in reconcile(self.run, self.url) if not c.passed]
        assert not failed, failed

    def _money_is_conserved(self, books: dict[str, Any]) -> None:
        by_kind: dict[str, int] = defaultdict(int)
        wallets: dict[str, int] = {}
        for code, (kind, cents) in books.items():
            by_kind[kind] += cents
            if kind == "wallet":
                wallets[code] = cents
        funded = -by_kind["external"]
        assert by_kind["fund"] + by_kind["liability"] + by_kind["wallet"] == funded
        issued = sum(v.amount for v in self.vouchers.values() if v.state == "issued")
        assert by_kind["liability"] == issued
        redeemed = sum(v.amount for v in self.vouchers.values() if v.state == "redeemed")
        assert by_kind["wallet"] == redeemed
        assert all(cents >= 0 for cents in wallets.values())


@pytest.fixture(scope="module")
def distributed(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small run approved and distributed once, into an SQLite ledger to copy."""
    path = tmp_path_factory.mktemp("vouchers") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    approve_twice(small_run, url)
    distribute(small_run, url, batch_size=200)
    connect(url).dispose()  # the WAL checkpointed: a copy of the file is the whole ledger
    return path


def test_the_voucher_machine(distributed: Path, small_run: Path, tmp_path: Path) -> None:
    SEEN.clear()
    VoucherMachine.template, VoucherMachine.run, VoucherMachine.folder = (
        distributed,
        small_run,
        tmp_path,
    )
    run_state_machine_as_test(
        VoucherMachine,
        settings=settings(
            max_examples=8,  # reconcile after every step is most of the time: ~0.15 s
            stateful_step_count=15,
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    wanted = {"redeemed", "redeemed again", "revoked", "expired", "refused: VoucherNotFound"}
    assert not wanted - set(SEEN), sorted(SEEN.items())
