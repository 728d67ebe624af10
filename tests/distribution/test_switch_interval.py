"""distribute() shortens the GIL's switch interval while it writes, and always restores it.

Its writer thread waits on PostgreSQL while a helper thread builds the next batch; with
CPython's default interval (5 ms) each round trip could cost up to 5 ms more
(``recompense.gil``). The setting is process-wide, so it must come back afterwards,
also when the distribution fails half-way, and nested or concurrent uses must not
restore it early.
"""

from __future__ import annotations

import sys
import threading

import pytest

from builders import approve_twice
from recompense.distribution.distribute import distribute
from recompense.gil import SWITCH_INTERVAL_S, short_switch_interval


def test_distribute_runs_with_a_short_interval_and_restores_it(ledger_url, small_run):
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
    assert set(seen) == {SWITCH_INTERVAL_S}
    assert sys.getswitchinterval() == before


def test_a_failure_half_way_restores_it_too(ledger_url, small_run):
    before = sys.getswitchinterval()

    def fail(done: int, total: int) -> None:
        raise RuntimeError(f"stopped at {done} of {total}")

    approve_twice(small_run, ledger_url)
    with pytest.raises(RuntimeError, match="stopped at 200 of"):
        distribute(small_run, ledger_url, batch_size=200, on_progress=fail)
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
