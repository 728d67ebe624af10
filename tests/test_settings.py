"""Settings declared once: every RECOMPENSE_* variable is a field, documented in one table.

The table in ``docs/operations.md`` ("Settings") is generated from the classes; run this
file as a script to rewrite it (``.venv/bin/python tests/test_settings.py``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from recompense.cases.desk import ACTIVE_ENV, KEYS_ENV, CasesSettings
from recompense.engine.backends import EngineSettings, connect
from recompense.errors import InputError
from recompense.ledger.errors import LedgerError
from recompense.ledger.limits import DatabaseSettings
from recompense.loans.settings import LoanDeskSettings
from recompense.notify.settings import NotifySettings
from recompense.proofs.keys import ENV_VAR, CommitmentSettings
from recompense.settings import RecompenseSettings, settings_table
from recompense.web.settings import Settings, WebSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "operations.md"
START, END = "<!-- settings-table:start -->\n", "<!-- settings-table:end -->"
CLASSES: tuple[type[RecompenseSettings], ...] = (
    DatabaseSettings,
    EngineSettings,
    NotifySettings,
    WebSettings,
    CasesSettings,
    LoanDeskSettings,
    CommitmentSettings,
)
NOT_SETTINGS = {"RECOMPENSE_KILL_AT"}  # a test hook (recompense.faults)
HOSTILE = "1GB'; DROP TABLE x; --"


def documented() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)]


def write_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    before, after = text[: text.index(START) + len(START)], text[text.index(END) :]
    DOC.write_text(before + settings_table(CLASSES) + after, encoding="utf-8")


# -- one table -----------------------------------------------------------------------------


def test_the_documented_table_is_the_one_the_classes_make():
    assert documented() == settings_table(CLASSES), "run: .venv/bin/python tests/test_settings.py"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_has_a_row_in_the_table(cls):
    rows = documented()
    missing = [name for name in cls.model_fields if f"| `{cls.env_name(name)}` |" not in rows]
    assert missing == []


def test_every_variable_the_code_names_is_a_declared_setting():
    declared = {cls.env_name(name) for cls in CLASSES for name in cls.model_fields}
    named: set[str] = set()
    for path in (ROOT / "src" / "recompense").rglob("*.py"):
        named |= set(re.findall(r"RECOMPENSE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8")))
    prefixes = {name for name in named if any(d.startswith(name + "_") for d in declared)}
    assert named - declared - NOT_SETTINGS - prefixes == set()


def test_variable_names_are_unique_and_carry_the_prefix():
    names = [cls.env_name(name) for cls in CLASSES for name in cls.model_fields]
    assert len(names) == len(set(names))
    assert all(name.startswith("RECOMPENSE_") for name in names)


def test_the_constants_other_modules_use_are_the_declared_names():
    assert CommitmentSettings.env_name("commitment_key") == ENV_VAR
    assert CasesSettings.env_name("cases_keys") == KEYS_ENV
    assert CasesSettings.env_name("cases_active_key") == ACTIVE_ENV


# -- reading -------------------------------------------------------------------------------


def test_names_are_exact_a_lower_case_spelling_is_not_read():
    limits = DatabaseSettings.from_env({"recompense_db_retries": "9", "RECOMPENSE_DB_RETRIES": "2"})
    assert limits.retries == 2
    assert NotifySettings.from_env({"recompense_notify_batch": "7"}).batch == 200


def test_built_in_code_the_environment_is_not_read(monkeypatch):
    monkeypatch.setenv("RECOMPENSE_DB_RETRIES", "9")
    assert DatabaseSettings().retries == 5
    assert DatabaseSettings.from_env().retries == 9


def test_a_value_pydantic_refuses_in_code_still_names_the_variable():
    with pytest.raises(LedgerError, match=r"^RECOMPENSE_DB_RETRIES=1\.5: ") as caught:
        DatabaseSettings(retries=1.5)
    assert caught.value.exit_code == 2


def test_replace_validates_like_construction():
    assert DatabaseSettings().replace(retries=0).retries == 0
    with pytest.raises(LedgerError, match="RECOMPENSE_DB_RETRIES=101: must be between 0 and 100"):
        DatabaseSettings().replace(retries=101)


def test_secrets_stay_out_of_repr():
    key = "ab" * 32
    assert key not in repr(CommitmentSettings.from_env({ENV_VAR: key}))
    assert "k1:" not in repr(CasesSettings.from_env({KEYS_ENV: "k1:AAAA"}))
    assert "s3cret-s3cret" not in repr(
        WebSettings.from_env({"RECOMPENSE_JWT_SECRET": "s3cret-s3cret"})
    )


def test_the_web_service_reads_only_declared_variables():
    env = {"RECOMPENSE_DB_URL": "sqlite://", "RECOMPENSE_JWT_SECRET": "k" * 32}
    assert Settings.from_env({**env, "RECOMPENSE_JWT_ISSUER": "idp"}).issuer == "idp"
    assert WebSettings.from_env(env).variables() == env


# -- the engine: validated, then passed to DuckDB as configuration, never as SQL -----------


def test_duckdb_gets_the_settings_as_its_configuration(tmp_path):
    spill = tmp_path / "it's spill"
    engine = EngineSettings.from_env(
        {
            "RECOMPENSE_DUCKDB_MEMORY_LIMIT": " 40MB ",
            "RECOMPENSE_DUCKDB_THREADS": "2",
            "RECOMPENSE_DUCKDB_TEMP_DIR": str(spill),
        }
    )
    con = connect(settings=engine)
    row = con.raw_sql(
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory'), current_setting('TimeZone')"
    ).fetchone()
    assert row == ("38.1 MiB", 2, str(spill), "UTC")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RECOMPENSE_DUCKDB_MEMORY_LIMIT", HOSTILE, "not a memory size like 4GB"),
        ("RECOMPENSE_DUCKDB_MEMORY_LIMIT", "lots", "not a memory size like 4GB"),
        ("RECOMPENSE_DUCKDB_THREADS", "2; DROP TABLE x", "not a whole number of threads"),
        ("RECOMPENSE_DUCKDB_THREADS", "0", "not a whole number of threads"),
        ("RECOMPENSE_DUCKDB_TEMP_DIR", "/tmp/x\n'; --", "not a path"),
        ("RECOMPENSE_SPARK_CONF", "x=1", "expected spark.key=value"),
    ],
)
def test_bad_engine_settings_are_refused_naming_the_variable(variable, value, message):
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        EngineSettings.from_env({variable: value})
    assert str(caught.value).startswith(f"{variable}")
    assert caught.value.exit_code == 2


def test_a_hostile_memory_limit_stops_the_run_command_with_exit_2(tmp_path):
    from builders import PROGRAM
    from recompense.cli.main import app

    args = ["run", "--program", str(PROGRAM), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args, env={"RECOMPENSE_DUCKDB_MEMORY_LIMIT": HOSTILE})
    assert result.exit_code == 2, result.output
    assert "RECOMPENSE_DUCKDB_MEMORY_LIMIT=" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@settings(max_examples=150, deadline=None)
@given(raw=st.one_of(st.text(max_size=12), st.from_regex(r"[0-9]{1,4} ?[KMGT]i?B", fullmatch=True)))
def test_any_memory_limit_is_refused_by_name_or_taken_by_duckdb(raw):
    try:
        engine = EngineSettings.from_env({"RECOMPENSE_DUCKDB_MEMORY_LIMIT": raw})
    except InputError as exc:
        assert str(exc).startswith("RECOMPENSE_DUCKDB_MEMORY_LIMIT=")
        return
    config = engine.duckdb_config()
    # DuckDB takes it (a tiny cap such as 0B fails later, with advice: test_out_of_core).
    duckdb.connect(config=config).close()
    assert set(config) <= {"memory_limit"}


if __name__ == "__main__":
    write_doc()
    sys.exit(0)
