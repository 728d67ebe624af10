"""The service's list of programmes: read once, then re-read in the background.

A programme distributed while the service runs appears without a restart; a request
never waits for the re-read (shown by locking the table the read needs: the request
answers with the list it has while the re-read waits); a failed re-read keeps the last
list and tries again later.
"""

from __future__ import annotations

import logging
import time

import psycopg
from web_support import PROGRAM, settings_for

from builders import approve_twice
from recompense.distribution.distribute import distribute
from recompense.web import service as service_module
from recompense.web.service import Service


def _eventually(check, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _ids(svc: Service) -> list[str]:
    return [p.id for p in svc.programmes()]


def _plain(url: str) -> tuple[str, str]:
    """A psycopg URL and the schema of a test's PostgreSQL ledger URL."""
    base, _, query = url.partition("?")
    schema = query.split("search_path%3D", 1)[1].split("&", 1)[0]
    return base.replace("postgresql+psycopg://", "postgresql://"), schema


def test_a_programme_distributed_later_appears_without_a_restart(
    ledger_url, web_run, rsa_keys, monkeypatch
):
    asked, listed = (Service(settings_for(ledger_url, rsa_keys)) for _ in range(2))
    assert _ids(asked) == []
    assert _ids(listed) == []  # the first call reads the ledger, now
    approve_twice(web_run, ledger_url)
    distribute(web_run, ledger_url, batch_size=500)
    assert _ids(asked) == []
    assert _ids(listed) == []  # fresh enough: not read again
    # Asked for by id, a programme the list does not have yet is read at once.
    assert asked.programme(PROGRAM).id == PROGRAM
    # Once the list is old, a background re-read brings the programme in, its run loaded
    # before the list shows it: the first request about it needs no I/O.
    monkeypatch.setattr(service_module, "REFRESH_S", 0.0)
    assert _eventually(lambda: _ids(listed) == [PROGRAM])
    assert listed.in_memory(PROGRAM)
    _close(monkeypatch, asked, listed)


def test_no_request_waits_for_the_re_read(postgres_ledger_url, web_run, rsa_keys, monkeypatch):
    approve_twice(web_run, postgres_ledger_url)
    distribute(web_run, postgres_ledger_url, batch_size=500)
    svc = Service(settings_for(postgres_ledger_url, rsa_keys))
    assert _ids(svc) == [PROGRAM]
    monkeypatch.setattr(service_module, "REFRESH_S", 0.0)
    plain, schema = _plain(postgres_ledger_url)
    with psycopg.connect(plain) as blocker:
        blocker.execute(f"LOCK TABLE {schema}.programs IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        for _ in range(20):  # each call finds the list stale; one re-read is under way
            assert _ids(svc) == [PROGRAM]
        answered_in = time.monotonic() - started
        assert svc._refreshing.locked()  # the re-read is waiting for the lock
        time.sleep(0.5)
        assert svc._refreshing.locked()  # still: it really is blocked, not done
        blocker.rollback()  # the lock goes; the re-read finishes
    assert _eventually(lambda: not svc._refreshing.locked())
    assert answered_in < 0.5  # 20 answers while the read was blocked for 0.5 s and more
    _close(monkeypatch, svc)


def test_a_failed_re_read_keeps_the_last_list(
    postgres_ledger_url, web_run, rsa_keys, monkeypatch, caplog
):
    approve_twice(web_run, postgres_ledger_url)
    distribute(web_run, postgres_ledger_url, batch_size=500)
    svc = Service(settings_for(postgres_ledger_url, rsa_keys))
    assert _ids(svc) == [PROGRAM]
    plain, schema = _plain(postgres_ledger_url)
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f"ALTER TABLE {schema}.programs RENAME TO programs_away")
        monkeypatch.setattr(service_module, "REFRESH_S", 0.0)
        with caplog.at_level(logging.WARNING, logger="recompense.web.service"):
            assert _ids(svc) == [PROGRAM]
            assert _eventually(lambda: "re-reading the programmes failed" in caplog.text)
        assert _eventually(lambda: not svc._refreshing.locked())
        assert _ids(svc) == [PROGRAM]  # the last list, kept
        admin.execute(f"ALTER TABLE {schema}.programs_away RENAME TO programs")
    svc._programmes = {}
    assert _eventually(lambda: _ids(svc) == [PROGRAM])  # read again once the table is back
    _close(monkeypatch, svc)


def _close(monkeypatch, *services: Service) -> None:
    """No new re-read, those under way finished, then the engines (shared) closed."""
    monkeypatch.setattr(service_module, "REFRESH_S", 3600.0)
    for svc in services:
        assert _eventually(lambda svc=svc: not svc._refreshing.locked())
    for svc in services:
        svc.engine.dispose()
        svc.reads.dispose()


def test_in_memory_says_when_an_answer_needs_no_io(ledger_url, web_run, rsa_keys, monkeypatch):
    """What lets the eligibility route answer on the event loop: never while a read or a
    run load would be needed."""
    approve_twice(web_run, ledger_url)
    distribute(web_run, ledger_url, batch_size=500)
    svc = Service(settings_for(ledger_url, rsa_keys))
    assert not svc.in_memory()
    assert not svc.in_memory(PROGRAM)  # nothing read yet
    assert _ids(svc) == [PROGRAM]
    assert svc.in_memory()  # the list is read
    assert not svc.in_memory(PROGRAM)  # its run is not loaded yet
    assert not svc.in_memory("no-such-programme")
    svc.index(PROGRAM)
    assert svc.in_memory(PROGRAM)
    assert not svc.in_memory("no-such-programme")  # unknown: the thread pool reads again
    _close(monkeypatch, svc)
