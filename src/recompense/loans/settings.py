"""The loan fund's ``RECOMPENSE_LOANS_*`` variables, declared once.

Read where a process starts: the ``loans`` commands (the keys) and the web service (the
loan desk's database role and policy, when the app is created). The keys' format and
rotation are :mod:`recompense.loans.crypto`'s; :meth:`LoanDeskSettings.keyring` checks
them there, so a malformed key is a :class:`~recompense.loans.errors.LoanKeyError`
(exit 2) naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from recompense.loans.crypto import ACTIVE_ENV, KEYS_ENV, Keyring
from recompense.loans.errors import LoanKeyError
from recompense.loans.policy import DEFAULT_POLICY
from recompense.settings import RecompenseSettings


class LoanDeskSettings(RecompenseSettings):
    """The loan desk's keys, database role and policy file."""

    error: ClassVar[type[LoanKeyError]] = LoanKeyError
    process: ClassVar[str] = "`loans` commands, `serve`"

    loans_keys: str | None = Field(
        None,
        repr=False,
        description="`ID:BASE64KEY` pairs (32-byte keys) that encrypt the loan fund's "
        "sensitive fields (`recompense loans new-key`)",
        json_schema_extra={"kind": "secret"},
    )
    loans_active_key: str | None = Field(
        None, description="the key id new writes use (default: the first listed)"
    )
    loans_db_url: str | None = Field(
        None,
        description="the loan desk's database (on PostgreSQL, the role row-level security "
        "applies to; unset: the service's `RECOMPENSE_DB_URL`)",
        json_schema_extra={"kind": "URL"},
    )
    loans_policy: Path = Field(
        DEFAULT_POLICY,
        description="the loan programme's policy file (TOML)",
        json_schema_extra={"kind": "path"},
    )

    def keyring(self) -> Keyring:
        """The keys, checked (:class:`~recompense.loans.errors.LoanKeyError` if unset)."""
        env = {KEYS_ENV: self.loans_keys or "", ACTIVE_ENV: self.loans_active_key or ""}
        return Keyring.from_env(env)
