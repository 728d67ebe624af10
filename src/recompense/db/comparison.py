"""How Alembic compares :data:`~recompense.db.base.metadata` with a migrated database.

One set of options for both users of the comparison: the Alembic environment (so
``alembic revision --autogenerate`` proposes only real changes) and
``tests/ledger/test_schema_matches_migrations.py`` (which requires an empty diff).
Types and server defaults are compared (Alembic compares neither CHECK constraints nor
triggers; the test compares the CHECKs itself). Each exception below is one difference
that is a property of the dialect or of Alembic, not of the schema, and says why; add
one only with that reason written down.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKeyConstraint, Identity

Options = dict[str, Any]


def comparison_options(dialect: str) -> Options:
    """The keyword arguments for ``context.configure`` / ``MigrationContext.configure``'s
    ``opts`` on a connection of ``dialect`` (``"sqlite"`` or ``"postgresql"``)."""

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        return not (dialect == "postgresql" and _is_voucher_programme_key(obj, type_))

    return {
        "compare_type": True,
        # Alembic 1.20 calls a compare_server_default function with PostgreSQL's identity
        # columns and fails on them ("'Identity' object has no attribute 'arg'", as in
        # sqlalchemy/alembic#775), so PostgreSQL gets Alembic's own comparison, which
        # needs no exception.
        "compare_server_default": _compare_server_default if dialect == "sqlite" else True,
        "include_object": include_object,
    }


def _is_voucher_programme_key(obj: Any, type_: str) -> bool:
    """The foreign key from ``vouchers.program_id`` to ``programs.id``.

    Migration 0004 drops it on PostgreSQL: its statement trigger checks the programme
    once per statement (one ``KEY SHARE`` lock per programme instead of one lookup and
    lock per voucher, 3.5 s of server time at a million vouchers) and a row trigger on
    ``programs`` keeps a programme with vouchers. SQLite keeps the key, so the model
    declares it and the comparison leaves it out on PostgreSQL only.
    """
    return (
        type_ == "foreign_key_constraint"
        and isinstance(obj, ForeignKeyConstraint)
        and obj.table.name == "vouchers"
        and obj.referred_table.name == "programs"
    )


def _compare_server_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """``False``: the same default; ``None``: let Alembic compare. SQLite only."""
    if isinstance(metadata_default, Identity) and inspected_default is None:
        # SQLite has no identity columns: an INTEGER PRIMARY KEY is its auto-numbered
        # rowid, and SQLAlchemy leaves Identity() out of SQLite's CREATE TABLE, so
        # Alembic would propose adding it to every BIG_ID column on every run.
        return False
    if rendered_metadata_default == "" and inspected_default in ("''", "('')"):
        # SQLite reports server_default="" as ('') and Alembic's SQLite comparison strips
        # the parentheses but unquotes '...' only around one or more characters, so an
        # empty-string default (journal_entries.memo, web_accesses.target) always differs.
        return False
    return None
