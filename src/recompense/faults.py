"""Deterministic crash points for reliability tests.

``RECOMPENSE_KILL_AT=point@n`` makes the process kill itself with SIGKILL the *n*-th time
it reaches ``checkpoint(point)`` — a real, unclean death at an exact place (mid-batch,
after a commit, between batches), so a failing kill test replays exactly from its seed.
Unset (always, in production), a checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_seen: Counter[str] = Counter()


def checkpoint(point: str) -> None:
    target = os.environ.get("RECOMPENSE_KILL_AT")
    if not target:
        return
    _seen[point] += 1
    name, _, nth = target.partition("@")
    if name == point and str(_seen[point]) == (nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
