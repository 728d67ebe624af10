"""The two locks agree with pyproject.toml and with each other (docs/dependencies.md).

``requirements/runtime.lock`` is what a production install gets, ``requirements/dev.lock``
what ``make install`` (demo, tests, CI) gets; both come from ``make lock`` with a hash
for every file. These checks catch a hand edit or a half-run ``make lock``: a missing
hash (``--require-hashes`` would refuse the whole install), a test tool in production,
a dropped platform marker, or the two locks drifting apart.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
TEST_TOOLS = ("pytest", "hypothesis", "playwright", "pyspark", "ruff", "mypy", "schemathesis")


def read_lock(name: str) -> dict[str, Requirement]:
    """Pinned requirements by canonical name; fails on a pin without a hash."""
    text = (LOCKS / name).read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", " ", "-")):
            continue
        spec, _, hashes = line.partition("--hash=")
        assert hashes.startswith("sha256:"), f"{name}: no hash for {spec.strip()!r}"
        requirement = Requirement(spec.strip())
        pins[canonicalize_name(requirement.name)] = requirement
    return pins


def declared(group: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return [Requirement(line) for line in lines]


def pinned_version(requirement: Requirement) -> Version:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not an exact pin"
    return Version(specifier.version)


@pytest.mark.parametrize("lock", ["runtime.lock", "dev.lock"])
def test_every_pin_is_exact_and_hashed(lock):
    pins = read_lock(lock)
    assert len(pins) > 20, f"{lock}: suspiciously few pins"
    loose = [str(r) for r in pins.values() if [s.operator for s in r.specifier] != ["=="]]
    assert not loose, f"{lock}: not exact pins: {loose}"


def test_runtime_pins_are_the_dev_pins():
    runtime, dev = read_lock("runtime.lock"), read_lock("dev.lock")
    differ = {n: (str(r), str(dev.get(n))) for n, r in runtime.items() if dev.get(n) != r}
    assert not differ, f"runtime.lock and dev.lock disagree (run make lock): {differ}"


@pytest.mark.parametrize("tool", TEST_TOOLS)
def test_no_test_tool_is_installed_in_production(tool):
    assert tool not in read_lock("runtime.lock")


@pytest.mark.parametrize(
    ("lock", "group"), [("runtime.lock", None), ("dev.lock", "dev"), ("dev.lock", "spark")]
)
def test_each_declared_dependency_is_locked_within_its_range(lock, group):
    pins = read_lock(lock)
    for requirement in declared(group):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock}: {requirement} is not locked (run make lock)"
        version = pinned_version(pins[name])
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}: {name}=={version} is outside {requirement.specifier}"
        )


@pytest.mark.parametrize("lock", ["runtime.lock", "dev.lock"])
def test_platform_markers_survive_locking(lock):
    markers = {
        canonicalize_name(r.name): str(r.marker) for r in declared(None) if r.marker is not None
    }
    assert markers, "no marked dependency left in pyproject.toml: drop this test"
    pins = read_lock(lock)
    for name, marker in markers.items():
        assert str(pins[name].marker) == marker, f"{lock}: {name} lost its marker {marker}"


def test_the_makefile_installs_the_dev_lock_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*--require-hashes -r requirements/dev\.lock", makefile)
