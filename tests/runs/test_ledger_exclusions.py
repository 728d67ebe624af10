"""Exclusions across programmes come from the books: ``recompense run --db``.

Programme A (``depeg-2025-10``: the Together Initiative's policy with another id, no
exclusions and a higher minimum loss, so it pays a subset) is distributed into the
ledger; then programme B (``together-2025-10``, which lists A in ``excluding_programs``)
runs on the same dataset, whose ``prior_compensation`` file is empty. The expected
exclusions are computed apart from the code under test: B's eligible users without
``--db``, intersected with A's allocations and the users of A's amendment vouchers.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from builders import PROGRAM, approve_twice, sign_in
from recompense.cli.main import app
from recompense.data.synth import generate
from recompense.distribution.distribute import distribute
from recompense.ledger.db import connect
from recompense.ledger.journal import (
    Posting,
    close_entry,
    ensure_account,
    fund_code,
    liability_code,
    open_entry,
)
from recompense.ledger.schema import programs, vouchers
from recompense.runs import execute_run, read_allocations
from recompense.runs.artifacts import sha256_file

DEPEG = "depeg-2025-10"
AMENDMENT = "depeg-2025-10-a1"
BUDGET = Decimal("50000")
AMENDED_AT = datetime(2025, 10, 11, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    data: Path
    depeg_policy: Path
    depeg_run: Path
    plain_run: Path  # programme B without --db

    def program_file(self, name: str, excluding: list[str]) -> Path:
        """B's policy listing ``excluding`` (the shipped one lists ``depeg-2025-10``)."""
        listed = ", ".join(f'"{p}"' for p in excluding)
        path = self.data.parent / name
        path.write_text(
            PROGRAM.read_text().replace(
                'excluding_programs = ["depeg-2025-10"]', f"excluding_programs = [{listed}]"
            )
        )
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("ledger-exclusions")
    generate(10_000, 5, root / "data")
    prior = pq.read_table(root / "data" / "prior_compensation.parquet")
    pq.write_table(prior.slice(0, 0), root / "data" / "prior_compensation.parquet")
    depeg = root / "depeg.toml"
    depeg.write_text(
        PROGRAM.read_text()
        .replace('id = "together-2025-10"', f'id = "{DEPEG}"')
        .replace('excluding_programs = ["depeg-2025-10"]', "excluding_programs = []")
        .replace('min_loss_usd = "50.00"', 'min_loss_usd = "2000.00"')
    )
    execute_run(depeg, root / "data", root / "a", budget_usd=BUDGET)
    execute_run(PROGRAM, root / "data", root / "plain", budget_usd=BUDGET)
    return World(root / "data", depeg, root / "a", root / "plain")


@dataclass(frozen=True)
class Books:
    url: str
    payees: frozenset[int]  # A's allocations
    amended: frozenset[int]  # users of A's amendment vouchers only


@pytest.fixture
def books(world, ledger_url) -> Books:
    """A distributed into the ledger, plus an amendment of A paying two more users."""
    approve_twice(world.depeg_run, ledger_url)
    distribute(world.depeg_run, ledger_url, batch_size=100)
    payees = frozenset(read_allocations(world.depeg_run)["user_id"].to_pylist())
    amended = sorted(eligible(world.plain_run) - payees)[:2]
    _amend(ledger_url, amended)
    return Books(ledger_url, payees, frozenset(amended))


def eligible(run: Path) -> set[int]:
    rows = pq.read_table(run / "eligibility.parquet", columns=["user_id", "eligible"])
    return {r["user_id"] for r in rows.to_pylist() if r["eligible"]}


def compensated(run: Path) -> set[int]:
    rows = pq.read_table(run / "eligibility.parquet", columns=["user_id", "reasons"])
    return {r["user_id"] for r in rows.to_pylist() if "ALREADY_COMPENSATED" in r["reasons"]}


def liquidated(run: Path) -> set[int]:
    return set(pq.read_table(run / "eligibility.parquet", columns=["user_id"])[0].to_pylist())


def run_cli(*args: str) -> object:
    return CliRunner().invoke(app, ["run", "--json", *args], catch_exceptions=False)


def run_b(world: World, out: Path, url: str, *extra: str) -> object:
    return run_cli(
        "--program",
        str(PROGRAM),
        "--data",
        str(world.data),
        "--out",
        str(out),
        "--budget-usd",
        str(BUDGET),
        "--db",
        url,
        *extra,
    )


