"""Sign-off before money moves: two officers approve a run before ``distribute`` touches it.

What an officer signs is the run's **fingerprint**, the SHA-256 of its ``manifest.json``
(which holds the SHA-256 of every artifact): a folder changed after approval is another
run, with no approvals. The rules, each a refusal (:mod:`recompense.ledger.errors`, exit
code 2 in the CLI):

- approvers act in role ``ops`` (:data:`APPROVER_ROLE`: the officers who run the
  programme; the four eyes come from the rules below, not from a separate role);
- nobody approves their own run: the approver's name differs from the name in the
  manifest's ``run_by`` (``ops:alice``, ``cli:alice@host`` and ``Alice`` are one person);
- one approval per person per run (``UNIQUE (fingerprint, approver)`` in the database,
  and by name here);
- a run already distributed takes no more approvals (its money has moved).

:func:`require_approvals` runs inside the transaction in which ``distribute`` registers
the programme: :data:`REQUIRED_APPROVALS` (2) approvals by different people of the
run's *current* fingerprint, or :class:`UnapprovedRunError` naming those it has. There is
no bypass. A run made before ``run_by`` existed names no runner: it can be approved by
any two officers.

:func:`review` is what an approver sees before signing: counts, money, the funnel, the
approvals so far, and the diff (:mod:`recompense.runs.diff`) against the programme's
**previous run**: the run the ledger distributed for the programme (the ``programs``
row) when that is another run; otherwise the programme's run approved most recently
(another fingerprint, read from the folder it was approved from if that folder still
holds it). Each approval is also an audit event, ``run.approve``, in its transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from recompense import audit
from recompense.ledger.db import connect, require_schema
from recompense.ledger.errors import (
    ApprovalConflict,
    ApproverForbidden,
    UnapprovedRunError,
)
from recompense.ledger.schema import programs, run_approvals
from recompense.runs.artifacts import MANIFEST
from recompense.runs.diff import DEFAULT_TOP, RunDiff, diff_runs
from recompense.runs.errors import RunFolderError
from recompense.runs.folder import (
    check_artifacts,
    is_amendment,
    ledger_program_id,
    read_manifest,
    run_fingerprint,
)

REQUIRED_APPROVALS = 2
APPROVER_ROLE = "ops"
Differ = Callable[[Path, Path], RunDiff]

__all__ = [
    "APPROVER_ROLE",
    "REQUIRED_APPROVALS",
    "Approval",
    "Baseline",
    "Differ",
    "Review",
    "RunState",
    "approvals_of",
    "approve",
    "check_approver",
    "known_runs",
    "require_approvals",
    "review",
]


@dataclass(frozen=True, slots=True)
class Approval:
    program_id: str
    fingerprint: str
    approver: str
    approved_at: datetime
    run_path: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "program_id": self.program_id,
            "fingerprint": self.fingerprint,
            "approver": self.approver,
            "approved_at": self.approved_at.isoformat(),
            "run_path": self.run_path,
        }


@dataclass(frozen=True, slots=True)
class Baseline:
    """The previous run a review is compared with, and why it is that one."""

    path: Path
    fingerprint: str
    why: Literal["distributed", "approved"]


@dataclass(frozen=True, slots=True)
class Review:
    """What an approver signs: the run, its approvals so far, and what changed."""

    run: Path
    fingerprint: str
    manifest: dict[str, Any]
    approvals: tuple[Approval, ...]
    distributed: bool
    baseline: Baseline | None
    diff: RunDiff | None

    @property
    def program_id(self) -> str:
        return ledger_program_id(self.manifest)

    @property
    def run_by(self) -> str | None:
        found = self.manifest.get("run_by")
        return str(found) if found else None

    @property
    def needed(self) -> int:
        """Approvals still missing before ``distribute`` will take the run."""
        return max(0, REQUIRED_APPROVALS - len(_people(self.approvals)))

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "run": str(self.run),
            "fingerprint": self.fingerprint,
            "program": m["program"],
            "created_at": m.get("created_at"),
            "run_by": self.run_by,
            "counts": m.get("counts"),
            "funnel": m.get("funnel"),
            "budget_cents": m.get("budget_cents"),
            "allocated_cents": m.get("allocated_cents"),
            "unallocated_cents": m.get("unallocated_cents"),
            "approvals": [a.as_dict() for a in self.approvals],
            "required_approvals": REQUIRED_APPROVALS,
            "needed": self.needed,
            "distributed": self.distributed,
            "baseline": None
            if self.baseline is None
            else {
                "run": str(self.baseline.path),
                "fingerprint": self.baseline.fingerprint,
                "why": self.baseline.why,
            },
            "diff": None if self.diff is None else self.diff.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class RunState:
    """A run the console knows of, and where it stands."""

    path: Path
    fingerprint: str
    program_id: str
    program_name: str
    created_at: str
    run_by: str | None
    approvals: int
    distributed: bool

    @property
    def state(self) -> Literal["distributed", "approved", "awaiting"]:
        if self.distributed:
            return "distributed"
        return "approved" if self.approvals >= REQUIRED_APPROVALS else "awaiting"


def review(run: Path, url: str, *, top: int = DEFAULT_TOP, differ: Differ | None = None) -> Review:
    """The run's figures, its approvals and its diff against the previous run."""
    manifest = check_artifacts(run)
    fingerprint = run_fingerprint(run)
    program_id = _program_id(run, manifest)
    engine = _ledger(url)
    with engine.connect() as conn:
        found = approvals_of(conn, fingerprint)
        distributed = _distributed_fingerprint(conn, program_id) == fingerprint
        baseline = _baseline(conn, program_id, fingerprint, manifest)
    compare = differ or (lambda old, new: diff_runs(old, new, top=top))
    diff = None if baseline is None else compare(baseline.path, run)
    return Review(run, fingerprint, manifest, found, distributed, baseline, diff)


