"""A formula too deep for any parser, as an operator meets it: exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from builders import PROGRAM
from recompense.policy.formula import MAX_DEPTH

DEFAULT = 'weight = "sqrt(loss_usd)'


def recompense(*args: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "recompense.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(params=["parentheses-5000", "minus-5000", "power-chain-65"])
def deep_program(request, tmp_path):
    formula = {
        "parentheses-5000": "(" * 5000 + "loss_usd" + ")" * 5000,
        "minus-5000": "-" * 5000 + "loss_usd",
        "power-chain-65": "loss_usd" + " ^ 1" * (MAX_DEPTH + 1),
    }[request.param]
    text = PROGRAM.read_text(encoding="utf-8")
    assert DEFAULT in text
    start = text.index(DEFAULT) + len('weight = "')
    end = text.index('"', start)
    path = tmp_path / "deep.toml"
    path.write_text(text[:start] + formula + text[end:], encoding="utf-8")
    return path


def test_check_refuses_a_deep_formula_with_exit_2(deep_program):
    result = recompense("check", "--program", deep_program)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "RecursionError" not in result.stderr
    assert "payout.weight" in result.stderr
    assert "at position" in result.stderr


def test_run_refuses_a_deep_formula_with_exit_2_and_writes_nothing(
    deep_program, small_run, tmp_path
):
    out = tmp_path / "run"
    result = recompense(
        "run", "--program", deep_program, "--data", small_run.parent / "data", "--out", out
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "at position" in result.stderr
    assert not out.exists()
