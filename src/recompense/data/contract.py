"""The dataset contract: which files a dataset holds and what their columns mean.

A dataset is a folder with one Parquet file (or CSV file with the same columns) per
table, named ``<table>.parquet`` or ``<table>.csv``. A table may also be a folder of
Parquet files ``<table>/*.parquet`` (what Spark and chunked writers produce).

Column kinds:

- ``int``: integer ids and small counts (int8..int64 accepted);
- ``str``: free text;
- ``enum``: text restricted to ``allowed``;
- ``ts``: a timezone-aware UTC timestamp (naive timestamps are refused unless the
  caller says they are UTC);
- ``num``: an amount in asset units or USD; float or decimal accepted, converted to
  float64 inside the engine (the engine rounds to integer cents exactly once).

``docs/data.md`` is the human-readable version of this module; keep them in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["int", "str", "enum", "ts", "num"]

USER_TYPES = ("retail", "vip", "institutional")
ACCOUNT_KINDS = ("master", "sub")
WALLETS = (
    "spot",
    "funding",
    "earn",
    "usdm_futures",
    "coinm_futures",
    "cross_margin",
    "isolated_margin",
    "portfolio_margin",
)
PRODUCTS = ("usdm_futures", "coinm_futures", "cross_margin", "isolated_margin", "portfolio_margin")
FILL_KINDS = ("liquidation", "adl")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind
    allowed: tuple[str, ...] = ()
    nullable: bool = False
    non_negative: bool = False
    positive: bool = False
    unique: bool = False


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    required: bool = True

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


USERS = TableSpec(
    "users",
    (
        Column("user_id", "int", unique=True),
        Column("user_type", "enum", allowed=USER_TYPES),
        Column("vip_tier", "int", non_negative=True),
        Column("registered_at", "ts"),
        Column("email", "str", nullable=True),
        Column("locale", "str", nullable=True),
    ),
)
ACCOUNTS = TableSpec(
    "accounts",
    (
        Column("account_id", "int", unique=True),
        Column("user_id", "int"),
        Column("kind", "enum", allowed=ACCOUNT_KINDS),
    ),
)
BALANCES = TableSpec(
    "balances",
    (
        Column("account_id", "int"),
        Column("wallet", "enum", allowed=WALLETS),
        Column("asset", "str"),
        Column("balance", "num", non_negative=True),
        Column("liability", "num", non_negative=True),
        Column("unrealized_pnl", "num"),
    ),
)
PRICES = TableSpec(
    "prices",
    (
        Column("asset", "str"),
        Column("minute", "ts"),
        Column("usd", "num", positive=True),
    ),
)
LIQUIDATIONS = TableSpec(
    "liquidations",
    (
        Column("fill_id", "int", unique=True),
        Column("account_id", "int"),
        Column("product", "enum", allowed=PRODUCTS),
        Column("kind", "enum", allowed=FILL_KINDS),
        Column("symbol", "str"),
        Column("ts", "ts"),
        Column("margin_asset", "str"),
        Column("realized_pnl", "num"),
        Column("clearance_fee", "num", non_negative=True),
    ),
)
PRIOR_COMPENSATION = TableSpec(
    "prior_compensation",
    (
        Column("user_id", "int"),
        Column("program_id", "str"),
        Column("amount_usd", "num", non_negative=True),
        Column("paid_at", "ts"),
    ),
)

TABLES: tuple[TableSpec, ...] = (
    USERS,
    ACCOUNTS,
    BALANCES,
    PRICES,
    LIQUIDATIONS,
    PRIOR_COMPENSATION,
)

# Foreign keys checked by validation: (table, column) -> (table, column).
FOREIGN_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("accounts", "user_id", "users", "user_id"),
    ("balances", "account_id", "accounts", "account_id"),
    ("liquidations", "account_id", "accounts", "account_id"),
)

# (table, columns) that must be unique together.
UNIQUE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("users", ("user_id",)),
    ("accounts", ("account_id",)),
    ("liquidations", ("fill_id",)),
    ("prices", ("asset", "minute")),
    ("balances", ("account_id", "wallet", "asset")),
)
