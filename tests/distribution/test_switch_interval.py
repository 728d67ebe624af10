"""The GIL's switch interval is process-wide state, set at the process's entry point.

``distribute()``'s writer thread waits on PostgreSQL while a helper thread builds the
next batch; with CPython's default interval (5 ms) each round trip could cost up to 5 ms
more (``recompense.gil``). The library call leaves the interval alone (a library must
not change its caller's process); the ``recompense distribute`` command shortens it for
its run and restores it afterwards, also when the command fails. Nested or concurrent
uses of :func:`short_switch_interval` must not restore it early.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from builders import approve_twice
from recompense.cli.main import app
from recompense.distribution.distribute import distribute
from recompense.gil import SWITCH_INTERVAL_S, short_switch_interval


@contextmanager
def sampled_intervals() -> Iterator[set[float]]:
    """Every switch interval seen while the block runs (sampled every ~0.2 ms)."""
    seen: set[float] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.0002):
            seen.add(sys.getswitchinterval())

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join(10)


def test_the_library_call_leaves_the_process_interval_alone(ledger_url, small_run):
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # CPython's default, 5 ms
    seen: list[float] = []
    approve_twice(small_run, ledger_url)
    result = distribute(
        small_run,
        ledger_url,
        batch_size=200,
        on_progress=lambda done, total: seen.append(sys.getswitchinterval()),
    )
    assert result.issued_now > 0
    assert len(seen) >= 2
    assert set(seen) == {before}
    assert sys.getswitchinterval() == before


def test_the_distribute_command_runs_with_a_short_interval_and_restores_it(ledger_url, small_run):
    before = sys.getswitchinterval()
    approve_twice(small_run, ledger_url)
    args = ["distribute", "--run", str(small_run), "--db", ledger_url, "--batch-size", "20"]
    with sampled_intervals() as seen:
        result = CliRunner().invoke(app, [*args, "--as", "ops:carol", "--json"])
    assert result.exit_code == 0, result.output
    assert SWITCH_INTERVAL_S in seen
    assert sys.getswitchinterval() == before


def test_a_failing_command_restores_it_too(ledger_url, small_run):
    before = sys.getswitchinterval()
    # Not approved: the command is refused (exit 2) after the interval was shortened.
    args = ["distribute", "--run", str(small_run), "--db", ledger_url, "--as", "ops:carol"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert sys.getswitchinterval() == before


def test_nested_and_concurrent_uses_restore_it_once_the_last_ends():
    before = sys.getswitchinterval()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with short_switch_interval():
            inside.set()
            release.wait(10)

    with short_switch_interval():
        with short_switch_interval():
            assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S  # the outer block still runs
        thread = threading.Thread(target=other)
        thread.start()
        assert inside.wait(10)
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S  # the other thread's block still runs
    release.set()
    thread.join(10)
    assert sys.getswitchinterval() == before


def test_a_failure_inside_the_block_restores_it():
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError, match="half-way"), short_switch_interval():
        raise RuntimeError("stopped half-way")
    assert sys.getswitchinterval() == before
