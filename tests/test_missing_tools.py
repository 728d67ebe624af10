"""A tool the host lacks skips its tests, unless the run says they must not skip (CI)."""

from __future__ import annotations

import pytest

from builders import missing_tool


def test_a_missing_tool_skips_by_default(monkeypatch):
    monkeypatch.delenv("RECOMPENSE_REQUIRE_NODE", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"Node\.js is needed"):
        missing_tool("Node.js is needed", "RECOMPENSE_REQUIRE_NODE")


def test_a_required_tool_that_is_missing_fails(monkeypatch):
    monkeypatch.setenv("RECOMPENSE_REQUIRE_SPARK", "1")
    with pytest.raises(pytest.fail.Exception, match="RECOMPENSE_REQUIRE_SPARK=1"):
        missing_tool("Spark needs Java 17 on PATH", "RECOMPENSE_REQUIRE_SPARK")


def test_ci_requires_every_tool_the_suite_can_skip_for():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    for name in ("POSTGRES", "BROWSER", "REAL_DATA", "FAULTS", "SPARK", "NODE"):
        assert f"export RECOMPENSE_REQUIRE_{name}=1" in script, name
