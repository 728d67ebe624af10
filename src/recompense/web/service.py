"""The application's state: the ledger engine, its programmes, and their runs in memory.

One :class:`Service` per process. The list of programmes is read once, then re-read in
the background when it is more than a few seconds old (a newly distributed programme
appears without a restart, and no request waits for the read); each
programme's run folder is loaded once into a :class:`~recompense.web.runindex.RunIndex`
and its proofs store opened once (a :class:`~recompense.proofs.Prover`), both keyed by
the run fingerprint the ledger recorded, so a lookup never touches Parquet.

It raises domain errors, never HTTP answers (:mod:`recompense.web.problems` makes those):
:class:`ProgrammeNotFound` (404) for a programme the ledger does not list, and
:class:`~recompense.web.errors.ProgrammeUnavailable` (503) for one whose run folder or
proofs cannot be read; :func:`served` says which a run folder's error is.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from recompense.errors import NotFoundError, RecompenseError, UnavailableError
from recompense.ledger.db import connect, connect_reads, require_schema
from recompense.proofs.errors import NotCommittedError
from recompense.web import queries
from recompense.web.errors import ProgrammeUnavailable
from recompense.web.runindex import RunIndex, load_run
from recompense.web.settings import Settings

if TYPE_CHECKING:
    from recompense.proofs import Prover

REFRESH_S = 5.0
log = logging.getLogger(__name__)


class ProgrammeNotFound(NotFoundError):
    """No such programme in the ledger, or none with published proofs yet (404, with
    this message: programme ids are public)."""

    shown = True


@contextlib.contextmanager
def served(program_id: str) -> Iterator[None]:
    """Say whose fault a run folder's error is while serving ``program_id``.

    The run folder is the server's, not the caller's: an error reading it (missing,
    another run's, corrupt, the wrong commitment key) becomes
    :class:`~recompense.web.errors.ProgrammeUnavailable` naming the programme. A
    :class:`~recompense.errors.NotFoundError` (a user without a payout) is the
    caller's answer and an :class:`~recompense.errors.UnavailableError` already says
    what failed: both go on as they are.
    """
    try:
        yield
    except (NotFoundError, UnavailableError):
        raise
    except RecompenseError as exc:
        raise ProgrammeUnavailable(f"programme {program_id}: {exc}") from exc


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = connect(settings.db_url)
        require_schema(self.engine)
        self.reads: Engine = connect_reads(settings.db_url)
        self._lock = threading.Lock()
        self._programmes: dict[str, queries.Programme] = {}
        self._read_at: float | None = None  # never read yet
        self._refreshing = threading.Lock()  # at most one background read at a time
        self._indexes: dict[tuple[str, str], RunIndex] = {}
        self._provers: dict[tuple[str, str], Prover] = {}
        self.cache: dict[tuple[str, str, str], Any] = {}  # derived figures per run

    def programmes(self) -> list[queries.Programme]:
        """The programmes in the ledger as last read (read now only the first time).

        A list older than :data:`REFRESH_S` is re-read by a background thread (which
        also loads the run of a programme distributed since, before the list shows it)
        while requests go on with the one they have: a read on a request's own thread
        competes for the GIL with the event loop and every other request, and under
        load such reads were seen to take seconds, with every request in flight at
        the moment of expiry reading too (``docs/benchmarks.md``, "Web service").
        """
        if self._read_at is None:
            self.refresh()
        elif time.monotonic() - self._read_at > REFRESH_S and self._refreshing.acquire(
            blocking=False
        ):
            threading.Thread(
                target=self._refresh_in_background, name="programmes-refresh", daemon=True
            ).start()
        return list(self._programmes.values())

    def names(self) -> dict[str, str]:
        """The programmes' names by id, from the list as last read (a sentence names the
        programme that paid a user by its name, not only its id)."""
        return {p.id: p.name for p in self.programmes()}

    def kinds(self) -> dict[str, str]:
        """Each readable programme's kind by id (``shared`` or ``full``); a programme whose
        run cannot be read is left out (its own pages say why)."""
        found = {}
        for p in self.programmes():
            with contextlib.suppress(ProgrammeUnavailable):
                found[p.id] = self._index_of(p).kind
        return found

    def known(self) -> int:
        """How many programmes the last read found, without reading (the liveness probe
        must not depend on the database)."""
        return len(self._programmes)

    def in_memory(self, program_id: str | None = None) -> bool:
        """Whether an answer needs no I/O: the programmes read; with ``program_id``, also
        that programme among them and every programme's run loaded (a user's locale is
        looked up in all of them). Routes that compute in memory answer on the event loop
        when this holds, and from the thread pool when it does not."""
        if self._read_at is None:
            return False
        if program_id is None:
            return True
        known = self.programmes()
        if all(p.id != program_id for p in known):
            return False
        return all((p.id, p.run_fingerprint) in self._indexes for p in known)

    def refresh(self, *, load_runs: bool = False) -> None:
        """Read the programmes from the ledger now; with ``load_runs``, load the run of
        any programme not loaded yet before the new list shows it."""
        read_at = time.monotonic()
        found = {p.id: p for p in queries.programmes(self.reads)}
        if load_runs:
            for p in found.values():
                self._load_quietly(p)
        self._programmes, self._read_at = found, read_at

    def _refresh_in_background(self) -> None:
        try:
            self.refresh(load_runs=True)  # so that no request has to load a new run
        except Exception as exc:  # the ledger unreachable for a moment: keep the last list
            self._read_at = time.monotonic()  # and try again after REFRESH_S, not at once
            log.warning("re-reading the programmes failed (the last list is kept): %s", exc)
        finally:
            self._refreshing.release()

    def programme(self, program_id: str) -> queries.Programme:
        """The programme, or :class:`ProgrammeNotFound` (after one fresh read, for one
        just distributed)."""
        self.programmes()  # read the first time; re-read in the background when old
        found = self._programmes.get(program_id)
        if found is None:
            self.refresh()
            found = self._programmes.get(program_id)
        if found is None:
            raise ProgrammeNotFound(f"no programme {program_id!r}")
        return found

    def index(self, program_id: str) -> RunIndex:
        """The programme's run in memory; :class:`ProgrammeUnavailable` if its run
        folder cannot be read."""
        return self._index_of(self.programme(program_id))

    def _index_of(self, p: queries.Programme) -> RunIndex:
        key = (p.id, p.run_fingerprint)
        index = self._indexes.get(key)
        if index is not None:
            return index
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                with served(p.id):
                    index = load_run(Path(p.run_path), p.run_fingerprint)
                self._indexes[key] = index
        return index

    def _load_quietly(self, p: queries.Programme) -> None:
        """Load the run unless it is loaded; a run that cannot be read is reported per
        request, with its reason (503)."""
        with contextlib.suppress(ProgrammeUnavailable):
            self._index_of(p)

    def prover(self, program_id: str) -> Prover:
        """The programme's proofs, opened once: :class:`ProgrammeNotFound` while no
        commitment is published, :class:`ProgrammeUnavailable` if they cannot be read."""
        p = self.programme(program_id)
        key = (p.id, p.run_fingerprint)
        found = self._provers.get(key)
        if found is None:
            with self._lock:
                found = self._provers.get(key) or self._open_prover(p)
                self._provers[key] = found
        return found

    def warm(self) -> None:
        """Load every programme's run now, so the first request is not the slow one."""
        for p in self.programmes():
            self._load_quietly(p)

    @staticmethod
    def _open_prover(p: queries.Programme) -> Prover:
        from recompense.proofs import Prover

        try:
            with served(p.id):
                return Prover(Path(p.run_path))
        except NotCommittedError as exc:
            raise ProgrammeNotFound(f"no proofs for this programme yet: {exc}") from exc
