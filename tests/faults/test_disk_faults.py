"""Every command that writes files, on a disk that fails: a full tmpfs (ENOSPC) filled so
the write fails part-way, a read-only remount (EROFS), a file-size limit (EFBIG).

Each must exit 3 with one message that names the output and says nothing half-written
was kept, leave nothing behind (no partial output, no temporary file, every byte of space
given back), and succeed when run again once there is room. The disks are real tmpfs
mounts (:mod:`faults.disks`); nothing here mocks the operating system.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from faults.disks import PAGE, Disk, copy_into, small_disk
from recompense.atomic import disk_error
from recompense.cli.main import app
from recompense.errors import EXIT_UNAVAILABLE, StorageError

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
KEY = "ab" * 32  # RECOMPENSE_COMMITMENT_KEY: the same roots on every disk
FULL = "no space left on the device"
READ_ONLY = "the file system is read-only"
KEPT = "Nothing half-written was kept"
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def cli(*args: str, key: bool = False) -> tuple[int, str]:
    env = {"RECOMPENSE_COMMITMENT_KEY": KEY} if key else {}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset, its run, Binance exports and an audit trail, on the real disk."""
    from recompense.audit import record
    from recompense.data.synth import generate
    from recompense.imports.binance.synth import write_exports
    from recompense.ledger.db import connect, upgrade
    from recompense.runs import execute_run

    root = tmp_path_factory.mktemp("inputs")
    generate(3000, 5, root / "data")
    execute_run(PROGRAM, root / "data", root / "run", budget_usd=Decimal("20000"))
    write_exports(root / "exports", users=3, ledger_rows_per_user=300, seed=3)
    url = f"sqlite:///{root / 'ledger.db'}"
    upgrade(url)
    with connect(url).begin() as conn:
        for n in range(300):
            record(conn, actor="ops:alice", action="test.event", subject=f"user:{n}")
    return root


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Path]:
    """Where this test mounts its disks (one fresh folder per Hypothesis example)."""
    yield tmp_path


def fresh(mounts: Path) -> Path:
    return mounts / uuid.uuid4().hex[:8]


def needed(disk: Disk, command: list[str], *, key: bool = False) -> int:
    """The pages ``command`` takes on ``disk`` when there is room (then undone)."""
    before, files = disk.free(), disk.files()
    code, output = cli(*command, key=key)
    assert code == 0, output
    used = before - disk.free()
    for name in sorted(set(disk.files()) - set(files), reverse=True):
        path = disk.path / name
        path.rmdir() if path.is_dir() else path.unlink()
    assert used > 0
    assert disk.free() == before
    return used // PAGE


def assert_clean_failure(disk: Disk, code: int, output: str, target: Path, reason: str,
                         before: dict[str, int], free: int) -> None:  # fmt: skip
    assert code == EXIT_UNAVAILABLE, output
    named = rf"disk error writing {re.escape(str(target))}(/[\w.-]+)?: {reason}\. {KEPT}"
    assert re.search(named, output), output  # the output (or the file of it) that failed
    assert "Traceback" not in output
    assert ".tmp-" not in output
    assert disk.files() == before, "a partial output or a temporary file was left"
    # pyarrow's writer of a removed file is closed when the exception's frames are
    # collected (at once in a real process, which exits): collect them here.
    gc.collect()
    assert disk.free() == free, "space was not given back"


# ---------------------------------------------------------------------------------
# run


def run_args(inputs: Path, out: Path) -> list[str]:
    data = str(inputs / "data")
    return ["run", "--program", str(PROGRAM), "--data", data, "--out", str(out),
            "--budget-usd", "20000", "--json"]  # fmt: skip


