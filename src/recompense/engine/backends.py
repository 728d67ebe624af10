"""Backends the engine runs on. DuckDB is the embedded default.

Settings come from the environment so a big run can be steered without code:
``RECOMPENSE_DUCKDB_MEMORY_LIMIT`` (e.g. ``6GB``), ``RECOMPENSE_DUCKDB_THREADS``,
``RECOMPENSE_DUCKDB_TEMP_DIR`` (where DuckDB spills when inputs exceed memory).
"""

from __future__ import annotations

import os
from typing import Any

import ibis


def connect(engine: str = "duckdb") -> Any:
    """An Ibis backend for ``engine``; only ``duckdb`` for now."""
    if engine != "duckdb":
        from recompense.errors import InputError

        raise InputError(f"--engine {engine!r}: unknown engine; available: duckdb")
    con = ibis.duckdb.connect()
    settings = {
        "memory_limit": os.environ.get("RECOMPENSE_DUCKDB_MEMORY_LIMIT"),
        "threads": os.environ.get("RECOMPENSE_DUCKDB_THREADS"),
        "temp_directory": os.environ.get("RECOMPENSE_DUCKDB_TEMP_DIR"),
    }
    for key, value in settings.items():
        if value:
            con.raw_sql(f"SET {key} = '{value}'")
    con.raw_sql("SET TimeZone = 'UTC'")
    return con
