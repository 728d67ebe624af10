"""The cases desk: database, keys and clock; who is acting; the unit of work; a case's policy.

A unit of work (:func:`unit`) is one transaction: ``BEGIN IMMEDIATE`` on SQLite (one
writer at a time), READ COMMITTED with ``SELECT … FOR UPDATE`` on the case row on
PostgreSQL (:func:`visible_case` with ``lock=True``), and every state change a
conditional ``UPDATE … WHERE state = … AND version = …`` (:func:`move`), so two
officers acting at once cannot both win.

Actors are ``user:<id>`` (the user, on their own cases only), ``ops:<name>`` (operations:
work the queue, decide) and ``auditor:<name>`` (read, logged; never act). A user asking
for another user's case is told "not found" — the answer for an id that does not exist —
so case ids cannot be probed.

Keys (``RECOMPENSE_CASES_KEYS`` / ``RECOMPENSE_CASES_ACTIVE_KEY``, the loan fund's format,
:mod:`recompense.loans.crypto`) encrypt free text and evidence; each ciphertext is bound
to ``table:column:row`` so a value copied to another row does not decrypt. They are
:class:`CasesSettings`, read once when a desk is opened (the CLI command, the server's
start-up).

A case's policy comes from the run its programme was distributed from (the ``programs``
row's ``run_path`` → manifest ``policy.parameters``): the decision target, the four-eyes
amount and the maximum payout. Runs from before cases existed lack ``cases``: the
defaults (72 hours, $1,000.00) apply.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from sqlalchemy import Connection, Engine, Row, select

from recompense import audit
from recompense.cases.errors import CaseConflict, CaseError, CaseForbidden, CaseNotFound
from recompense.cases.schema import case_events, cases
from recompense.ledger.db import connect, require_schema
from recompense.ledger.schema import programs
from recompense.loans.crypto import Keyring
from recompense.loans.errors import LoanKeyError
from recompense.runs import read_manifest
from recompense.settings import RecompenseSettings

KEYS_ENV = "RECOMPENSE_CASES_KEYS"
ACTIVE_ENV = "RECOMPENSE_CASES_ACTIVE_KEY"
DEFAULT_TARGET_HOURS = 72
DEFAULT_FOUR_EYES_CENTS = 100_000

Role = Literal["user", "ops", "auditor"]
ROLES: tuple[Role, ...] = ("user", "ops", "auditor")
STAFF: tuple[Role, ...] = ("ops", "auditor")


class CasesSettings(RecompenseSettings):
    """The keys of users' cases (the loan fund's ``ID:BASE64KEY`` format)."""

    error: ClassVar[type[LoanKeyError]] = LoanKeyError
    process: ClassVar[str] = "`cases` commands, `serve`"

    cases_keys: str | None = Field(
        None,
        repr=False,
        description="`ID:BASE64KEY` pairs (32-byte keys) that encrypt users' cases "
        "(unset: the cases pages answer 503)",
        json_schema_extra={"kind": "secret"},
    )
    cases_active_key: str | None = Field(
        None, description="the key id new writes use (default: the first listed)"
    )

    def keyring(self) -> Keyring | None:
        """The keys, checked; None when none are set (a desk that can only list)."""
        if not (self.cases_keys or "").strip():
            return None
        env = {KEYS_ENV: self.cases_keys or "", ACTIVE_ENV: self.cases_active_key or ""}
        return Keyring.from_env(env, keys_var=KEYS_ENV, active_var=ACTIVE_ENV)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive timestamps; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Desk:
    """Where cases live. ``keyring`` None: a desk that can list but not read or write text."""

    engine: Engine
    keyring: Keyring | None = field(default=None, repr=False)
    clock: Callable[[], datetime] = utcnow

    @property
    def keys(self) -> Keyring:
        if self.keyring is None:
            raise LoanKeyError(f"{KEYS_ENV} is not set: the cases desk cannot encrypt or decrypt")
        return self.keyring

    def now(self, given: datetime | None) -> datetime:
        return as_utc(given) if given is not None else as_utc(self.clock())

    def seal(self, table: str, column: str, row_id: str, plaintext: str) -> str:
        return self.keys.encrypt(plaintext, f"{table}:{column}:{row_id}")

    def unseal(self, table: str, column: str, row_id: str, stored: str) -> str:
        return self.keys.decrypt(stored, f"{table}:{column}:{row_id}")


def open_desk(
    url: str,
    *,
    keyring: Keyring | None = None,
    clock: Callable[[], datetime] = utcnow,
    environ: Mapping[str, str] | None = None,
) -> Desk:
    """A desk on a migrated ledger database; keys from the environment unless given.

    Without ``RECOMPENSE_CASES_KEYS`` the desk still lists (the queue, the clock); reading
    or writing any text raises :class:`~recompense.loans.errors.LoanKeyError` (exit 2).
    """
    engine = connect(url)
    require_schema(engine)
    if keyring is None:
        keyring = CasesSettings.from_env(environ).keyring()
    return Desk(engine, keyring, clock)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: ``user:42``, ``ops:alice``, ``auditor:carol``."""

    role: Role
    id: str

    def __str__(self) -> str:
        return f"{self.role}:{self.id}"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    @property
    def user_id(self) -> int:
        if self.role != "user":
            raise CaseForbidden(f"{self}: not a user", code="not_a_user", role=self.role)
        return int(self.id)


