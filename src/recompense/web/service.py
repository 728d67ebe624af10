"""The application's state: the ledger engine, its programmes, and their runs in memory.

One :class:`Service` per process. Programmes are re-read from the ledger at most every
few seconds (a newly distributed programme appears without a restart); each
programme's run folder is loaded once into a :class:`~recompense.web.runindex.RunIndex`
and its proofs store opened once (a :class:`~recompense.proofs.Prover`), both keyed by
the run fingerprint the ledger recorded, so a lookup never touches Parquet.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException
from sqlalchemy import Engine

from recompense.errors import RecompenseError
from recompense.ledger.db import connect, connect_reads, require_schema
from recompense.web import queries
from recompense.web.runindex import RunIndex, load_run
from recompense.web.settings import Settings

if TYPE_CHECKING:
    from recompense.proofs import Prover

REFRESH_S = 5.0


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = connect(settings.db_url)
        require_schema(self.engine)
        self.reads: Engine = connect_reads(settings.db_url)
        self._lock = threading.Lock()
        self._programmes: dict[str, queries.Programme] = {}
        self._read_at = 0.0
        self._indexes: dict[tuple[str, str], RunIndex] = {}
        self._provers: dict[tuple[str, str], Prover | str] = {}
        self.cache: dict[tuple[str, str, str], Any] = {}  # derived figures per run

    def programmes(self) -> list[queries.Programme]:
        now = time.monotonic()
        if now - self._read_at > REFRESH_S:
            self._programmes = {p.id: p for p in queries.programmes(self.reads)}
            self._read_at = now
        return list(self._programmes.values())

    def programme(self, program_id: str) -> queries.Programme:
        """The programme, or 404 (after one fresh read, for one just distributed)."""
        found = {p.id: p for p in self.programmes()}.get(program_id)
        if found is None:
            self._read_at = 0.0
            found = {p.id: p for p in self.programmes()}.get(program_id)
        if found is None:
            raise HTTPException(404, f"no programme {program_id!r}")
        return found

    def index(self, program_id: str) -> RunIndex:
        """The programme's run in memory; 503 if its run folder cannot be read."""
        p = self.programme(program_id)
        key = (p.id, p.run_fingerprint)
        index = self._indexes.get(key)
        if index is not None:
            return index
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                try:
                    index = load_run(Path(p.run_path), p.run_fingerprint)
                except RecompenseError as exc:
                    raise HTTPException(503, f"programme {p.id}: {exc}") from exc
                self._indexes[key] = index
        return index

    def prover(self, program_id: str) -> Prover:
        """The programme's proofs, opened once; 404 while no commitment is published."""
        p = self.programme(program_id)
        key = (p.id, p.run_fingerprint)
        found = self._provers.get(key)
        if found is None:
            with self._lock:
                found = self._provers.get(key) or self._open_prover(Path(p.run_path))
                if not isinstance(found, str):
                    self._provers[key] = found
        if isinstance(found, str):
            raise HTTPException(404, found)
        return found

    def warm(self) -> None:
        """Load every programme's run now, so the first request is not the slow one."""
        for p in self.programmes():
            try:
                self.index(p.id)
            except HTTPException:
                continue  # reported per request with its reason

    @staticmethod
    def _open_prover(run: Path) -> Prover | str:
        from recompense.proofs import Prover

        try:
            return Prover(run)
        except RecompenseError as exc:
            return f"no proofs for this programme yet: {exc}"
