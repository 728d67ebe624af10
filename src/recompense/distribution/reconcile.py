"""Prove the books: the ledger against the run, and the journal against itself.

Each check returns a :class:`Check` (name, passed, detail with the numbers), so the CLI
can show all of them and exit non-zero if any fails. Checks read only; they never fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, or_, select, text

from recompense.ledger.db import connect, require_schema
from recompense.ledger.journal import balances, fund_code, liability_code
from recompense.ledger.schema import journal_entries, notifications, postings, programs, vouchers
from recompense.money import format_usd
from recompense.runs import (
    is_amendment,
    ledger_program_id,
    read_allocations,
    read_manifest,
    read_payable,
    run_fingerprint,
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


def reconcile(run: Path, url: str) -> list[Check]:
    """Every check of the ledger at ``url`` against ``run`` (a base run or an amendment).

    An amendment's own vouchers are checked against its top-ups, and — for it and for a
    base run alike — every user's vouchers across the chain up to this run (the base
    programme and its amendments) against their cumulative amount in the run's
    allocations: base + amendments = cumulative entitlements.
    """
    manifest = read_manifest(run)
    program_id = ledger_program_id(manifest)
    engine = connect(url)
    require_schema(engine)
    users, cents = read_payable(run)
    expected = dict(zip(users, cents, strict=True))
    allocations = read_allocations(run)
    cumulative = dict(
        zip(
            allocations["user_id"].to_pylist(),
            allocations["amount_cents"].to_pylist(),
            strict=True,
        )
    )
    with engine.connect() as conn:
        context = _Context(conn, program_id, manifest, run_fingerprint(run), expected, cumulative)
        return [check(context) for check in CHECKS]


@dataclass(frozen=True, slots=True)
class _Context:
    conn: Connection
    program_id: str
    manifest: dict[str, Any]
    fingerprint: str
    expected: dict[int, int]  # what this run issues: allocations, or an amendment's top-ups
    cumulative: dict[int, int]  # the run's allocations: each user's cumulative amount

    @property
    def want_count(self) -> int:
        return len(self.expected)

    @property
    def want_total(self) -> int:
        return sum(self.expected.values())


def _run_matches(c: _Context) -> Check:
    row = c.conn.execute(select(programs).where(programs.c.id == c.program_id)).first()
    if row is None:
        return Check("run", False, f"programme {c.program_id} has not been distributed")
    ok = row.run_fingerprint == c.fingerprint
    return Check(
        "run", ok, f"ledger run {row.run_fingerprint[:12]}…, this run {c.fingerprint[:12]}…"
    )


def _vouchers_match_allocations(c: _Context) -> Check:
    rows = c.conn.execute(
        select(vouchers.c.user_id, vouchers.c.amount_cents).where(
            vouchers.c.program_id == c.program_id
        )
    ).fetchall()
    actual = {int(u): int(a) for u, a in rows}
    missing = sorted(set(c.expected) - set(actual))
    extra = sorted(set(actual) - set(c.expected))
    wrong = sorted(u for u in set(actual) & set(c.expected) if actual[u] != c.expected[u])
    count, total = len(actual), sum(actual.values())
    want_count, want_total = c.want_count, c.want_total
    ok = not (missing or extra or wrong) and count == want_count and total == want_total
    detail = (
        f"{count:,} vouchers / {format_usd(total)} against the manifest's {want_count:,} / "
        f"{format_usd(want_total)}"
    )
    for label, users in (("missing", missing), ("unexpected", extra), ("wrong amount", wrong)):
        if users:
            detail += f"; {len(users)} {label} (e.g. user {', '.join(map(str, users[:5]))})"
    return Check("vouchers = allocations", ok, detail)


def _entries_balance(c: _Context) -> Check:
    unbalanced = c.conn.execute(
        select(postings.c.entry_id)
        .group_by(postings.c.entry_id, postings.c.currency)
        .having(func.sum(postings.c.amount_cents) != 0)
    ).fetchall()
    thin = c.conn.execute(
        select(journal_entries.c.id)
        .select_from(
            journal_entries.outerjoin(postings, postings.c.entry_id == journal_entries.c.id)
        )
        .group_by(journal_entries.c.id)
        .having(func.count(postings.c.id) < 2)
    ).fetchall()
    entries = c.conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
    ok = not unbalanced and not thin
    return Check(
        "journal balances",
        ok,
        f"{entries:,} entries; {len(unbalanced)} unbalanced, {len(thin)} with < 2 postings",
    )


def _no_negative_balances(c: _Context) -> Check:
    negative = {
        code: total
        for code, (kind, total) in balances(c.conn).items()
        if kind != "external" and total < 0
    }
    shown = ", ".join(f"{code} {format_usd(total)}" for code, total in list(negative.items())[:5])
    return Check("no negative balances", not negative, shown or "every non-external account ≥ 0")


def _liability_and_fund(c: _Context) -> Check:
    totals: dict[str, int] = {
        str(state): int(total or 0)
        for state, total in c.conn.execute(
            select(vouchers.c.status, func.sum(vouchers.c.amount_cents))
            .where(vouchers.c.program_id == c.program_id)
            .group_by(vouchers.c.status)
        )
    }
    book = balances(c.conn)
    liability = book.get(liability_code(c.program_id), ("", 0))[1]
    fund = book.get(fund_code(c.program_id), ("", 0))[1]
    outstanding = totals.get("issued", 0)
    issued_all = sum(totals.values())
    clawed = totals.get("expired", 0) + totals.get("revoked", 0)
    want_fund = c.want_total - issued_all + clawed
    ok = liability == outstanding and fund == want_fund
    detail = (
        f"liability {format_usd(liability)} vs outstanding vouchers {format_usd(outstanding)}; "
        f"fund {format_usd(fund)} vs expected {format_usd(want_fund)}"
    )
    return Check("liability and fund", ok, detail)


ISSUED_FROM_NO_ISSUE_ENTRY = text(
    """
    SELECT COUNT(*) FROM vouchers v
    LEFT JOIN journal_entries e
      ON e.id = v.issue_entry_id AND e.kind = 'issue' AND e.program_id = v.program_id
    WHERE v.program_id = :program AND e.id IS NULL
    """
)
# The subsidiary ledger: per issue entry, its liability line(s) against its vouchers.
ENTRIES_OFF_THEIR_VOUCHERS = text(
    """
    SELECT COUNT(*) FROM (
      SELECT
        (SELECT COALESCE(SUM(p.amount_cents), 0) FROM postings p
           JOIN ledger_accounts a ON a.id = p.account_id
          WHERE p.entry_id = e.id AND a.kind = 'liability') AS line,
        (SELECT COALESCE(SUM(v.amount_cents), 0) FROM vouchers v
          WHERE v.issue_entry_id = e.id) AS subledger
      FROM journal_entries e WHERE e.kind = 'issue' AND e.program_id = :program
    ) t WHERE line <> subledger
    """
)
# Closing entries are keyed ``redeem:<voucher>``, ``expire:<voucher>``, ``revoke:<voucher>``.
CLOSED_INCONSISTENTLY = text(
    """
    SELECT v.status, COUNT(*) FROM vouchers v
    LEFT JOIN (
      SELECT substr(e.idempotency_key, length(e.kind) + 2) AS voucher, COUNT(*) AS n,
             MIN(e.id) AS entry, MIN(e.kind) AS kind
      FROM journal_entries e
      WHERE e.program_id = :program AND e.kind IN ('redeem', 'expire', 'revoke')
      GROUP BY substr(e.idempotency_key, length(e.kind) + 2)
    ) c ON c.voucher = v.id
    WHERE v.program_id = :program AND (
      (v.status = 'issued' AND c.n IS NOT NULL)
      OR (v.status <> 'issued' AND (
        c.n IS NULL OR c.n <> 1 OR c.entry <> v.close_entry_id
        OR c.kind <> CASE v.status WHEN 'redeemed' THEN 'redeem'
                                   WHEN 'expired' THEN 'expire' ELSE 'revoke' END)))
    GROUP BY v.status
    """
)


def _one_state_each(c: _Context) -> Check:
    """Every voucher's state agrees with the journal: issued by an issue entry whose
    liability line its vouchers sum to, and one closing entry exactly when closed.

    Set-based (joins and one aggregate per issue entry), so it stays linear at millions
    of vouchers whatever the planner's statistics.
    """
    params = {"program": c.program_id}
    orphans = int(c.conn.execute(ISSUED_FROM_NO_ISSUE_ENTRY, params).scalar_one())
    off = int(c.conn.execute(ENTRIES_OFF_THEIR_VOUCHERS, params).scalar_one())
    bad = c.conn.execute(CLOSED_INCONSISTENTLY, params).fetchall()
    by_state: dict[str, int] = {
        str(state): int(n)
        for state, n in c.conn.execute(
            select(vouchers.c.status, func.count())
            .where(vouchers.c.program_id == c.program_id)
            .group_by(vouchers.c.status)
        )
    }
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(by_state.items()))
    inconsistent = sum(int(n) for _, n in bad)
    detail = (
        f"{states}; {inconsistent} inconsistent with their closing entries, "
        f"{orphans} without an issue entry, {off} issue entries not equal to their vouchers"
    )
    return Check("one state per voucher", not (bad or orphans or off), detail)


def _outbox_complete(c: _Context) -> Check:
    """Every voucher has its push notification (an anti-join: hashed, never per row).

    PostgreSQL hashes the outer join; SQLite, which has no index on the outbox's
    ``voucher_id`` to join through, builds one for the ``NOT IN`` list instead.
    """
    push = select(notifications.c.voucher_id).where(notifications.c.channel == "push")
    query = select(func.count()).where(vouchers.c.program_id == c.program_id)
    if c.conn.dialect.name == "postgresql":
        joined = vouchers.outerjoin(
            notifications,
            (notifications.c.voucher_id == vouchers.c.id) & (notifications.c.channel == "push"),
        )
        query = query.select_from(joined).where(notifications.c.id.is_(None))
    else:
        query = query.select_from(vouchers).where(vouchers.c.id.not_in(push))
    missing = c.conn.execute(query).scalar_one()
    return Check(
        "a notification per voucher",
        missing == 0,
        f"{missing} vouchers without an app notification",
    )


def _cumulative(c: _Context) -> Check:
    """Per user, Σ vouchers of the chain up to this run = the cumulative amount.

    The chain: the base programme and its amendments with a sequence up to this run's
    (later amendments are not this run's business). Any state counts: a redeemed,
    expired or revoked voucher was issued all the same.
    """
    if not is_amendment(c.manifest):  # one link: the same as "vouchers = allocations"
        return Check("chain = cumulative amounts", True, "a base run: no amendment to add up")
    base = str(c.manifest["program"]["id"])
    sequence = int(c.manifest["amendment"]["sequence"])
    p = programs.c
    chain = select(p.id).where(
        or_(
            p.id == base,
            (p.base_program_id == base) & (p.amendment_seq <= sequence),
        )
    )
    rows = c.conn.execute(
        select(vouchers.c.user_id, func.sum(vouchers.c.amount_cents))
        .where(vouchers.c.program_id.in_(chain))
        .group_by(vouchers.c.user_id)
    )
    issued = {int(u): int(t) for u, t in rows}
    wrong = sorted(
        u for u in set(issued) | set(c.cumulative) if issued.get(u, 0) != c.cumulative.get(u, 0)
    )
    links = sequence + 1
    detail = (
        f"{len(issued):,} users issued {format_usd(sum(issued.values()))} over {links} run(s) "
        f"against {len(c.cumulative):,} cumulative amounts / "
        f"{format_usd(sum(c.cumulative.values()))}"
    )
    if wrong:
        detail += f"; {len(wrong)} differ (e.g. user {', '.join(map(str, wrong[:5]))})"
    return Check("chain = cumulative amounts", not wrong, detail)


CHECKS: tuple[Callable[[_Context], Check], ...] = (
    _run_matches,
    _vouchers_match_allocations,
    _cumulative,
    _entries_balance,
    _no_negative_balances,
    _liability_and_fund,
    _one_state_each,
    _outbox_complete,
)