def parse_actor(text: str) -> Actor:
    """``ROLE:ID`` → :class:`Actor`; :class:`CaseError` names what is wrong."""
    role, sep, ident = text.partition(":")
    ident = ident.strip()
    if not sep or not ident:
        raise CaseError(f"--as {text!r}: expected ROLE:ID, e.g. ops:alice", code="bad_actor")
    if role not in ROLES:
        raise CaseError(
            f"--as {text!r}: unknown role {role!r}; one of {', '.join(ROLES)}", code="bad_actor"
        )
    if not is_plain(ident) or len(ident) > 100 or "\n" in ident or "\t" in ident:
        raise CaseError(
            f"--as {text!r}: the id must be 1-100 printable characters", code="bad_actor"
        )
    if role == "user" and not (ident.isascii() and ident.isdigit() and int(ident) < 2**63):
        raise CaseError(f"--as {text!r}: a user id is a number", code="bad_actor")
    return Actor(role, str(int(ident)) if role == "user" else ident)


def as_actor(actor: Actor | str) -> Actor:
    return actor if isinstance(actor, Actor) else parse_actor(actor)


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """The programme's rules for its cases (integer cents, whole hours)."""

    program_id: str
    decision_target_hours: int
    four_eyes_above_cents: int
    max_payout_cents: int
    window: tuple[datetime, datetime] | None  # the incident window claims must fall in

    def decision_amount(self, claim_cents: int | None, loss_cents: int | None) -> int:
        """What the four-eyes rule compares (cents): a claim's amount; a correction's most
        it can pay, ``min(corrected loss or the max payout, max payout)``."""
        if claim_cents is not None:
            return claim_cents
        loss = self.max_payout_cents if loss_cents is None else loss_cents
        return min(loss, self.max_payout_cents)


def case_policy(conn: Connection, program_id: str) -> CasePolicy:
    """The policy of a distributed base programme; :class:`CaseNotFound` if there is none."""
    row = conn.execute(
        select(programs.c.id, programs.c.run_path, programs.c.base_program_id).where(
            programs.c.id == program_id
        )
    ).first()
    if row is None or row.base_program_id is not None:
        raise CaseNotFound(
            f"programme {program_id!r} is not in the ledger (cases are opened against a "
            "distributed programme)",
            code="no_programme",
            program=program_id,
        )
    params: dict[str, Any] = read_manifest(Path(row.run_path))["policy"]["parameters"]
    rules = params.get("cases") or {}
    window = params.get("window")
    return CasePolicy(
        program_id=program_id,
        decision_target_hours=int(rules.get("decision_target_hours", DEFAULT_TARGET_HOURS)),
        four_eyes_above_cents=int(rules.get("four_eyes_above_cents", DEFAULT_FOUR_EYES_CENTS)),
        max_payout_cents=int(params["max_payout_cents"]),
        window=(
            (as_utc(datetime.fromisoformat(window[0])), as_utc(datetime.fromisoformat(window[1])))
            if window
            else None
        ),
    )


