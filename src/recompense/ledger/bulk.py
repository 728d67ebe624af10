"""Bulk inserts inside the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

COPY is the practical speed limit of PostgreSQL ingestion; it runs on the same DBAPI
connection as the SQLAlchemy transaction, so the batch still commits or rolls back as one.
On SQLite the rows go straight to the DB-API ``executemany`` as tuples (SQLAlchemy's
per-row parameter processing cost more than SQLite's insert), with ``datetime`` values
formatted as SQLAlchemy stores them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, DateTime, Integer, String, Table
from sqlalchemy.exc import DBAPIError, IntegrityError

from recompense.ledger.errors import LedgerError

SMALL = 100  # rows up to which a plain INSERT beats COPY / executemany
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table``."""
    if not rows:
        return
    if len(rows) <= SMALL:  # one INSERT round trip; COPY takes two or three
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
    elif conn.dialect.name == "postgresql":
        with _copy(conn, table, columns) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        insert_tuples(conn, table, columns, _sqlite_values(rows))


def copy_binary(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """PostgreSQL: binary COPY of ``rows`` (Python values; the types come from ``table``).

    The server parses nothing (a timestamp arrives as its 8 bytes): a quarter less server
    time than text COPY for the outbox's rows, and psycopg's C dumpers cost the client
    less than formatting text.
    """
    if not rows:
        return
    types = [_binary_type(table.c[name].type) for name in columns]
    with _copy(conn, table, columns, binary=True) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def binary_copy_data(table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """``rows`` in PostgreSQL's binary COPY format, signature and trailer included.

    Pure, so another thread can build a batch's data while this one talks to the
    database: the thread that then sends it (:func:`copy_data`) holds the GIL for
    almost nothing. Uses psycopg's own C row formatter (0.3 µs a row).
    """
    from psycopg import adapt, postgres
    from psycopg._copy_base import (  # the formatter psycopg's Copy.write_row uses
        _binary_signature,
        _binary_trailer,
        format_row_binary,
    )
    from psycopg.pq import Format

    transformer = adapt.Transformer()
    oids = [postgres.types[_binary_type(table.c[name].type)].oid for name in columns]
    transformer.set_dumper_types(oids, Format.BINARY)
    data = bytearray(_binary_signature)
    for row in rows:
        format_row_binary(row, transformer, data)
    data += _binary_trailer
    return bytes(data)


def copy_data(conn: Connection, table: Table, columns: Sequence[str], data: bytes) -> None:
    """PostgreSQL: COPY the output of :func:`binary_copy_data` into ``table``."""
    with _copy(conn, table, columns, binary=True) as copy:
        copy.write(data)


def _binary_type(kind: Any) -> str:
    """The PostgreSQL type name for binary COPY (binary formats are type-specific)."""
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, String):  # includes Text; varchar shares text's binary format
        return "text"
    raise LedgerError(f"binary COPY: no PostgreSQL type for {kind!r}")


def insert_tuples(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """SQLite: one DB-API ``executemany`` of ready values (no datetime conversion)."""
    if not rows:
        return
    driver = _driver(conn)
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    cursor = driver.cursor()
    try:
        cursor.executemany(statement, rows)
    except Exception as exc:
        import sqlite3

        if isinstance(exc, sqlite3.IntegrityError):
            raise IntegrityError(statement, None, exc) from exc
        if isinstance(exc, sqlite3.Error):
            raise DBAPIError(statement, None, exc) from exc
        raise
    finally:
        cursor.close()


def _sqlite_values(rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """Format the datetime columns (found in the first row) the way SQLAlchemy stores them."""
    times = [i for i, value in enumerate(rows[0]) if isinstance(value, datetime)]
    if not times:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i in times:
            if values[i] is not None:
                values[i] = values[i].strftime(SQLITE_TIME)
        out.append(values)
    return out


@contextmanager
def _copy(
    conn: Connection, table: Table, columns: Sequence[str], *, binary: bool = False
) -> Iterator[Any]:
    import psycopg

    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    if binary:
        statement += " (FORMAT BINARY)"
    try:
        with _driver(conn).cursor() as cursor, cursor.copy(statement) as copy:
            yield copy
    except psycopg.errors.IntegrityError as exc:
        # Same exception family as the SQLAlchemy path, so callers handle one kind.
        raise IntegrityError(statement, None, exc) from exc
    except psycopg.Error as exc:
        raise DBAPIError(statement, None, exc) from exc


def _driver(conn: Connection) -> Any:
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a live transaction always has one
        raise LedgerError("bulk insert outside a live database connection")
    return driver