def check_approver(run: Path, url: str, approver: str) -> None:
    """Every refusal :func:`approve` would make, without writing anything."""
    manifest = check_artifacts(run)
    fingerprint = run_fingerprint(run)
    _check_person(approver, manifest)
    with _ledger(url).connect() as conn:
        _check_open(conn, run, _program_id(run, manifest), fingerprint, approver)


def approve(
    run: Path,
    url: str,
    approver: str,
    *,
    fingerprint: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """Record ``approver``'s approval of the run as it is now (and its audit event).

    ``fingerprint``: the one the approver reviewed; if the folder no longer has it (it
    changed while they read), nothing is recorded (:class:`ApprovalConflict`).
    """
    manifest = check_artifacts(run)
    reviewed, fingerprint = fingerprint, run_fingerprint(run)
    if reviewed is not None and reviewed != fingerprint:
        raise ApprovalConflict(
            f"run {run} changed since it was reviewed: its fingerprint is now "
            f"{fingerprint[:12]}…, not {reviewed[:12]}…; review it again"
        )
    program_id = _program_id(run, manifest)
    _check_person(approver, manifest)
    engine = _ledger(url)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    done = Approval(program_id, fingerprint, approver, when, str(run.resolve()))
    try:
        with engine.begin() as conn:
            _check_open(conn, run, program_id, fingerprint, approver)
            conn.execute(
                run_approvals.insert().values(
                    program_id=program_id,
                    fingerprint=fingerprint,
                    approver=approver,
                    approved_at=when,
                    run_path=done.run_path,
                )
            )
            count = len(_people(approvals_of(conn, fingerprint)))
            audit.record(
                conn,
                actor=approver,
                action="run.approve",
                subject=f"run:{fingerprint}",
                details={
                    "program_id": program_id,
                    "run_path": done.run_path,
                    "run_by": manifest.get("run_by"),
                    "approvals": count,
                    "required": REQUIRED_APPROVALS,
                    "allocated_cents": manifest.get("allocated_cents"),
                    "eligible": manifest.get("counts", {}).get("eligible"),
                },
                at=when,
            )
    except IntegrityError as exc:  # the same approver, racing themself
        raise ApprovalConflict(f"{approver} has already approved run {fingerprint}") from exc
    return done


def require_approvals(
    conn: Connection, program_id: str, fingerprint: str, run: Path
) -> tuple[Approval, ...]:
    """The run's approvals, if enough different people gave them; else refuse, naming
    the approvals it has and the ones it needs (called inside ``distribute``'s
    registering transaction, so no distribution starts from an unapproved run)."""
    found = approvals_of(conn, fingerprint)
    if len(_people(found)) >= REQUIRED_APPROVALS:
        return found
    have = ", ".join(f"{a.approver} at {a.approved_at:%Y-%m-%d %H:%M} UTC" for a in found)
    message = (
        f"run {fingerprint[:12]}… ({run}) has {len(found)} of the {REQUIRED_APPROVALS} "
        f"approvals distribution needs ({have or 'none'}); each of {REQUIRED_APPROVALS} "
        f"different {APPROVER_ROLE} officers, not the one who ran it, approves it with "
        f"`recompense approve --run {run} --db URL --as {APPROVER_ROLE}:NAME`"
    )
    others = conn.execute(
        select(run_approvals.c.fingerprint)
        .where(run_approvals.c.program_id == program_id, run_approvals.c.fingerprint != fingerprint)
        .distinct()
    ).scalars()
    other = sorted(others)
    if other:
        message += (
            f". Programme {program_id} has approvals for another run "
            f"({', '.join(f[:12] + '…' for f in other)}): if this folder changed after they "
            "were given, it is a new run and needs new approvals"
        )
    raise UnapprovedRunError(message)


def approvals_of(conn: Connection, fingerprint: str) -> tuple[Approval, ...]:
    a = run_approvals.c
    rows = conn.execute(
        select(a.program_id, a.fingerprint, a.approver, a.approved_at, a.run_path)
        .where(a.fingerprint == fingerprint)
        .order_by(a.approved_at, a.id)
    ).fetchall()
    return tuple(Approval(r[0], r[1], r[2], _aware(r[3]), r[4]) for r in rows)


def known_runs(url: str, runs_dir: Path | None = None) -> list[RunState]:
    """Runs the console can show: the folders in ``runs_dir`` (each direct sub-folder
    with a manifest), and every folder an approval or a distribution recorded. Awaiting
    approval first, then the newest."""
    engine = _ledger(url)
    a, p = run_approvals.c, programs.c
    with engine.connect() as conn:
        approved = conn.execute(select(a.fingerprint, a.approver, a.run_path)).fetchall()
        distributed = conn.execute(select(p.id, p.run_fingerprint, p.run_path)).fetchall()
    paths = [child for child in _children(runs_dir) if (child / MANIFEST).is_file()]
    paths += [Path(row.run_path) for row in approved]
    paths += [Path(row.run_path) for row in distributed]
    people: dict[str, set[str]] = {}
    for row in approved:
        people.setdefault(row.fingerprint, set()).add(_person(row.approver))
    bound = {(row.id, row.run_fingerprint) for row in distributed}
    found: dict[str, RunState] = {}
    for path in dict.fromkeys(p.resolve() for p in paths):
        state = _state(path, people, bound)
        if state is not None and state.fingerprint not in found:
            found[state.fingerprint] = state
    order = {"awaiting": 0, "approved": 1, "distributed": 2}
    by_time = sorted(found.values(), key=lambda s: s.created_at, reverse=True)
    return sorted(by_time, key=lambda s: order[s.state])


def _state(path: Path, people: dict[str, set[str]], bound: set[tuple[str, str]]) -> RunState | None:
    try:
        manifest = read_manifest(path)
        fingerprint = run_fingerprint(path)
        program = manifest["program"]
        return RunState(
            path=path,
            fingerprint=fingerprint,
            program_id=ledger_program_id(manifest),
            program_name=str(program.get("name", program["id"])),
            created_at=str(manifest.get("created_at", "")),
            run_by=manifest.get("run_by"),
            approvals=len(people.get(fingerprint, ())),
            distributed=(ledger_program_id(manifest), fingerprint) in bound,
        )
    except (RunFolderError, KeyError, TypeError, OSError):
        return None  # gone, changed into something else, or not a run: not listed


def _children(folder: Path | None) -> list[Path]:
    if folder is None:
        return []
    try:
        return sorted(child for child in folder.iterdir() if child.is_dir())
    except OSError:
        return []


def _baseline(
    conn: Connection, program_id: str, fingerprint: str, manifest: dict[str, Any]
) -> Baseline | None:
    p, a = programs.c, run_approvals.c
    if is_amendment(manifest):  # what changed is against the run it amends
        amended = manifest["amendment"]
        previous = Path(str(amended["previous_run"]))
        if _holds(previous, str(amended["previous_fingerprint"])):
            return Baseline(previous, str(amended["previous_fingerprint"]), "distributed")
    row = conn.execute(select(p.run_fingerprint, p.run_path).where(p.id == program_id)).first()
    if (
        row is not None
        and row.run_fingerprint != fingerprint
        and _holds(Path(row.run_path), row.run_fingerprint)
    ):
        return Baseline(Path(row.run_path), row.run_fingerprint, "distributed")
    earlier = conn.execute(
        select(a.fingerprint, a.run_path)
        .where(a.program_id == program_id, a.fingerprint != fingerprint)
        .order_by(a.approved_at.desc(), a.id.desc())
    ).fetchall()
    for candidate in earlier:
        if _holds(Path(candidate.run_path), candidate.fingerprint):
            return Baseline(Path(candidate.run_path), candidate.fingerprint, "approved")
    return None


def _holds(path: Path, fingerprint: str) -> bool:
    """Does the folder still hold that run (and not a changed one)?"""
    try:
        return run_fingerprint(path) == fingerprint
    except (RunFolderError, OSError):
        return False


def _check_person(approver: str, manifest: dict[str, Any]) -> None:
    role, _, name = approver.partition(":")
    if role != APPROVER_ROLE or not name.strip():
        raise ApproverForbidden(
            f"{approver}: only {APPROVER_ROLE} officers approve runs (act as {APPROVER_ROLE}:NAME)"
        )
    runner = manifest.get("run_by")
    if runner and _person(str(runner)) == _person(approver):
        raise ApproverForbidden(
            f"{approver}: this run was made by {runner}; nobody approves their own run"
        )


def _check_open(
    conn: Connection, run: Path, program_id: str, fingerprint: str, approver: str
) -> None:
    if _distributed_fingerprint(conn, program_id) == fingerprint:
        raise ApprovalConflict(
            f"run {fingerprint[:12]}… ({run}) is already distributed as programme "
            f"{program_id}; approvals come before the money moves"
        )
    for given in approvals_of(conn, fingerprint):
        if _person(given.approver) == _person(approver):
            raise ApprovalConflict(
                f"{approver}: already approved run {fingerprint[:12]}… (as {given.approver} at "
                f"{given.approved_at:%Y-%m-%d %H:%M} UTC); a second officer must approve it"
            )


def _distributed_fingerprint(conn: Connection, program_id: str) -> str | None:
    found = conn.execute(
        select(programs.c.run_fingerprint).where(programs.c.id == program_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def _program_id(run: Path, manifest: dict[str, Any]) -> str:
    try:
        return ledger_program_id(manifest)
    except (KeyError, TypeError) as exc:
        raise RunFolderError(f"{run / MANIFEST}: names no programme; re-run it") from exc


def _people(approvals: tuple[Approval, ...]) -> set[str]:
    return {_person(a.approver) for a in approvals}


def _person(actor: str) -> str:
    """The person behind an actor: ``ops:Alice`` and ``cli:alice@host`` are ``alice``."""
    role, sep, name = actor.partition(":")
    if not sep:
        name = role
    elif role == "cli":
        name = name.rsplit("@", 1)[0]
    return name.strip().casefold()


def _ledger(url: str) -> Engine:
    engine = connect(url)
    require_schema(engine)
    return engine


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