@pytest.fixture(scope="module")
def run_pages(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> int:
    with small_disk(tmp_path_factory.mktemp("measure")) as disk:
        return needed(disk, run_args(inputs, disk.path / "run"))


@EXAMPLES
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_run_out_of_space_part_way_exits_3_and_leaves_nothing(
    inputs: Path, run_pages: int, mounts: Path, fraction: float
) -> None:
    """The disk fills at a different file each time (the Parquet files, the report, the
    manifest): always exit 3, no run folder, no hidden temporary, all space back."""
    leave = int(fraction * run_pages) * PAGE
    with small_disk(fresh(mounts)) as disk:
        disk.fill(leave)
        before, free = disk.files(), disk.free()
        out = disk.path / "run"
        code, output = cli(*run_args(inputs, out))
        assert_clean_failure(disk, code, output, out, FULL, before, free)
        disk.empty()  # the operator frees space and runs the same command again
        code, output = cli(*run_args(inputs, out))
        assert code == 0, output
        for name in ("allocations.parquet", "eligibility.parquet", "recipients.parquet"):
            assert (out / name).read_bytes() == (inputs / "run" / name).read_bytes()


def test_run_on_a_read_only_disk_fails_before_the_engine_starts(inputs: Path, mounts: Path) -> None:
    from recompense.runs import execute_run

    stages: list[str] = []
    with small_disk(fresh(mounts)) as disk:
        disk.read_only()
        out = disk.path / "deep" / "run"
        with pytest.raises(StorageError, match=f"writing {out}: {READ_ONLY}"):
            execute_run(PROGRAM, inputs / "data", out, on_stage=stages.append)
        assert stages == []  # refused in a second, not after the whole computation
        code, output = cli(*run_args(inputs, out))
        assert_clean_failure(disk, code, output, out, READ_ONLY, {}, disk.free())


def test_a_real_process_on_a_full_disk_exits_3_without_a_traceback(
    inputs: Path, mounts: Path
) -> None:
    with small_disk(fresh(mounts)) as disk:
        disk.fill(8 * PAGE)
        out = disk.path / "run"
        command = [sys.executable, "-m", "recompense.cli", *run_args(inputs, out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 3, done.stderr
        stderr = " ".join(done.stderr.split())
        assert stderr.startswith(f"unavailable: disk error writing {out}: {FULL}. {KEPT}")
        assert "Traceback" not in stderr
        assert done.stdout == ""
        assert disk.files() == {}


# ---------------------------------------------------------------------------------
# commit: the key file, the trees, commitment.json


@pytest.fixture(scope="module")
def commit_pages(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Pages taken by commit (key from the environment): the trees, then commitment.json."""
    with small_disk(tmp_path_factory.mktemp("measure")) as disk:
        run = copy_into(inputs / "run", disk)
        before = disk.free()
        assert cli("commit", "--run", str(run), key=True)[0] == 0
        total = (before - disk.free()) // PAGE
        commitment = -(-(run / "commitment.json").stat().st_size // PAGE)
        return {"total": total, "trees": total - commitment}


def test_commit_out_of_space_at_commitment_json_is_a_clean_exit_3(
    inputs: Path, commit_pages: dict[str, int], mounts: Path
) -> None:
    """The trees fit, commitment.json does not: exit 3 naming commitment.json, and the
    trees of a commitment that was never published are taken back too."""
    with small_disk(fresh(mounts)) as disk:
        run = copy_into(inputs / "run", disk)
        disk.fill(commit_pages["trees"] * PAGE)
        before, free = disk.files(), disk.free()
        code, output = cli("commit", "--run", str(run), key=True)
        assert_clean_failure(disk, code, output, run / "commitment.json", FULL, before, free)
        assert not (run / "proofs").exists()
        disk.empty()
        assert cli("commit", "--run", str(run), key=True)[0] == 0
        reference = _reference_commitment(inputs, mounts)
        assert json.loads((run / "commitment.json").read_text()) == reference


@EXAMPLES
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_commit_out_of_space_anywhere_leaves_at_most_a_complete_key(
    inputs: Path, commit_pages: dict[str, int], mounts: Path, fraction: float
) -> None:
    """With a generated key: the key file, a tree file or commitment.json fails. Only the
    key may stay (whole: 64 hex digits), and the next commit uses it."""
    leave = int(fraction * (commit_pages["total"] + 1)) * PAGE
    with small_disk(fresh(mounts)) as disk:
        run = copy_into(inputs / "run", disk)
        disk.fill(leave)
        before = disk.files()
        code, output = cli("commit", "--run", str(run))
        assert code == EXIT_UNAVAILABLE, output
        assert FULL in output, output
        assert KEPT in output, output
        assert "Traceback" not in output
        assert ".tmp-" not in output
        left = {k: v for k, v in disk.files().items() if k not in before}
        assert set(left) <= {"run/commitment.key"}, left
        if left:
            assert len(bytes.fromhex((run / "commitment.key").read_text())) == 32
        disk.empty()
        code, output = cli("commit", "--run", str(run))
        assert code == 0, output
        user = json.loads((run / "commitment.json").read_text())["users"]
        assert user > 0


def test_commit_on_a_read_only_run_folder_names_the_key_file(inputs: Path, mounts: Path) -> None:
    """Issue 20, defect 4: the clear error was replaced by an OSError from removing a
    temporary key file that was never made. Now: the key file, read-only, exit 3."""
    with small_disk(fresh(mounts)) as disk:
        run = copy_into(inputs / "run", disk)
        disk.read_only()
        before = disk.files()
        code, output = cli("commit", "--run", str(run))
        assert_clean_failure(disk, code, output, run / "commitment.key", READ_ONLY, before,
                             disk.free())  # fmt: skip
        code, output = cli("commit", "--run", str(run), key=True)  # key from the environment
        assert_clean_failure(disk, code, output, run / "proofs", READ_ONLY, before, disk.free())


def test_the_key_files_error_is_not_hidden_by_its_cleanup(mounts: Path) -> None:
    from recompense.proofs.keys import KEY_FILE, resolve_key

    with small_disk(fresh(mounts)) as disk:
        disk.read_only()
        with pytest.raises(StorageError) as caught:
            resolve_key(disk.path, create=True, environ={})
        assert f"writing {disk.path / KEY_FILE}: {READ_ONLY}" in str(caught.value)
        cause = caught.value.__cause__
        assert isinstance(cause, OSError)
        assert cause.errno == errno.EROFS


def test_signing_a_published_commitment_on_a_full_disk_keeps_the_unsigned_one(
    inputs: Path, mounts: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    assert cli("keys", "new", "--out", str(keys))[0] == 0
    with small_disk(fresh(mounts)) as disk:
        run = copy_into(inputs / "run", disk)
        assert cli("commit", "--run", str(run), key=True)[0] == 0
        unsigned = (run / "commitment.json").read_bytes()
        disk.fill(0)
        before, free = disk.files(), disk.free()
        code, output = cli("commit", "--run", str(run), "--key", str(keys / "signing-key.json"),
                           key=True)  # fmt: skip
        assert_clean_failure(disk, code, output, run / "commitment.json", FULL, before, free)
        assert (run / "commitment.json").read_bytes() == unsigned


def _reference_commitment(inputs: Path, mounts: Path) -> dict[str, object]:
    with small_disk(fresh(mounts)) as disk:
        run = copy_into(inputs / "run", disk)
        assert cli("commit", "--run", str(run), key=True)[0] == 0
        reference: dict[str, object] = json.loads((run / "commitment.json").read_text())
    return reference


# ---------------------------------------------------------------------------------
# synth, keys new, import binance, whatif --export-policy, audit export


def synth_args(out: Path) -> list[str]:
    return ["synth", "--users", "3000", "--seed", "5", "--out", str(out), "--json"]


def keys_args(out: Path) -> list[str]:
    return ["keys", "new", "--out", str(out)]


def import_args(inputs: Path, out: Path) -> list[str]:
    return ["import", "binance", str(inputs / "exports"), "--out", str(out), "--json"]


def whatif_args(inputs: Path, out: Path) -> list[str]:
    return ["whatif", "--run", str(inputs / "run"), "--min-ratio", "0.2",
            "--export-policy", str(out), "--json"]  # fmt: skip


def audit_args(inputs: Path, out: Path) -> list[str]:
    return ["audit", "export", "--db", f"sqlite:///{inputs / 'ledger.db'}", "--out", str(out)]


WRITERS = {  # command → (its arguments, the output it names) for a disk's root
    "synth": lambda inputs, root: (synth_args(root / "new" / "data"), root / "new" / "data"),
    "keys new": lambda inputs, root: (keys_args(root / "new" / "keys"), root / "new" / "keys"),
    "import binance": lambda inputs, root: (import_args(inputs, root / "i"), root / "i"),
    "whatif --export-policy": lambda inputs, root: (
        whatif_args(inputs, root / "policy.toml"),
        root / "policy.toml",
    ),
    "audit export": lambda inputs, root: (audit_args(inputs, root / "a.jsonl"), root / "a.jsonl"),
}


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6, 0.95])
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_writers_out_of_space_part_way_exit_3_and_leave_nothing(
    inputs: Path, mounts: Path, command: str, fraction: float
) -> None:
    """Each writer with 0 %, 30 %, 60 % and 95 % of the room it needs (``keys new``: the
    secret file written, the public one not; ``synth``: some tables written). The folders
    a writer made for its output (``new/``) are taken back too."""
    with small_disk(fresh(mounts)) as disk:
        args, target = WRITERS[command](inputs, disk.path)
        pages = needed(disk, args)
        disk.fill(int(fraction * pages) * PAGE)
        before, free = disk.files(), disk.free()
        code, output = cli(*args)
        assert_clean_failure(disk, code, output, target, FULL, before, free)
        disk.empty()
        code, output = cli(*args)
        assert code == 0, output


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_writers_on_a_read_only_disk_exit_3_and_write_nothing(
    inputs: Path, mounts: Path, command: str
) -> None:
    with small_disk(fresh(mounts)) as disk:
        disk.read_only()
        args, target = WRITERS[command](inputs, disk.path)
        code, output = cli(*args)
        assert_clean_failure(disk, code, output, target, READ_ONLY, {}, disk.free())


# ---------------------------------------------------------------------------------
# standard output, a file-size limit, a quota


def test_a_proof_redirected_to_a_full_disk_exits_3_and_says_the_file_is_incomplete(
    inputs: Path, mounts: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    run = tmp_path / "run"
    shutil.copytree(inputs / "run", run)
    assert cli("commit", "--run", str(run), key=True)[0] == 0
    user = str(pq.read_table(run / "allocations.parquet")["user_id"][0].as_py())
    command = [sys.executable, "-m", "recompense.cli", "proof", "--run", str(run), user]
    with small_disk(fresh(mounts)) as disk:
        disk.fill(0)
        with (disk.path / "proof.json").open("w") as redirected:
            env = {**os.environ, "RECOMPENSE_COMMITMENT_KEY": KEY}
            done = subprocess.run(command, stdout=redirected, stderr=subprocess.PIPE,
                                  text=True, env=env, timeout=120)  # fmt: skip
    stderr = " ".join(done.stderr.split())
    assert done.returncode == 3, stderr
    assert "cannot write to standard output: No space left on device" in stderr
    assert "incomplete: delete it" in stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr


def test_a_file_size_limit_is_a_disk_error_too(tmp_path: Path) -> None:
    """RLIMIT_FSIZE: the kernel refuses the write with EFBIG (Python ignores SIGXFSZ)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    out = tmp_path / "data"
    command = [sys.executable, "-m", "recompense.cli", *synth_args(out)]
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=limit, timeout=120)
    stderr = " ".join(done.stderr.split())
    assert done.returncode == 3, stderr
    assert f"disk error writing {out}: file too large" in stderr
    assert KEPT in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, FULL),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EROFS, READ_ONLY),
        (errno.EIO, "input/output error"),
        (errno.EFBIG, "file too large"),
    ],
)
def test_disk_errnos_are_storage_errors_naming_the_output(code: int, reason: str) -> None:
    """EDQUOT has no real disk here (this kernel has no tmpfs or ext4 quotas): it is
    classified like the others, from the errno the kernel would give."""
    found = disk_error(OSError(code, os.strerror(code), "/x/.out.tmp-1/a.parquet"), "/x/out")
    assert isinstance(found, StorageError)
    assert found.exit_code == EXIT_UNAVAILABLE
    assert str(found).startswith(f"disk error writing /x/out: {reason}")


@pytest.mark.parametrize(
    "code", [errno.ENOENT, errno.ENOTDIR, errno.EEXIST, errno.EACCES, errno.ENAMETOOLONG]
)
def test_path_mistakes_are_not_disk_errors(code: int) -> None:
    assert disk_error(OSError(code, os.strerror(code)), "/x/out") is None
