"""Whose fault a failed commit is: a disk that cannot take the trees is the
infrastructure's (:class:`StorageError`, exit code 3); a path in the way is the
operator's (:class:`CommitError`, exit code 2). Real tmpfs mounts (:mod:`faults.disks`),
no mocks; the whole commands on failing disks are in ``tests/faults/test_disk_faults.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faults.disks import PAGE, copy_into, small_disk
from recompense.errors import EXIT_INPUT, EXIT_UNAVAILABLE, StorageError
from recompense.proofs import CommitError, commit_run

KEY = {"RECOMPENSE_COMMITMENT_KEY": "cd" * 32}


def test_a_full_disk_is_a_storage_error_not_an_input_error(small_run: Path, tmp_path: Path):
    with small_disk(tmp_path / "disk") as disk:
        run = copy_into(small_run, disk)
        disk.fill(2 * PAGE)
        with pytest.raises(StorageError, match="no space left on the device") as raised:
            commit_run(run, workers=1, environ=KEY)
        assert not isinstance(raised.value, CommitError)
        assert raised.value.exit_code == EXIT_UNAVAILABLE
        assert not (run / "commitment.json").exists()
        disk.empty()
        assert commit_run(run, workers=1, environ=KEY).created  # room again: it resumes


def test_a_read_only_disk_is_a_storage_error(small_run: Path, tmp_path: Path):
    with small_disk(tmp_path / "disk") as disk:
        run = copy_into(small_run, disk)
        disk.read_only()
        with pytest.raises(StorageError, match="read-only") as raised:
            commit_run(run, workers=1, environ=KEY)
        assert raised.value.exit_code == EXIT_UNAVAILABLE


def test_a_file_where_the_trees_go_is_the_operators_to_move(small_run: Path, tmp_path: Path):
    with small_disk(tmp_path / "disk") as disk:
        run = copy_into(small_run, disk)
        (run / "proofs").write_text("not a folder")
        with pytest.raises(CommitError, match=f"{run / 'proofs'}: cannot write") as raised:
            commit_run(run, workers=1, environ=KEY)
        assert raised.value.exit_code == EXIT_INPUT
        assert not (run / "commitment.json").exists()
