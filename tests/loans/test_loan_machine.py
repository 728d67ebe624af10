"""The loan lifecycle as a Hypothesis state machine, on the real desk and database.

Any actor tries any transition on any application, in any order, while a clock moves
forward: apply, submit, approve (one member, or two above the four-eyes amount),
reject, withdraw, undo an approval, disburse, repay (part, all, the same payment twice),
accrue interest, write off. A model predicts each outcome — the new state, or which
refusal (not found, forbidden, wrong state, fund full, borrower limit, too much) — and
after every step the database must show:

- every application in the state the model says, and its events following the
  documented machine (:data:`recompense.loans.lifecycle.TRANSITIONS`);
- maker-checker held: each approval round that approved has enough distinct committee
  members, none of them the submitter or the account manager;
- the fund's capacity never exceeded (committed ≤ cap; per borrower ≤ its limit);
- principal outstanding never negative, zero once closed, never above the amount;
- the books balanced, and the fund's cash = cap − disbursed + principal repaid.

A small policy (a $2.5M fund, $2M per borrower, two approvers above $1M) makes the limits
bite within a few steps. SQLite for the many examples, one shorter PostgreSQL run under
row-level security. A failure prints the steps that led to it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from loan_support import (
    AM1,
    AM2,
    APP_ROLE,
    CC1,
    CC2,
    CC3,
    INSTITUTION,
    LOAN_POLICY,
    OTHER_INSTITUTION,
    REGULAR,
    VIP,
    app_url,
    random_keyring,
)
from sqlalchemy import func, select

from recompense.ledger.db import connect
from recompense.ledger.journal import fund_code
from recompense.ledger.schema import ledger_accounts, postings
from recompense.loans import (
    NewApplication,
    accrue,
    apply,
    approve,
    disburse,
    register_borrower,
    reject,
    repay,
    submit,
    undo_approval,
    withdraw,
    write_off,
)
from recompense.loans.actors import Actor
from recompense.loans.desk import Desk
from recompense.loans.errors import (
    FundExhausted,
    LoanError,
    LoanForbidden,
    LoanNotFound,
    TransitionError,
)
from recompense.loans.fund import committed_cents
from recompense.loans.lifecycle import TRANSITIONS
from recompense.loans.policy import load_loan_policy
from recompense.loans.schema import loan_applications, loan_approvals, loan_events
from stateful import Databases

CAP, PER_BORROWER, FOUR_EYES = 250_000_000, 200_000_000, 100_000_000  # cents
AUDITOR = Actor("auditor", "aud-1")
ACTORS = (AM1, AM2, CC1, CC2, CC3, AUDITOR)
COMMITTEE = (CC1, CC2, CC3)
MANAGERS = {INSTITUTION: AM1.id, VIP: AM1.id, REGULAR: AM1.id, OTHER_INSTITUTION: AM2.id}
AMOUNTS = (1_000_000, 50_000_000, 100_000_000, 150_000_000, 200_000_000)
TERMS = ((30, "bullet"), (90, "instalments"), (360, "instalments"))
T0 = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)
VERDICTS = st.sampled_from(("approve",) * 5 + ("reject", "withdraw"))
HAPPY = {"draft": "submit", "submitted": "approve", "approved": "disburse", "active": "repay"}
PICK = st.integers(0, 7)  # which of the applications in the state a rule needs
SEEN: Counter[str] = Counter()  # outcomes over every example: the machine's coverage


@dataclass
class Loan:
    """What the model knows of one application."""

    borrower: int
    manager: str
    amount: int
    state: str = "draft"
    submitter: str | None = None
    votes: set[str] = field(default_factory=set)
    principal: int = 0  # outstanding, as last read back from a successful step

    @property
    def needed(self) -> int:
        return 2 if self.amount > FOUR_EYES else 1


class LoanMachine(RuleBasedStateMachine):
    databases: Databases
    policy_path: Path

    applications = Bundle("applications")

    def __init__(self) -> None:
        super().__init__()
        self.url = self.owner_url = ""
        self.desk: Desk
        self.now = T0
        self.loans: dict[str, Loan] = {}
        self.payments = 0

    @initialize()
    def open_desk(self) -> None:
        url = self.owner_url = self.databases.fresh()
        if url.startswith("postgresql"):
            from recompense.loans.rls import grant_app_role

            grant_app_role(url, APP_ROLE, create=True)
            url = app_url(url)
        self.url = url
        self.desk = Desk(url, load_loan_policy(self.policy_path), random_keyring("k1"))
        for borrower, tier in ((INSTITUTION, "institutional"), (VIP, "vip"), (REGULAR, "regular")):
            register_borrower(self.desk, CC1, borrower, tier, AM1.id)
        register_borrower(self.desk, CC1, OTHER_INSTITUTION, "institutional", AM2.id)

    def teardown(self) -> None:
        for url in {self.url, self.owner_url} - {""}:
            self.databases.release(url)

    # -- transitions -------------------------------------------------------------------

    @rule(
        target=applications,
        borrower=st.sampled_from((INSTITUTION, VIP, OTHER_INSTITUTION) * 2 + (REGULAR,)),
        intruder=st.sampled_from((None, None, None, AM2, CC1)),
        amount=st.sampled_from(AMOUNTS),
        term=st.sampled_from(TERMS),
    )
    def apply_for(
        self, borrower: int, intruder: Actor | None, amount: int, term: tuple[int, str]
    ) -> object:
        """The borrower's manager applies (or someone else tries to)."""
        manager = intruder or (AM1 if MANAGERS[borrower] == AM1.id else AM2)
        expected: type[Exception] | None = None
        if manager.role != "account_manager" or MANAGERS[borrower] != manager.id:
            expected = LoanForbidden
        elif borrower == REGULAR:
            expected = LoanError  # a regular user's tier cannot borrow from this fund
        new = NewApplication(borrower, amount, term[0], term[1], "FY2024 audited", "1.00", "")
        app_id = self._expect(expected, lambda: apply(self.desk, manager, new, now=self.now))
        if app_id is None:
            return multiple()
        self.loans[app_id] = Loan(borrower, MANAGERS[borrower], amount)
        return app_id

    @precondition(lambda self: any(loan.state in HAPPY for loan in self.loans.values()))
    @rule(pick=PICK, member=st.sampled_from(COMMITTEE))
    def progress(self, pick: int, member: Actor) -> None:
        """The next step of an open application's happy path, by whoever may take it."""
        open_ = [app for app, loan in self.loans.items() if loan.state in HAPPY]
        app = open_[pick % len(open_)]
        action = HAPPY[self.loans[app].state]
        if action == "submit":
            self._submit(app, self._manager(app))
        elif action == "repay":
            self._repay_part(app, self._manager(app), 5_000_000)
        else:
            getattr(self, f"_{action}")(app, member)

    @precondition(lambda self: self._some("draft"))
    @rule(pick=PICK)
    def submit(self, pick: int) -> None:
        app = self._pick("draft", pick)
        self._submit(app, self._manager(app))

    @precondition(lambda self: self._some("submitted"))
    @rule(pick=PICK, member=st.sampled_from(COMMITTEE), verdict=VERDICTS)
    def decide(self, pick: int, member: Actor, verdict: str) -> None:
        """A committee member approves or rejects, or the manager withdraws."""
        app = self._pick("submitted", pick)
        if verdict == "withdraw":
            self._withdraw(app, self._manager(app))
        else:
            getattr(self, f"_{verdict}")(app, member)

    @precondition(lambda self: self._some("approved"))
    @rule(pick=PICK, member=st.sampled_from(COMMITTEE))
    def undo_approval(self, pick: int, member: Actor) -> None:
        self._undo_approval(self._pick("approved", pick), member)

    @precondition(lambda self: self._some("approved"))
    @rule(pick=PICK, member=st.sampled_from(COMMITTEE))
    def disburse(self, pick: int, member: Actor) -> None:
        self._disburse(self._pick("approved", pick), member)

    @precondition(lambda self: self._some("active"))
    @rule(pick=PICK, member=st.sampled_from(COMMITTEE))
    def write_off(self, pick: int, member: Actor) -> None:
        self._write_off(self._pick("active", pick), member)

    @precondition(lambda self: self._some("active"))
    @rule(pick=PICK, committee=st.booleans(), cents=st.sampled_from((1, 5_000_000)))
    def repay_part(self, pick: int, committee: bool, cents: int) -> None:
        app = self._pick("active", pick)
        self._repay_part(app, CC2 if committee else self._manager(app), cents)

    @rule(
        app=applications,
        actor=st.sampled_from(ACTORS),
        action=st.sampled_from(sorted(TRANSITIONS)),
    )
    def anyone_tries(self, app: str, actor: Actor, action: str) -> None:
        """Any actor, any transition, any application: the model says what must happen."""
        if action == "repay":
            self._repay_part(app, actor, 1)
        else:
            getattr(self, f"_{action}")(app, actor)

    # -- one function per transition, for any actor ------------------------------------

    def _submit(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "submit")
        if self._expect(expected, lambda: submit(self.desk, actor, app, "file", now=self.now)):
            assert loan is not None
            loan.state, loan.submitter = "submitted", actor.id

    def _approve(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "approve")
        if expected is None and loan is not None:
            expected = self._approval_refusal(loan, actor)
        done = self._expect(expected, lambda: approve(self.desk, actor, app, "ok", now=self.now))
        if done is None or loan is None:
            return
        loan.votes.add(actor.id)
        assert done == ("approved" if len(loan.votes) >= loan.needed else "submitted")
        loan.state = done

    def _reject(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "reject")
        if self._expect(expected, lambda: reject(self.desk, actor, app, "no", now=self.now)):
            assert loan is not None
            loan.state = "rejected"

    def _withdraw(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "withdraw")
        if self._expect(expected, lambda: withdraw(self.desk, actor, app, "n/a", now=self.now)):
            assert loan is not None
            loan.state = "withdrawn"

    def _undo_approval(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "undo_approval")
        done = self._expect(
            expected, lambda: undo_approval(self.desk, actor, app, "redo", now=self.now)
        )
        if done is not None and loan is not None:
            loan.state, loan.votes = "submitted", set()  # a new round: votes start over

    def _disburse(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "disburse")
        if self._expect(expected, lambda: disburse(self.desk, actor, app, "paid", now=self.now)):
            assert loan is not None
            loan.state, loan.principal = "active", loan.amount

    def _write_off(self, app: str, actor: Actor) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "write_off")
        if self._expect(expected, lambda: write_off(self.desk, actor, app, "gone", now=self.now)):
            assert loan is not None
            SEEN["done: written_off"] += 1
            loan.state, loan.principal = "written_off", 0

    def _repay_part(self, app: str, actor: Actor, cents: int) -> None:
        loan = self.loans.get(app)
        expected = self._guard(loan, actor, "repay")
        self.payments += 1
        reference = f"pay-{self.payments}"
        call = lambda: repay(self.desk, actor, app, cents, reference, now=self.now)  # noqa: E731
        if expected is not None or loan is None:
            self._expect(expected, call)
            return
        try:
            paid = call()
        except LoanError as exc:
            assert exc.code == "repayment_too_much", exc  # only when less is owed
            return
        SEEN["done: repay"] += 1
        self._after_payment(app, loan, paid.state, paid.principal_cents)
        if loan.state == "active":  # the same payment recorded twice changes nothing
            before = self._snapshot()
            assert repay(self.desk, actor, app, cents, reference, now=self.now).duplicate
            assert self._snapshot() == before

    def _some(self, state: str) -> bool:
        return any(loan.state == state for loan in self.loans.values())

    def _pick(self, state: str, pick: int) -> str:
        found = [app for app, loan in self.loans.items() if loan.state == state]  # by age
        return found[pick % len(found)]

    def _manager(self, app: str) -> Actor:
        loan = self.loans.get(app)
        return AM2 if loan is not None and loan.manager == AM2.id else AM1

    @precondition(lambda self: self._some("active"))
    @rule(pick=PICK)
    def repay_all(self, pick: int) -> None:
        app = self._pick("active", pick)
        loan = self.loans[app]
        accrue(self.desk, CC1, self.now.date(), now=self.now)
        row = self._row(app)
        owed = (
            row.fees_charged_cents
            - row.fees_paid_cents
            + row.interest_accrued_cents
            - row.interest_paid_cents
            + row.principal_outstanding_cents
        )
        self.payments += 1
        paid = repay(self.desk, AM1 if loan.manager == AM1.id else AM2, app, owed,
                     f"pay-{self.payments}", now=self.now)  # fmt: skip
        assert paid.state == "repaid"
        SEEN["done: repay all"] += 1
        self._after_payment(app, loan, paid.state, paid.principal_cents)

    @rule(actor=st.sampled_from((CC1, AM1)))
    def accrue(self, actor: Actor) -> None:
        before = self._accrued()
        expected = None if actor.role == "credit_committee" else LoanForbidden
        self._expect(expected, lambda: accrue(self.desk, actor, self.now.date(), now=self.now))
        after = self._accrued()
        assert all(after[app] >= interest for app, interest in before.items())

    @rule(days=st.sampled_from((1, 7, 31, 95)))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)

    # -- invariants: one read of the database after every step ------------------------

    @invariant()
    def the_database_agrees(self) -> None:
        if not self.url:
            return
        with connect(self.owner_url).connect() as conn:  # RLS: the owner reads it all
            rows = conn.execute(select(loan_applications)).fetchall()
            votes = conn.execute(select(loan_approvals)).fetchall()
            events = conn.execute(select(loan_events).order_by(loan_events.c.id)).fetchall()
            committed = {
                borrower: committed_cents(conn, self.desk.policy.fund_id, borrower)
                for borrower in MANAGERS
            }
            totals = conn.execute(
                select(postings.c.currency, func.sum(postings.c.amount_cents)).group_by(
                    postings.c.currency
                )
            ).fetchall()
            fund = conn.execute(
                select(func.coalesce(func.sum(postings.c.amount_cents), 0))
                .select_from(postings.join(ledger_accounts))
                .where(ledger_accounts.c.code == fund_code(self.desk.policy.fund_id))
            ).scalar_one()
        self._states_match_the_model(rows)
        self._events_follow_the_machine(events)
        self._maker_checker_held(rows, votes)
        assert sum(committed.values()) <= CAP  # the fund's capacity
        assert all(own <= PER_BORROWER for own in committed.values()), committed
        assert all(int(total) == 0 for _, total in totals), totals  # the books balance
        if totals:  # the fund exists once a loan was approved
            disbursed = sum(r.amount_cents for r in rows if r.disbursed_on is not None)
            repaid = sum(r.principal_repaid_cents for r in rows)
            assert int(fund) == CAP - disbursed + repaid

    def _states_match_the_model(self, rows: list[Any]) -> None:
        assert {r.id: r.state for r in rows} == {a: loan.state for a, loan in self.loans.items()}
        for r in rows:
            assert r.principal_outstanding_cents >= 0, r.id
            assert r.principal_outstanding_cents <= r.amount_cents, r.id
            if r.state != "active":
                assert r.principal_outstanding_cents == 0, (r.id, r.state)
            else:
                assert r.principal_outstanding_cents == self.loans[r.id].principal, r.id

    def _events_follow_the_machine(self, events: list[Any]) -> None:
        last: dict[str, str] = {}
        for e in events:
            if e.action == "create":
                assert e.application_id not in last
                assert e.to_state == "draft"
            else:
                rule_ = TRANSITIONS[e.action]
                assert e.from_state == last[e.application_id], e
                assert e.from_state in rule_.sources, e
                assert e.actor_role in rule_.roles, e
                allowed = {rule_.target, *({"submitted"} if e.action == "approve" else ())}
                allowed |= {"repaid"} if e.action == "repay" else set()
                assert e.to_state in allowed, e
            last[e.application_id] = e.to_state
        assert last == {a: loan.state for a, loan in self.loans.items()}

    @staticmethod
    def _maker_checker_held(rows: list[Any], votes: list[Any]) -> None:
        by_round: dict[tuple[str, int], list[str]] = {}
        for v in votes:
            by_round.setdefault((v.application_id, v.round), []).append(v.member_id)
        committee = {member.id for member in COMMITTEE}
        for members in by_round.values():
            assert len(members) == len(set(members)), members  # distinct members
            assert set(members) <= committee, members
        for r in rows:
            if r.state in ("approved", "active", "repaid", "written_off"):
                members = by_round.get((r.id, r.approval_round), [])
                assert len(members) >= (2 if r.amount_cents > FOUR_EYES else 1), r.id
                assert r.submitted_by not in members, r.id
                assert r.account_manager_id not in members, r.id

    # -- the model's predictions -------------------------------------------------------

    def _guard(self, loan: Loan | None, actor: Actor, action: str) -> type[Exception] | None:
        """What :func:`recompense.loans.lifecycle.guard` must answer, in its order."""
        rule_ = TRANSITIONS[action]
        if loan is None or not actor.can_see(loan.manager):
            return LoanNotFound
        if actor.role not in rule_.roles:
            return LoanForbidden
        if loan.state not in rule_.sources:
            return TransitionError
        return None

    def _approval_refusal(self, loan: Loan, actor: Actor) -> type[Exception] | None:
        if actor.id in (loan.submitter, loan.manager) or actor.id in loan.votes:
            return LoanForbidden
        if len(loan.votes) + 1 < loan.needed:
            return None
        committed = sum(self._committed(other) for other in self.loans.values())
        if committed + loan.amount > CAP:
            return FundExhausted
        own = sum(self._committed(o) for o in self.loans.values() if o.borrower == loan.borrower)
        if own + loan.amount > PER_BORROWER:
            return LoanError
        return None

    @staticmethod
    def _committed(loan: Loan) -> int:
        return {"approved": loan.amount, "active": loan.principal}.get(loan.state, 0)

    def _expect(self, expected: type[Exception] | None, call: object) -> str | None:
        """Run ``call``; it must raise exactly ``expected`` (nothing changed) or succeed."""
        assert callable(call)
        if expected is None:
            result = call()
            outcome = result if isinstance(result, str) and len(result) < 20 else "ok"
            SEEN[f"done: {outcome}"] += 1
            event(f"done: {outcome}")
            return str(result) if result is not None else ""
        before = self._snapshot()
        with pytest.raises(LoanError) as raised:
            call()
        SEEN[f"refused: {expected.__name__}"] += 1
        event(f"refused: {expected.__name__}")
        assert type(raised.value) is expected, (expected, raised.value)
        assert self._snapshot() == before  # a refusal changes nothing
        return None

    def _after_payment(self, app: str, loan: Loan, state: str, principal: int) -> None:
        loan.principal -= principal
        assert loan.principal >= 0
        assert (state == "repaid") == (loan.principal == 0)
        loan.state = state
        assert self._row(app).principal_outstanding_cents == loan.principal

    def _row(self, app: str):  # type: ignore[no-untyped-def]
        with connect(self.owner_url).connect() as conn:  # RLS: the owner reads it all
            return conn.execute(
                select(loan_applications).where(loan_applications.c.id == app)
            ).one()

    def _accrued(self) -> dict[str, int]:
        with connect(self.owner_url).connect() as conn:  # RLS: the owner reads it all
            rows = conn.execute(select(loan_applications)).fetchall()
        return {r.id: r.interest_accrued_cents for r in rows}

    def _snapshot(self) -> tuple[object, ...]:
        with connect(self.owner_url).connect() as conn:  # RLS: the owner reads it all
            rows = conn.execute(
                select(loan_applications.c.id, loan_applications.c.state).order_by("id")
            ).fetchall()
            counts = Counter(conn.execute(select(loan_approvals.c.application_id)).scalars())
            events = conn.execute(select(func.count()).select_from(loan_events)).scalar_one()
        return tuple(rows), tuple(sorted(counts.items())), events


