"""Writing folders atomically: build in a hidden sibling, rename into place.

A killed process leaves only a hidden ``.NAME.tmp-PID`` folder behind, never a partial
``NAME``; the next writer for the same target removes those whose process is dead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def temp_sibling(target: Path) -> Path:
    """The hidden temporary folder this process builds ``target`` in."""
    return target.parent / f".{target.name}.tmp-{os.getpid()}"


def remove_stale_temps(target: Path) -> None:
    """Remove temporary folders left for ``target`` by processes that died."""
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True
