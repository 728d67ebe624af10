"""Writing files and folders atomically, and saying whose fault a failed write is.

A folder is built in a hidden sibling ``.NAME.tmp-PID`` and renamed into place at the end;
a file is written to a hidden sibling ``.NAME.tmp-PID``, fsynced, then linked into place
(a new file, never over an existing one: :func:`write_new`) or renamed over the old one
(:func:`replace_file`). Readers see the whole output or none of it. A killed process
leaves only hidden temporaries behind, never a partial ``NAME``; the next writer for the
same target removes those whose process is dead (:func:`remove_stale_temps`).

Whose fault: a write that fails because of the disk — full (ENOSPC), over quota (EDQUOT),
read-only (EROFS), failing (EIO), a file too large (EFBIG) — is the infrastructure's, and
:func:`disk_error` turns it into a :class:`~recompense.errors.StorageError` (exit code 3)
that names the output the operator asked for, not the temporary file it failed in. Every
other ``OSError`` (a parent that does not exist or is a file, no permission, a name too
long, an output that exists) is the operator's path to fix: callers raise their own
:class:`~recompense.errors.InputError` for it (exit code 2). Cleaning up after a failure
never raises: it must not hide the error that made it necessary (a read-only file system
refuses even the removal of a file that was never made).
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from pathlib import Path

from recompense.errors import StorageError
from recompense.failures import classify


def temp_sibling(target: Path) -> Path:
    """The hidden temporary file or folder this process builds ``target`` in."""
    return target.parent / f".{target.name}.tmp-{os.getpid()}"


def remove_stale_temps(target: Path) -> None:
    """Remove temporaries left for ``target`` by processes that died."""
    with suppress(OSError):  # a parent we cannot list: the write itself will say why
        for tmp in target.parent.glob(f".{target.name}.tmp-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                discard(tmp)


def disk_error(exc: BaseException, target: Path | str) -> StorageError | None:
    """The :class:`StorageError` that ``exc`` means while writing ``target``, or None.

    None for anything but a disk that cannot take the write: the caller then raises its
    own input error naming the path.
    """
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    found = classify(OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target)))
    return found if isinstance(found, StorageError) else None


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a disk that cannot take a write (full, read-only, quota, failing)."""
    return disk_error(exc, "-") is not None


def write_new(path: Path, data: str | bytes, *, mode: int = 0o666) -> None:
    """Create ``path`` holding ``data``, complete or not at all; never replace a file.

    ``mode`` as for :func:`os.open` (the umask applies); 0o600 for a secret, which is
    never readable by others even for a moment. Raises ``FileExistsError`` when ``path``
    exists, and the ``OSError`` of the failure otherwise (classify it with
    :func:`disk_error`); the temporary file is gone either way.
    """
    tmp = temp_sibling(path)
    try:
        _write_synced(tmp, data, mode)
        os.link(tmp, path)
    finally:
        discard(tmp)
    sync_folder(path.parent)


def replace_file(path: Path, data: str | bytes, *, mode: int = 0o666, exact: bool = False) -> None:
    """Write ``path`` atomically, replacing it if it exists: readers see the old bytes or
    the new ones. ``exact``: the file gets ``mode`` itself, the umask left out."""
    tmp = temp_sibling(path)
    try:
        _write_synced(tmp, data, mode, exact=exact)
        os.replace(tmp, path)
    finally:
        discard(tmp)
    sync_folder(path.parent)


def make_folders(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it made, outermost first, so that a failed
    writer can take them back (:func:`remove_made`)."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    folder.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def remove_made(made: list[Path]) -> None:
    """Remove the folders :func:`make_folders` made, innermost first, if still empty."""
    for folder in reversed(made):
        with suppress(OSError):
            folder.rmdir()


def sync_tree(folder: Path) -> None:
    """fsync every file below ``folder`` and the folders themselves, before a rename
    publishes it: a crash after the rename then finds complete files, not empty ones.

    A disk that cannot hold the data may say so only here (ENOSPC, EIO, EDQUOT on network
    and quota file systems): the error propagates."""
    for root, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        sync_folder(Path(root))


def sync_folder(folder: Path) -> None:
    """fsync a folder so that the names just linked or renamed into it are durable; a file
    system that cannot sync folders (some network ones) is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # EINVAL: not supported here; the rename itself succeeded
    finally:
        os.close(fd)


def discard(path: Path) -> None:
    """Remove a temporary file or folder; never raises (see the module's docstring)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _write_synced(path: Path, data: str | bytes, mode: int, *, exact: bool = False) -> None:
    discard(path)  # a stale temporary of this pid would keep its own mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if exact else mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        handle.flush()
        if exact:
            os.fchmod(handle.fileno(), mode)
        os.fsync(handle.fileno())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True