def test_the_books_exclude_exactly_the_payees_b_would_otherwise_pay(world, books, tmp_path):
    result = run_b(world, tmp_path / "b", books.url)
    assert result.exit_code == 0, result.output
    paid = books.payees | books.amended
    would_pay = eligible(world.plain_run)
    expected = would_pay & paid
    assert len(expected) > 10
    assert books.amended <= expected  # an amendment's vouchers count for its base programme
    assert would_pay - eligible(tmp_path / "b") == expected
    assert eligible(tmp_path / "b") == would_pay - paid
    assert compensated(tmp_path / "b") == liquidated(world.plain_run) & paid
    assert not compensated(world.plain_run)  # no prior_compensation file did it


def test_the_ledger_exclusions_are_an_input_hashed_in_the_manifest(world, books, tmp_path):
    assert run_b(world, tmp_path / "b", books.url).exit_code == 0
    run = tmp_path / "b"
    manifest = json.loads((run / "manifest.json").read_text())
    digest = sha256_file(run / "ledger_exclusions.parquet")
    (entry,) = manifest["inputs"]["ledger_exclusions"]
    assert manifest["artifacts"]["ledger_exclusions.parquet"] == digest
    assert entry["sha256"] == digest
    assert entry["path"] == "ledger_exclusions.parquet"
    assert entry["source"] == "ledger"
    assert entry["db"] == connect(books.url).url.render_as_string(hide_password=True)
    assert entry["missing_programs"] == []
    assert datetime.fromisoformat(entry["read_at"]) <= datetime.now(UTC)
    table = pq.read_table(run / "ledger_exclusions.parquet")
    assert table.column_names == ["program_id", "user_id", "paid_at"]
    assert set(table["program_id"].to_pylist()) == {DEPEG}
    assert set(table["user_id"].to_pylist()) == books.payees | books.amended
    assert entry["rows"] == table.num_rows == len(books.payees | books.amended)
    when = {r["user_id"]: r["paid_at"] for r in table.to_pylist()}
    assert {when[u] for u in books.amended} == {AMENDED_AT}
    assert table["user_id"].to_pylist() == sorted(table["user_id"].to_pylist())


def test_the_same_books_give_the_same_file(world, books, tmp_path):
    for name in ("b1", "b2"):
        assert run_b(world, tmp_path / name, books.url).exit_code == 0
    first, second = (tmp_path / n / "ledger_exclusions.parquet" for n in ("b1", "b2"))
    assert first.read_bytes() == second.read_bytes()


def test_a_ledger_that_paid_nobody_changes_no_artifact(world, ledger_url, tmp_path):
    result = run_b(world, tmp_path / "b", ledger_url)
    assert result.exit_code == 0, result.output
    for name in ("eligibility.parquet", "allocations.parquet", "recipients.parquet"):
        assert (tmp_path / "b" / name).read_bytes() == (world.plain_run / name).read_bytes()
    assert "warning: excluding programme 'depeg-2025-10' is not in the ledger" in result.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["inputs"]["ledger_exclusions"][0]["missing_programs"] == [DEPEG]


