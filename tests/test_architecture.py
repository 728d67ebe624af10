"""Imports point one way (docs/architecture.md): the contracts in pyproject.toml hold.

``lint-imports`` (import-linter) reads ``[tool.importlinter]`` and checks the source tree
under test (``src/``, put first on the path); a broken contract fails with the linter's
report, which names the importing module, the line and the chain. The second test
proves the contracts have teeth: the loan fund's routes importing the web service from
inside the loan library — the cycle issue 18 removed — is refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from recompense.runs.reasons import PASSES_COLUMNS, REASON_CODES, RULES_BY_CODE

ROOT = Path(__file__).resolve().parents[1]
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_the_import_contracts_hold() -> None:
    done = lint_imports(ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_domain_package_importing_the_web_service_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "recompense", src / "recompense")
    desk = src / "recompense" / "loans" / "desk.py"
    desk.write_text(desk.read_text() + "\nfrom recompense.web import pages  # noqa\n")
    done = lint_imports(src)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "recompense.loans is not allowed to import recompense.web" in done.stdout


def test_the_engine_checks_the_rules_in_the_published_order() -> None:
    from recompense.engine import RULES

    assert tuple(rule.code for rule in RULES) == REASON_CODES


def test_each_rule_reads_its_column_and_says_its_rule() -> None:
    from recompense.engine import RULES

    assert {rule.code: (rule.column, rule.describe) for rule in RULES} == {
        code: (PASSES_COLUMNS[code], RULES_BY_CODE[code]) for code in REASON_CODES
    }


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package in ``src`` with the project's contracts, uncached."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=src.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
