"""The immutable run folder: execute a run, read it back, explain one user.

- :mod:`~recompense.runs.execute`: policy + dataset → engine → allocation → folder;
- :mod:`~recompense.runs.artifacts`: file names, schemas and deterministic writers;
- :mod:`~recompense.runs.explain`: one user's story, from the folder alone;
- :mod:`~recompense.runs.folder`: reading a finished run (manifest, fingerprint, allocations);
- :mod:`~recompense.runs.reasons`: the reason codes the folder publishes (the engine's too).

:mod:`.execute` runs the engine, and the engine imports :mod:`.reasons`: so
``execute_run`` and ``RunSummary`` are loaded on first use (PEP 562), and importing the
contract (this package, its readers, its reason codes) never imports the engine.
"""

from typing import TYPE_CHECKING, Any

from recompense.runs.errors import RunFolderError
from recompense.runs.explain import Explanation, explain
from recompense.runs.folder import (
    amendment_id,
    is_amendment,
    ledger_program_id,
    read_allocations,
    read_amounts,
    read_manifest,
    read_payable,
    read_recipients,
    run_fingerprint,
)

if TYPE_CHECKING:
    from recompense.runs.execute import RunSummary, execute_run

__all__ = [
    "Explanation",
    "RunFolderError",
    "RunSummary",
    "amendment_id",
    "execute_run",
    "explain",
    "is_amendment",
    "ledger_program_id",
    "read_allocations",
    "read_amounts",
    "read_manifest",
    "read_payable",
    "read_recipients",
    "run_fingerprint",
]

_EXECUTE = frozenset({"RunSummary", "execute_run"})


def __getattr__(name: str) -> Any:
    if name in _EXECUTE:
        from recompense.runs import execute

        return getattr(execute, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
