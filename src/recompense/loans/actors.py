"""Who is acting: a role and an id, passed explicitly (``--as credit_committee:carol``).

The roles are the web service's: ``user``, ``ops``, ``account_manager``,
``credit_committee``, ``auditor``. Only three may ever see a loan application: the
borrower's assigned account manager, credit-committee members, and auditors (read-only).
Everyone else is told "not found" — the same answer as for an id that does not exist —
so application ids cannot be probed. The same rule is enforced again by PostgreSQL
row-level security (see the loans migration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recompense.loans.errors import LoanError

Role = Literal["user", "ops", "account_manager", "credit_committee", "auditor"]
ROLES: tuple[Role, ...] = ("user", "ops", "account_manager", "credit_committee", "auditor")
ACCOUNT_MANAGER: Role = "account_manager"
COMMITTEE: Role = "credit_committee"
AUDITOR: Role = "auditor"
OPS: Role = "ops"


# A role in a sentence ("an account manager cannot approve loans").
ROLE_PHRASES: dict[str, str] = {
    "user": "a user",
    "ops": "an operations officer",
    "account_manager": "an account manager",
    "credit_committee": "a credit committee member",
    "auditor": "an auditor",
}


@dataclass(frozen=True, slots=True)
class Actor:
    role: Role
    id: str

    def __str__(self) -> str:
        return f"{self.role}:{self.id}"

    def can_see(self, account_manager_id: str) -> bool:
        """May this actor see an application whose borrower has this account manager?"""
        if self.role in (COMMITTEE, AUDITOR):
            return True
        return self.role == ACCOUNT_MANAGER and self.id == account_manager_id


def parse_actor(text: str) -> Actor:
    """``ROLE:ID`` → :class:`Actor`; :class:`LoanError` names what is wrong."""
    role, sep, ident = text.partition(":")
    if not sep or not ident.strip():
        raise LoanError(f"--as {text!r}: expected ROLE:ID, e.g. credit_committee:carol")
    if role not in ROLES:
        raise LoanError(f"--as {text!r}: unknown role {role!r}; one of {', '.join(ROLES)}")
    if any(ord(ch) < 32 for ch in ident) or len(ident) > 100:
        raise LoanError(f"--as {text!r}: the id must be 1-100 printable characters")
    return Actor(role, ident.strip())