def test_a_listed_programme_absent_from_the_ledger_is_a_warning(world, books, tmp_path):
    policy = world.program_file("two.toml", [DEPEG, "ghost-2024"])
    result = run_cli(
        "--program", str(policy), "--data", str(world.data), "--out", str(tmp_path / "b"),
        "--budget-usd", str(BUDGET), "--db", books.url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning:") == 1
    assert "'ghost-2024' is not in the ledger" in result.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    (entry,) = manifest["inputs"]["ledger_exclusions"]
    assert entry["programs"] == [DEPEG, "ghost-2024"]
    assert entry["missing_programs"] == ["ghost-2024"]
    assert eligible(tmp_path / "b") == eligible(world.plain_run) - books.payees - books.amended


def test_without_db_the_manifest_names_no_ledger(world):
    manifest = json.loads((world.plain_run / "manifest.json").read_text())
    assert "ledger_exclusions" not in manifest["inputs"]
    assert "ledger_exclusions.parquet" not in manifest["artifacts"]
    assert not (world.plain_run / "ledger_exclusions.parquet").exists()


def test_the_password_of_the_ledger_is_not_kept(world, postgres_ledger_url, tmp_path):
    # The test server trusts local logins, so any password connects.
    url = postgres_ledger_url.replace(
        "postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:hunter2@"
    )
    assert run_b(world, tmp_path / "b", url).exit_code == 0
    manifest = (tmp_path / "b" / "manifest.json").read_text()
    assert "hunter2" not in manifest
    assert "postgres:***@" in json.loads(manifest)["inputs"]["ledger_exclusions"][0]["db"]


def test_a_ledger_that_is_down_stops_the_run_with_exit_3_and_no_folder(world, tmp_path):
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    result = run_b(world, tmp_path / "runs" / "b", url)
    assert result.exit_code == 3, result.output
    assert "unavailable:" in result.stderr
    assert "secret" not in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.usefixtures("spark_backend")  # Java present, or skipped/failed as CI says
def test_spark_excludes_the_same_users_from_the_books(world, tmp_path):
    from recompense.ledger.db import upgrade

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    approve_twice(world.depeg_run, url)
    distribute(world.depeg_run, url)
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        assert (
            run_b(world, out, url, "--engine", engine, "--spark-master", "local[2]").exit_code == 0
        )
    duck, spark = tmp_path / "duckdb", tmp_path / "spark"
    assert eligible(duck) == eligible(world.plain_run) - set(
        read_allocations(world.depeg_run)["user_id"].to_pylist()
    )
    for name in ("eligibility.parquet", "allocations.parquet", "ledger_exclusions.parquet"):
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name


def test_the_eligibility_page_names_the_programme_and_the_date(world, books, tmp_path):
    from recompense.web.app import create_app
    from recompense.web.auth import mint_token
    from recompense.web.settings import Settings

    run = tmp_path / "b"
    assert run_b(world, run, books.url).exit_code == 0
    approve_twice(run, books.url)
    distribute(run, books.url)
    settings = Settings.from_env({"RECOMPENSE_JWT_SECRET": "s" * 48}, db_url=books.url)
    application = create_app(settings)
    user = min(books.amended)
    path = f"/programs/together-2025-10/users/{user}/eligibility"
    said = {
        # Programme A is the Together policy under the id depeg-2025-10: named as the
        # ledger names it, with its id.
        "en": "You were compensated by “Together Initiative — USDC token vouchers” "
        "(depeg-2025-10) on 11 Oct 2025; this programme excludes users already compensated.",
        "es": "Ya recibió una compensación de «Together Initiative — USDC token vouchers» "
        "(depeg-2025-10) el 11 oct 2025; este programa excluye a quienes ya fueron "
        "compensados.",
    }
    with warnings.catch_warnings():
        # Starlette 1.x prefers the httpx2 package; httpx works and is what is installed.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    for locale, sentence in said.items():
        token = mint_token(settings, role="user", user_id=user, locale=locale)
        with TestClient(application) as client:
            api = client.get(f"/api{path}", headers={"Authorization": f"Bearer {token}"})
            sign_in(client, token)
            page = client.get(path, headers={"Accept": "text/html"})
        (criterion,) = [c for c in api.json()["criteria"] if c["code"] == "ALREADY_COMPENSATED"]
        assert criterion["detail"] == sentence
        assert api.json()["reasons"] == ["ALREADY_COMPENSATED"]
        assert page.status_code == 200
        assert sentence in page.text


def test_a_file_based_exclusion_names_the_programme_without_a_date(small_run):
    from recompense.runs import run_fingerprint
    from recompense.web.i18n import Translator, criterion_text
    from recompense.web.runindex import load_run
    from recompense.web.story import Paid, story

    index = load_run(small_run, run_fingerprint(small_run))
    user = min(compensated(small_run))
    told = story(index, user)
    assert told.compensated_by == (Paid(DEPEG, None),)
    assert criterion_text(Translator("en"), told, "ALREADY_COMPENSATED", False) == (
        "You were compensated by depeg-2025-10; this programme excludes users already compensated."
    )


def _amend(url: str, users: list[int]) -> None:
    """An amendment row of A (``base_program_id``) and one issue entry with its vouchers."""
    engine = connect(url)
    with engine.begin() as conn:
        base = conn.execute(programs.select().where(programs.c.id == DEPEG)).mappings().one()
        row = dict(base) | {
            "id": AMENDMENT,
            "base_program_id": DEPEG,
            "amendment_seq": 1,
            "previous_fingerprint": base["run_fingerprint"],
            "vouchers_total": len(users),
            "amount_total_cents": 500 * len(users),
        }
        conn.execute(programs.insert().values(**row))
        fund = ensure_account(conn, fund_code(AMENDMENT), "fund", "USDC", AMENDED_AT)
        liability = ensure_account(conn, liability_code(AMENDMENT), "liability", "USDC", AMENDED_AT)
        total = 500 * len(users)
        entry = open_entry(conn, [Posting(fund, -total, "USDC"), Posting(liability, total, "USDC")])
        conn.execute(
            vouchers.insert(),
            [
                {
                    "id": f"00000000-0000-8000-8001-{user:012d}",
                    "program_id": AMENDMENT,
                    "user_id": user,
                    "amount_cents": 500,
                    "currency": "USDC",
                    "status": "issued",
                    "issued_at": AMENDED_AT,
                    "expires_at": AMENDED_AT + timedelta(days=14),
                    "issue_entry_id": entry,
                }
                for user in users
            ],
        )
        close_entry(
            conn,
            entry,
            program_id=AMENDMENT,
            kind="issue",
            idempotency_key=f"issue:{AMENDMENT}",
            now=AMENDED_AT,
        )
