"""The one ``MetaData`` every table of the database is on, and the column types they share.

Only :mod:`recompense.db` defines tables on it (one module per domain); the Alembic
environment (``recompense/ledger/migrations/env.py``) targets it, so autogenerate sees
every table. No naming convention is set: the migrations name every CHECK and index (and
most UNIQUE constraints) by hand, and the rest carry the database's own default names,
which a convention would contradict.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Integer, MetaData

metadata = MetaData()

# Every timestamp is UTC; SQLite stores it naive (read back with web.queries.aware).
TS = DateTime(timezone=True)
# SQLite only auto-numbers an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The text of a CHECK that ``column`` holds one of ``values``, as the migrations wrote it.

    >>> one_of("channel", ("email", "push"))
    "channel IN ('email', 'push')"
    """
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
