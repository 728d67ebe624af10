"""The immutable run folder: execute a run, read it back, explain one user.

- :mod:`~recompense.runs.execute`: policy + dataset → engine → allocation → folder;
- :mod:`~recompense.runs.artifacts`: file names, schemas and deterministic writers;
- :mod:`~recompense.runs.explain`: one user's story, from the folder alone;
- :mod:`~recompense.runs.folder`: reading a finished run (manifest, fingerprint, allocations).
"""

from recompense.runs.errors import RunFolderError
from recompense.runs.execute import RunSummary, execute_run
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
