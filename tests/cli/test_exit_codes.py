"""One table of exit codes for every command, held to what the code does.

The table in ``docs/cli.md`` is the constants of :mod:`recompense.errors`; every command
that writes files exits 2 on the operator's path mistakes and 3 on a disk that fails
(real processes, a real read-only tmpfs); a bug exits 70 with its traceback; a real
Ctrl-C exits 130 and SIGTERM kills with 15, neither leaving a partial output.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import typer

import recompense.errors as errors
from faults.disks import copy_into, small_disk
from recompense.cli.app import boundary

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "cli.md"
PROGRAM = ROOT / "programs" / "together-2025-10.toml"
KEY = "cd" * 32
CONSTANTS = {name: value for name, value in vars(errors).items() if name.startswith("EXIT_")}


def recompense(*args: str, stdout: int | None = subprocess.PIPE) -> tuple[int, str]:
    env = {**os.environ, "RECOMPENSE_COMMITMENT_KEY": KEY}
    command = [sys.executable, "-m", "recompense.cli", *args]
    done = subprocess.run(
        command, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=300
    )
    return done.returncode, " ".join(done.stderr.split())


def section(heading: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    after = re.search(rf"^#{{1,{len(level)}}} ", text[start:], re.M)
    return text[start : start + after.start()] if after else text[start:]


def table(heading: str) -> list[list[str]]:
    """The first Markdown table under ``heading``: its rows, without header and rule."""
    lines = section(heading).splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("|"))
    end = next((n for n in range(start, len(lines)) if not lines[n].startswith("|")), len(lines))
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in lines[start + 2 : end]]


# ---------------------------------------------------------------------------------
# The table


def test_the_documented_table_is_the_constants_in_errors_py() -> None:
    rows = table("## Exit codes")
    assert [int(row[0]) for row in rows] == sorted(CONSTANTS.values())
    assert all(len(row) == 4 and all(row) for row in rows), rows
    meaning = {int(row[0]): row[1] for row in rows}
    words = {
        "EXIT_OK": "done",
        "EXIT_NO": '"no"',
        "EXIT_INPUT": "input is wrong",
        "EXIT_UNAVAILABLE": "unavailable",
        "EXIT_INTERNAL": "bug",
        "EXIT_INTERRUPTED": "Ctrl-C",
        "EXIT_TERMINATED": "SIGTERM",
    }
    assert set(words) == set(CONSTANTS)
    for name, word in words.items():
        assert word in meaning[CONSTANTS[name]], (name, meaning[CONSTANTS[name]])
    rows_in_docstring = re.findall(r"^(\d+)\s{2,}|; (\d+): ", errors.__doc__ or "", re.M)
    assert {int(first or inline) for first, inline in rows_in_docstring} == set(CONSTANTS.values())


def test_the_exception_tree_carries_the_documented_codes() -> None:
    assert errors.InputError.exit_code == CONSTANTS["EXIT_INPUT"] == 2
    assert errors.UnavailableError.exit_code == CONSTANTS["EXIT_UNAVAILABLE"] == 3
    assert errors.StorageError.exit_code == errors.DatabaseUnavailable.exit_code == 3


# ---------------------------------------------------------------------------------
# Every command that writes files: exit 2 for the operator's path, 3 for the disk


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset, its run (committed in a copy), Binance exports and a ledger."""
    from recompense.data.synth import generate
    from recompense.imports.binance.synth import write_exports
    from recompense.ledger.db import upgrade
    from recompense.proofs import commit_run
    from recompense.runs import execute_run

    root = tmp_path_factory.mktemp("made")
    generate(3000, 5, root / "data")
    execute_run(PROGRAM, root / "data", root / "run", budget_usd=Decimal("20000"))
    shutil.copytree(root / "run", root / "committed")
    commit_run(root / "committed", environ={"RECOMPENSE_COMMITMENT_KEY": KEY})
    write_exports(root / "exports", users=3, ledger_rows_per_user=300, seed=3)
    upgrade(f"sqlite:///{root / 'ledger.db'}")
    (root / "a-file").write_text("x")
    (root / "full").mkdir()
    (root / "full" / "x").write_text("x")
    return root


Args = Callable[[Path, Path], list[str]]  # (made, output) → arguments


def _run(made: Path, out: Path) -> list[str]:
    return ["run", "--program", str(PROGRAM), "--data", str(made / "data"), "--out", str(out)]


def _whatif(made: Path, out: Path) -> list[str]:
    return ["whatif", "--run", str(made / "run"), "--min-ratio", "0.2", "--export-policy", str(out)]


def _audit(made: Path, out: Path) -> list[str]:
    return ["audit", "export", "--db", f"sqlite:///{made / 'ledger.db'}", "--out", str(out)]


WRITERS: dict[str, Args] = {
    "synth": lambda made, out: ["synth", "--users", "500", "--out", str(out)],
    "run": _run,
    "keys new": lambda made, out: ["keys", "new", "--out", str(out)],
    "import binance": lambda made, out: [
        "import",
        "binance",
        str(made / "exports"),
        "--out",
        str(out),
    ],
    "whatif --export-policy": _whatif,
    "audit export": _audit,
}
# The operator's path mistakes: (command, where the output goes, what the message says).
MISTAKES = [
    ("synth", "full", "already exists and is not empty"),
    ("synth", "a-file/data", "cannot create"),
    ("run", "run", "already exists; run folders are immutable"),
    ("run", "a-file/run", "cannot write the run folder"),
    ("keys new", "a-file", "not a folder"),
    ("keys new", "a-file/keys", "cannot create the folder"),
    ("import binance", "full", "already exists and is not empty"),
    ("import binance", "a-file/data", "cannot create"),
    ("whatif --export-policy", "a-file", "already exists; choose a new file"),
    ("whatif --export-policy", "missing/policy.toml", "cannot write: No such file"),
    ("audit export", "a-file", "already exists"),
    ("audit export", "missing/audit.jsonl", "cannot write: No such file"),
]


