"""The wheel must carry every non-Python file the package reads at run time.

An editable install (what `make install` does) finds templates, static assets and
migrations in the source tree whatever pyproject.toml says; a wheel carries only what
`[tool.setuptools.package-data]` names. This test keeps the two in step.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "recompense"


def test_package_data_names_every_data_file_and_every_migration():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["recompense"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    needed = {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".py", ".pyc"}
    }
    # Migrations live in a folder that is not a package: name them explicitly.
    needed |= set((PACKAGE / "ledger" / "migrations" / "versions").glob("*.py"))
    assert needed, "no data files found: is the package layout as expected?"
    missing = sorted(str(p.relative_to(PACKAGE)) for p in needed - shipped)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
