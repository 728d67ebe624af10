"""The loan fund's journal entries (``recompense.ledger.journal.post``).

Same sign convention as the vouchers: a posting adds to its account's balance; external
accounts may go negative, every other account stays ≥ 0. Accounts::

    program:FUND:fund                     the fund's cash (kind fund)
    loan:ID:principal / :interest / :fees what the borrower owes (kind receivable)
    program:FUND:income                   interest and fees received (kind income)
    external:loans:FUND:interest-charged  where accrued interest and fees come from
    external:loans:FUND:fees-charged
    external:loans:FUND:written-off       where written-off receivables go

Entries (one per action, idempotency key in brackets)::

    fund            treasury −cap → fund +cap                         [loans:FUND:fund]
    loan-disburse   fund −P → loan principal +P                        [loan:ID:disburse]
    loan-accrue     interest-charged −i → loan interest +i             [loan:ID:accrue:DATE]
    loan-fee        fees-charged −f → loan fees +f                     [loan:ID:late-fee:N]
    loan-repay      loan fees −f, interest −i, principal −p
                    → income +(f+i), fund +p                           [loan:ID:repay:N]
    loan-write-off  loan receivables −(p+i+f) → written-off +(p+i+f)  [loan:ID:write-off]

So the fund's cash is always ``cap − disbursed + principal repaid``; interest never
enters the fund's capacity.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from recompense.ledger.journal import Posting, ensure_account, fund_code, post, treasury_code
from recompense.loans.policy import LoanPolicy


def post_fund(conn: Connection, policy: LoanPolicy, now: datetime) -> str:
    currency = policy.fund.currency
    treasury = ensure_account(conn, treasury_code(currency), "external", currency, now)
    fund = _fund(conn, policy, now)
    lines = [
        Posting(treasury, -policy.cap_cents, currency),
        Posting(fund, policy.cap_cents, currency),
    ]
    return post(
        conn,
        program_id=policy.fund_id,
        kind="fund",
        idempotency_key=f"loans:{policy.fund_id}:fund",
        lines=lines,
        now=now,
        memo=f"loan fund {policy.fund_id}: cap",
    )


def post_disburse(
    conn: Connection, policy: LoanPolicy, loan_id: str, amount_cents: int, now: datetime
) -> str:
    currency = policy.fund.currency
    lines = [
        Posting(_fund(conn, policy, now), -amount_cents, currency),
        Posting(_receivable(conn, policy, loan_id, "principal", now), amount_cents, currency),
    ]
    return _post(conn, policy, "loan-disburse", f"loan:{loan_id}:disburse", lines, now)


def post_charge(
    conn: Connection,
    policy: LoanPolicy,
    loan_id: str,
    what: str,
    amount_cents: int,
    key: str,
    now: datetime,
) -> str:
    """Accrued interest (``what='interest'``) or a fee (``what='fees'``) becomes owed."""
    currency = policy.fund.currency
    source = _external(
        conn, policy, "interest-charged" if what == "interest" else "fees-charged", now
    )
    lines = [
        Posting(source, -amount_cents, currency),
        Posting(_receivable(conn, policy, loan_id, what, now), amount_cents, currency),
    ]
    kind = "loan-accrue" if what == "interest" else "loan-fee"
    return _post(conn, policy, kind, key, lines, now)


def post_repay(
    conn: Connection,
    policy: LoanPolicy,
    loan_id: str,
    split: tuple[int, int, int],
    key: str,
    now: datetime,
) -> str:
    fees, interest, principal = split
    currency = policy.fund.currency
    lines = [
        Posting(_receivable(conn, policy, loan_id, what, now), -amount, currency)
        for what, amount in (("fees", fees), ("interest", interest), ("principal", principal))
        if amount
    ]
    if fees + interest:
        lines.append(Posting(_income(conn, policy, now), fees + interest, currency))
    if principal:
        lines.append(Posting(_fund(conn, policy, now), principal, currency))
    return _post(conn, policy, "loan-repay", key, lines, now)


def post_write_off(
    conn: Connection, policy: LoanPolicy, loan_id: str, split: tuple[int, int, int], now: datetime
) -> str:
    fees, interest, principal = split
    currency = policy.fund.currency
    lines = [
        Posting(_receivable(conn, policy, loan_id, what, now), -amount, currency)
        for what, amount in (("fees", fees), ("interest", interest), ("principal", principal))
        if amount
    ]
    lines.append(Posting(_external(conn, policy, "written-off", now), sum(split), currency))
    return _post(conn, policy, "loan-write-off", f"loan:{loan_id}:write-off", lines, now)


def _post(
    conn: Connection,
    policy: LoanPolicy,
    kind: str,
    key: str,
    lines: list[Posting],
    now: datetime,
) -> str:
    return post(
        conn, program_id=policy.fund_id, kind=kind, idempotency_key=key, lines=lines, now=now
    )


def _fund(conn: Connection, policy: LoanPolicy, now: datetime) -> int:
    code = fund_code(policy.fund_id)
    return ensure_account(conn, code, "fund", policy.fund.currency, now, program_id=policy.fund_id)


def _income(conn: Connection, policy: LoanPolicy, now: datetime) -> int:
    code = f"program:{policy.fund_id}:income"
    return ensure_account(
        conn, code, "income", policy.fund.currency, now, program_id=policy.fund_id
    )


def _external(conn: Connection, policy: LoanPolicy, name: str, now: datetime) -> int:
    code = f"external:loans:{policy.fund_id}:{name}"
    return ensure_account(conn, code, "external", policy.fund.currency, now)


def _receivable(
    conn: Connection, policy: LoanPolicy, loan_id: str, what: str, now: datetime
) -> int:
    code = f"loan:{loan_id}:{what}"
    return ensure_account(
        conn, code, "receivable", policy.fund.currency, now, program_id=policy.fund_id
    )