def test_every_command_that_writes_files_is_documented_and_tested_here() -> None:
    documented = {row[0].strip("`") for row in table("### Commands that write files")}
    assert documented == set(WRITERS) | {"commit", "proof"}


@pytest.mark.parametrize(("command", "where", "message"), MISTAKES)
def test_path_mistakes_exit_2_and_write_nothing(
    made: Path, command: str, where: str, message: str
) -> None:
    before = sorted(p.name for p in made.iterdir())
    code, stderr = recompense(*WRITERS[command](made, made / where))
    assert code == 2, stderr
    assert stderr.startswith("error:"), stderr
    assert message in stderr, stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in made.iterdir()) == before
    assert (made / "a-file").read_text() == "x"
    assert os.listdir(made / "full") == ["x"]


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_read_only_disk_exits_3_and_writes_nothing(
    made: Path, tmp_path: Path, command: str
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        disk.read_only()
        out = disk.path / "out"
        code, stderr = recompense(*WRITERS[command](made, out))
        assert code == 3, stderr
        assert stderr.startswith(f"unavailable: disk error writing {out}")
        assert "the file system is read-only. Nothing half-written was kept" in stderr
        assert "Traceback" not in stderr
        assert disk.files() == {}


def test_commit_exits_2_on_a_folder_that_is_no_run_and_3_on_a_read_only_one(
    made: Path, tmp_path: Path
) -> None:
    code, stderr = recompense("commit", "--run", str(made / "full"))
    assert code == 2, stderr
    assert stderr.startswith("error:"), stderr
    assert "manifest.json" in stderr, stderr
    with small_disk(tmp_path / "disk") as disk:
        run = copy_into(made / "run", disk)
        disk.read_only()
        code, stderr = recompense("commit", "--run", str(run))
        assert code == 3, stderr
        assert f"disk error writing {run / 'proofs'}: the file" in stderr, stderr
        assert not (run / "commitment.json").exists()
        assert not (run / "proofs").exists()


def test_proof_exits_2_for_a_stranger_and_3_when_its_output_cannot_be_written(
    made: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    run = made / "committed"
    code, stderr = recompense("proof", "--run", str(run), "999999999")
    assert code == 2, stderr
    assert "user 999999999 has no payout in this run" in stderr, stderr
    first = str(pq.read_table(run / "allocations.parquet")["user_id"][0].as_py())
    with small_disk(tmp_path / "disk") as disk:
        disk.fill(0)
        with (disk.path / "proof.json").open("w") as redirected:
            code, stderr = recompense("proof", "--run", str(run), first, stdout=redirected.fileno())
    assert code == 3
    assert stderr.startswith("unavailable: cannot write to standard output")


# ---------------------------------------------------------------------------------
# A bug: 70 with its traceback


def test_a_bug_exits_70_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> None:
        {}["no such key"]  # the bug

    with pytest.raises(typer.Exit) as exited:
        boundary(broken)()
    assert exited.value.exit_code == CONSTANTS["EXIT_INTERNAL"] == 70
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr
    assert "KeyError: 'no such key'" in stderr
    assert "internal error: this is a bug in recompense" in " ".join(stderr.split())


def test_a_bug_in_a_real_process_exits_70(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from recompense.cli.app import Commands

        app = Commands()

        @app.command()
        def explode() -> None:
            raise RuntimeError("a bug")

        app()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 70, done.stderr
    assert "Traceback" in done.stderr
    assert "RuntimeError: a bug" in done.stderr


def test_the_operators_mistake_in_a_unit_exits_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refused() -> None:
        raise errors.InputError("--out x: already exists")

    with pytest.raises(typer.Exit) as exited:
        boundary(refused)()
    assert exited.value.exit_code == 2
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------
# Signals: Ctrl-C is 130, SIGTERM kills with 15; no partial output either way


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], tmp_path: Path, temp: str) -> subprocess.Popen[str]:
    """Start ``recompense ARGS`` and wait until it is writing (its temporary exists)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "recompense.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts background jobs with SIGINT ignored, and a child inherits that:
        # give the command a terminal's default, as an operator's Ctrl-C meets it.
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(temp)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{args[0]} never started writing: {process.communicate()[1]}")
        time.sleep(0.01)
    return process


def test_ctrl_c_during_synth_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "data"
    process = _start(["synth", "--users", "20000000", "--out", str(out)], tmp_path, ".data.tmp-*")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == CONSTANTS["EXIT_INTERRUPTED"] == 130, stderr
    assert "interrupted:" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_a_run_exits_130_and_leaves_no_run_folder(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from recompense.data.synth import generate

    data = tmp_path_factory.mktemp("bigger") / "data"
    generate(150_000, 9, data)
    args = ["run", "--program", str(PROGRAM), "--data", str(data), "--out", str(tmp_path / "run")]
    process = _start(args, tmp_path, ".run.tmp-*")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "interrupted:" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_sigterm_leaves_only_a_hidden_temporary_that_the_next_run_removes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "data"
    process = _start(["synth", "--users", "20000000", "--out", str(out)], tmp_path, ".data.tmp-*")
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGTERM  # a shell shows 128 + 15 = 143
    assert CONSTANTS["EXIT_TERMINATED"] == 128 + signal.SIGTERM
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [f".data.tmp-{process.pid}"]
    code, stderr = recompense("synth", "--users", "500", "--out", str(out))
    assert code == 0, stderr
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
