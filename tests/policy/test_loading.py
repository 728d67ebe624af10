"""Both policy files (programme and loan) are read by one loader and fail the same way.

Messages are pinned to the letter: an operator's runbook greps for them.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recompense.errors import InputError
from recompense.loans.errors import LoanPolicyError
from recompense.loans.policy import load_loan_policy, validate_loan_policy
from recompense.policy import PolicyError, load_policy, validate_policy

PROGRAMS = Path(__file__).resolve().parents[2] / "programs"
LOADERS = [
    pytest.param(
        load_policy, PolicyError, "programme file", "together-2025-10.toml", id="programme"
    ),
    pytest.param(
        load_loan_policy, LoanPolicyError, "loan policy file", "loans-2025-10.toml", id="loan"
    ),
]
Loader = Callable[[Path], Any]


def _refusal(load: Loader, path: Path, error: type[InputError]) -> pytest.ExceptionInfo[Any]:
    with pytest.raises(error) as caught:
        load(path)
    return caught


@pytest.mark.parametrize(("load", "error", "kind", "name"), LOADERS)
def test_a_missing_file_is_named(tmp_path, load, error, kind, name):
    path = tmp_path / name
    caught = _refusal(load, path, error)
    assert str(caught.value) == f"{path}: no such {kind}"
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("load", "error", "kind", "name"), LOADERS)
def test_a_directory_cannot_be_read(tmp_path, load, error, kind, name):
    caught = _refusal(load, tmp_path, error)
    assert str(caught.value) == (
        f"{tmp_path}: cannot read {kind}: [Errno 21] Is a directory: '{tmp_path}'"
    )


@pytest.mark.parametrize(("load", "error", "kind", "name"), LOADERS)
def test_a_file_that_is_not_utf8_cannot_be_read(tmp_path, load, error, kind, name):
    path = tmp_path / name
    path.write_bytes(b'id = "\xff"\n')
    caught = _refusal(load, path, error)
    assert str(caught.value) == (
        f"{path}: cannot read {kind}: 'utf-8' codec can't decode byte 0xff in position 6:"
        " invalid start byte"
    )


@pytest.mark.parametrize(("load", "error", "kind", "name"), LOADERS)
def test_a_file_that_is_not_toml_is_named(tmp_path, load, error, kind, name):
    path = tmp_path / name
    path.write_text("[program\nid = 1", encoding="utf-8")
    caught = _refusal(load, path, error)
    assert str(caught.value) == (
        f"{path}: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 9)"
    )
    assert isinstance(caught.value.__cause__, tomllib.TOMLDecodeError)


@pytest.mark.parametrize(("load", "error", "kind", "name"), LOADERS)
def test_every_invalid_key_is_one_line(tmp_path, load, error, kind, name):
    raw = (PROGRAMS / name).read_text(encoding="utf-8")
    path = tmp_path / name
    # An unknown top-level table, a missing key and a wrong value, all in one file.
    first = raw.split("\n[", 2)[1].split("]")[0]  # the first table, e.g. "program" / "fund"
    edited = raw.replace(f"[{first}]\nid = ", f"[{first}]\nident = ", 1)
    path.write_text(edited + "\n[extra]\nx = 1\n", encoding="utf-8")
    ident = tomllib.loads(edited)[first]["ident"]
    caught = _refusal(load, path, error)
    assert str(caught.value).splitlines() == [
        f"{path}: key '{first}.id': is required but missing",
        f"{path}: key '{first}.ident': is not a known key (typo?) (got {ident!r})",
        f"{path}: key 'extra': is not a known key (typo?)",
    ]


@pytest.mark.parametrize(("load", "error", "kind", "name"), LOADERS)
@given(key=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), value=st.integers())
def test_an_unknown_top_level_key_is_named_with_its_value(load, error, kind, name, key, value):
    raw = tomllib.loads((PROGRAMS / name).read_text(encoding="utf-8"))
    assume(key not in raw)
    path = Path("/nonexistent") / name  # never read: the document is validated directly
    validate = validate_policy if load is load_policy else validate_loan_policy
    with pytest.raises(error) as caught:
        validate({key: value, **raw}, source=str(path))
    assert str(caught.value) == f"{path}: key '{key}': is not a known key (typo?) (got {value!r})"


def test_the_loan_desk_reads_its_policy_without_the_programme_package():
    """The shared loader lives outside ``recompense.policy``, whose ``__init__`` loads the
    formula language (NumPy) and the dataset readers: the loan desk has no use for them."""
    code = "import sys, recompense.loans.policy; print('recompense.policy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
