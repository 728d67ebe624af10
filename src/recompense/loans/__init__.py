"""The $100M low-interest loan fund for VIP and institutional users.

Map of the package::

    policy.py     the loan policy file (cap, tiers, terms, APR tiers, decision target)
    actors.py     who is acting (ROLE:ID) and who may see an application
    crypto.py     AES-GCM encryption at rest with key ids (rotation)
    schema.py     the tables; the loans migration creates them (0003)
    desk.py       database + policy + keys; the unit of work (RLS settings, visibility)
    lifecycle.py  draft → submitted → approved/rejected/withdrawn → active → repaid/written off
    fund.py       the cap, the fund lock, the dashboard
    schedule.py   schedule and Actual/365F interest arithmetic (pure; the rounding rule)
    servicing.py  accrual, late fees, repayments (fees → interest → principal), write-off
    ledger.py     the journal entries of disbursements, accruals, repayments, write-offs
    views.py      show / list (access-logged), decision clock, access log, key rotation
    rls.py        the PostgreSQL application role that row-level security applies to
"""

from recompense.loans.actors import Actor, parse_actor
from recompense.loans.crypto import Keyring
from recompense.loans.desk import Desk, open_desk
from recompense.loans.lifecycle import (
    NewApplication,
    apply,
    approve,
    disburse,
    register_borrower,
    reject,
    submit,
    undo_approval,
    withdraw,
)
from recompense.loans.policy import LoanPolicy, load_loan_policy
from recompense.loans.servicing import accrue, repay, write_off
from recompense.loans.views import access_log, due_soon, fund_figures, list_applications, show

__all__ = [
    "Actor",
    "Desk",
    "Keyring",
    "LoanPolicy",
    "NewApplication",
    "access_log",
    "accrue",
    "apply",
    "approve",
    "disburse",
    "due_soon",
    "fund_figures",
    "list_applications",
    "load_loan_policy",
    "open_desk",
    "parse_actor",
    "register_borrower",
    "reject",
    "repay",
    "show",
    "submit",
    "undo_approval",
    "withdraw",
    "write_off",
]
