"""Real disks that fail, for fault-injection tests: a tmpfs mounted for one test.

``small_disk(where)`` mounts a tmpfs (as root) and unmounts it afterwards, whatever
happened. On it, ``disk.fill(leave)`` writes a filler file until only ``leave`` bytes
are free, so the next write runs out of space exactly where the test wants (ENOSPC from
the kernel, not from a mock), and ``disk.read_only()`` remounts it read-only (EROFS).

Where mounting is not permitted (not root, no ``mount``, a container without the
capability) the test is skipped, unless ``RECOMPENSE_REQUIRE_FAULTS=1`` (``.ci/run``):
then it fails, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE = "RECOMPENSE_REQUIRE_FAULTS"
PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs counts space in pages
FILLER = ".filler"


@dataclass(frozen=True)
class Disk:
    """A mounted tmpfs; ``path`` is its root."""

    path: Path

    def free(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave: int) -> None:
        """Leave ``leave`` bytes free (rounded down to a page); the rest is a filler file."""
        with (self.path / FILLER).open("ab") as filler:
            filler.write(b"\0" * max(0, self.free() - leave))
        assert self.free() <= leave, (self.free(), leave)

    def empty(self) -> None:
        """Free the space again: what an operator does before running the command again."""
        (self.path / FILLER).unlink(missing_ok=True)

    def read_only(self) -> None:
        _mount("-o", "remount,ro", str(self.path))

    def writable(self) -> None:
        _mount("-o", "remount,rw", str(self.path))

    def files(self) -> dict[str, int]:
        """Every file and folder on the disk but the filler: relative path → size."""
        return {
            str(p.relative_to(self.path)): (p.stat().st_size if p.is_file() else -1)
            for p in sorted(self.path.rglob("*"))
            if p.name != FILLER
        }


@contextmanager
def small_disk(where: Path, size: int = 16 << 20) -> Iterator[Disk]:
    """A tmpfs of ``size`` bytes mounted at ``where`` (made if missing) for the block."""
    where.mkdir(parents=True, exist_ok=True)
    problem = _cannot_mount(where, size)
    if problem is not None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but a tmpfs cannot be mounted: {problem}")
        pytest.skip(f"a tmpfs cannot be mounted here: {problem}")
    try:
        yield Disk(where)
    finally:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)
        if os.path.ismount(where):  # a file still open on it: detach it lazily
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def copy_into(source: Path, disk: Disk, name: str | None = None) -> Path:
    """Copy a file or folder onto the disk; its new path."""
    target = disk.path / (name or source.name)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return target


def _cannot_mount(where: Path, size: int) -> str | None:
    if shutil.which("mount") is None:
        return "no mount command"
    if os.geteuid() != 0:
        return "not root"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], capture_output=True, text=True, check=True)
