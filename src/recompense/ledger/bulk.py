"""Bulk inserts inside the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

COPY is the practical speed limit of PostgreSQL ingestion; it runs on the same DBAPI
connection as the SQLAlchemy transaction, so the batch still commits or rolls back as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError, IntegrityError

from recompense.ledger.errors import LedgerError


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def _copy(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a live transaction always has one
        raise LedgerError("bulk insert outside a live database connection")
    import psycopg

    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.errors.IntegrityError as exc:
        # Same exception family as the SQLAlchemy path, so callers handle one kind.
        raise IntegrityError(statement, None, exc) from exc
    except psycopg.Error as exc:
        raise DBAPIError(statement, None, exc) from exc
