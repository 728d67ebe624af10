"""The root of recompense's exception tree, and the exit codes every command shares.

::

    RecompenseError
    ├── InputError            bad input from the operator: exit code 2, nothing written
    │   ├── policy.PolicyError        a programme file that does not validate
    │   ├── policy.FormulaError       a weight formula that does not parse or names unknowns
    │   ├── data.DataError            a dataset that breaks the contract
    │   ├── engine.PriceMissingError  no price within the staleness limit
    │   ├── engine.AmountRangeError   a USD value outside the contract's range
    │   ├── allocation.AllocationError  a budget that cannot be honoured
    │   ├── runs.RunFolderError       a run folder that exists, or is not a run folder
    │   ├── UnauthorizedError         not signed in, or a credential that fails (HTTP 401)
    │   ├── NotFoundError             no such record for this caller (HTTP 404)
    │   ├── ForbiddenError            this caller may not do this (HTTP 403)
    │   └── ConflictError             the record's state does not allow it (HTTP 409)
    ├── UnavailableError      the infrastructure failed, not the operator: exit code 3
    │   ├── DatabaseUnavailable       refused, timed out or lost connection, server restart
    │   ├── StorageError              a disk that is full, read-only or failing
    │   ├── engine.EngineResourceError  out of memory or spill space
    │   └── notify.OutboxError        the outbox's database failed mid-drain
    └── (packages add their own internal errors under RecompenseError)

Every message names the file, key, column or value at fault so an operator can fix it
without reading code.

Exit codes (the same for every command; ``docs/cli.md#exit-codes`` is the table):

====  ==============================================================================
0     done
1     the command worked and its answer is "no": a check found a difference
      (``reconcile``, ``verify``, ``audit verify``) or the operator declined (``approve``)
2     the operator's input is wrong (file, column, key, value, option); nothing written
3     the infrastructure is unavailable (database, disk, memory, mail relay); what was
      committed stays committed and running the same command again resumes
70    internal error: a bug in recompense (the traceback is printed; please report it)
130   interrupted by Ctrl-C (SIGINT); 143: terminated (SIGTERM). Work in flight was
      finished or rolled back; running the same command again resumes
====  ==============================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO = 1
EXIT_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class RecompenseError(Exception):
    """Base class of every error recompense raises on purpose."""


class InputError(RecompenseError):
    """The operator's input is wrong; the command exits with code 2 and writes nothing."""

    exit_code = EXIT_INPUT


class UnauthorizedError(InputError):
    """The caller is not signed in, or their credential (token, session) does not verify."""

    http_status = 401


class NotFoundError(InputError):
    """No such record — or none this caller may see (the two are not told apart).

    The web answers only "not found", unless ``shown``: the message then names nothing
    but what the caller asked for (a programme id, their own user id) and is shown.
    """

    http_status = 404
    shown = False


class ForbiddenError(InputError):
    """The caller may see the record but not do this to it (role, maker-checker)."""

    http_status = 403


class ConflictError(InputError):
    """The record's current state does not allow this (it changed, or was done already)."""

    http_status = 409


class UnavailableError(RecompenseError):
    """The infrastructure failed (database, disk, memory, a relay): exit code 3.

    ``transient`` says whether trying the same thing again soon can help by itself (a
    dropped connection, a serialization failure, a server restart) or whether someone has
    to act first (a full disk, a wrong password, an unreachable host for minutes).
    Either way nothing committed is lost and re-running the command resumes.
    """

    exit_code = EXIT_UNAVAILABLE
    transient = False


class DatabaseUnavailable(UnavailableError):
    """The database refused, timed out, or lost the connection."""


class StorageError(UnavailableError):
    """A file could not be written: the disk is full, read-only, or failing."""