@contextmanager
def unit(desk: Desk) -> Iterator[Connection]:
    """One transaction: everything in it commits together or not at all."""
    with desk.engine.begin() as conn:
        yield conn


def new_id() -> str:
    return str(uuid.uuid4())


def is_plain(text: str) -> bool:
    """No control characters but tab and newlines (PostgreSQL refuses NUL in text)."""
    return not any((ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 for ch in text)


def check_text(label: str, text: str, *, most: int = 4000, least: int = 1) -> str:
    """Free text from a person: ``least``..``most`` characters, no control characters."""
    if not isinstance(text, str) or not least <= len(text.strip()) <= most:
        raise CaseError(
            f"{label}: between {least} and {most} characters, please",
            code="text_length",
            field=label,
            least=least,
            most=most,
        )
    if not is_plain(text):
        raise CaseError(f"{label}: control characters are not allowed", code="text_control")
    return text.strip()


def visible_case(conn: Connection, actor: Actor, case_id: str, *, lock: bool = False) -> Row[Any]:
    """The case row if ``actor`` may see it (its user, or staff); else :class:`CaseNotFound`."""
    if not isinstance(case_id, str) or not is_plain(case_id) or len(case_id) > 36:
        raise CaseNotFound(f"case {case_id!r} not found", case=str(case_id)[:36])
    query = select(cases).where(cases.c.id == case_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or not (
        actor.is_staff or (actor.role == "user" and row.user_id == actor.user_id)
    ):
        raise CaseNotFound(f"case {case_id!r} not found", case=case_id)
    return row


def require_role(actor: Actor, roles: tuple[Role, ...], action: str) -> None:
    if actor.role not in roles:
        raise CaseForbidden(
            f"{actor}: a {actor.role} cannot {action.replace('_', ' ')} cases",
            code="role_cannot",
            role=actor.role,
            action=action,
        )


def require_state(row: Row[Any], states: tuple[str, ...], action: str) -> None:
    if row.state not in states:
        raise CaseConflict(
            f"case {row.id} is {row.state}; {action.replace('_', ' ')} needs {' or '.join(states)}",
            code="wrong_state",
            case=row.id,
            state=row.state,
            action=action,
            states=states,
        )


def move(conn: Connection, row: Row[Any], now: datetime, **values: Any) -> None:
    """The conditional update: only from the state and version the caller saw."""
    c = cases.c
    result = conn.execute(
        cases.update()
        .where(c.id == row.id, c.state == row.state, c.version == row.version)
        .values(version=row.version + 1, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise CaseConflict(
            f"case {row.id} changed meanwhile; look at it again and retry",
            code="changed_meanwhile",
            case=row.id,
        )


def record_event(
    conn: Connection,
    desk: Desk,
    actor: Actor,
    case_id: str,
    action: str,
    state_after: str,
    now: datetime,
    *,
    text: str | None = None,
    visible_to_user: bool = True,
) -> None:
    """Append who did what, when and why (the text encrypted, bound to the case)."""
    conn.execute(
        case_events.insert().values(
            case_id=case_id,
            at=now,
            actor=str(actor),
            action=action,
            state_after=state_after,
            visible_to_user=visible_to_user,
            text_enc=None if text is None else desk.seal("case_events", "text", case_id, text),
        )
    )


def record_audit(
    conn: Connection,
    actor: Actor,
    action: str,
    row: Row[Any],
    now: datetime,
    **details: Any,
) -> None:
    """The hash-chained audit event (``case.<action>``): ids, states and amounts, no text."""
    audit.record(
        conn,
        actor=str(actor),
        action=f"case.{action}",
        subject=f"case:{row.id}",
        details={
            "program_id": row.program_id,
            "user_id": row.user_id,
            "category": row.category,
            "from_state": row.state,
            **details,
        },
        at=now,
    )
