"""Ledger commands that talk to the database directly refuse a bad ``--db`` with exit 2.

Found by the CLI fuzz: ``expire``, ``redeem`` and ``revoke`` ran their first query on
an unmigrated file or a refused connection and crashed with a SQL error.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recompense.cli.main import app

COMMANDS = [
    ["expire", "--program", "together-2025-10"],
    ["redeem", "8faa5a5d-0000-8134-96c7-4a534863fcb7", "--user-id", "43"],
    ["revoke", "8faa5a5d-0000-8134-96c7-4a534863fcb7", "--reason", "test"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_an_unmigrated_database_is_named_with_the_fix(args, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, [*args, "--db", url])
    assert result.exit_code == 2
    assert _exited(result)
    assert "run `recompense db upgrade --db URL` first" in " ".join(result.output.split())


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_a_database_that_cannot_be_reached_is_named(args):
    result = CliRunner().invoke(app, [*args, "--db", "sqlite:////nonexistent/dir/x.db"])
    assert result.exit_code == 2
    assert _exited(result)
    assert "--db sqlite:////nonexistent/dir/x.db: cannot connect" in result.output


def test_a_user_id_beyond_int64_is_refused_by_the_parser(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, [*COMMANDS[1][:2], "--user-id", str(2**63), "--db", url])
    assert result.exit_code == 2
    assert _exited(result)
    assert not (tmp_path / "empty.db").exists()  # refused before the database is touched


def _exited(result) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)