def small_policy(folder: Path) -> Path:
    """The programme's loan policy with a $2.5M fund, $2M per borrower, four eyes above $1M."""
    text = LOAN_POLICY.read_text(encoding="utf-8")
    for old, new in (
        ('cap_usd = "100000000.00"', f'cap_usd = "{CAP / 100:.2f}"'),
        (
            'max_outstanding_usd = "10000000.00"',
            f'max_outstanding_usd = "{PER_BORROWER / 100:.2f}"',
        ),
        ('four_eyes_above_usd = "1000000.00"', f'four_eyes_above_usd = "{FOUR_EYES / 100:.2f}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "loans-small.toml"
    path.write_text(text, encoding="utf-8")
    return path


RUNS = {"sqlite": (20, 40), "postgresql": (3, 40)}  # (examples, steps per example)


@pytest.mark.parametrize("backend", sorted(RUNS))
def test_the_loan_machine(backend: str, tmp_path: Path) -> None:
    examples, steps = RUNS[backend]
    SEEN.clear()
    databases = Databases(backend, tmp_path)
    LoanMachine.databases, LoanMachine.policy_path = databases, small_policy(tmp_path)
    try:
        run_state_machine_as_test(
            LoanMachine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                derandomize=True,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        databases.close()
    if backend == "sqlite":  # the examples went deep enough to mean something
        missing = {f"done: {state}" for state in ("submitted", "approved", "active")} | {
            f"refused: {error.__name__}" for error in (LoanNotFound, LoanForbidden)
        }
        assert not missing - set(SEEN), sorted(SEEN.items())
