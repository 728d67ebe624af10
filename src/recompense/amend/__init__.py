"""Amendment runs: pay accepted case decisions as differences to what was issued.

- :mod:`.compute`: cumulative amounts, top-ups and the reserve (pure);
- :mod:`.recompute`: corrected users through the engine's own rules (Ibis on DuckDB);
- :mod:`.run`: the amendment run folder (``recompense amend``).

Distributing, reconciling and proving an amendment use the same commands as a base run
(``approve``, ``distribute``, ``reconcile``, ``commit``); see ``docs/amendments.md``.
"""

from recompense.amend.errors import AmendmentError, ReserveExceededError
from recompense.amend.run import Amended, amend_run

__all__ = ["Amended", "AmendmentError", "ReserveExceededError", "amend_run"]
