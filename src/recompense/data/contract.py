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
- ``num``: an amount in asset units or USD. Read exactly as a decimal with
  :data:`SCALE` (12) decimal places (``decimal(38, 12)``): integers and decimals of up
  to 38 digits are taken as they are, and refused if they carry a non-zero digit beyond
  the 12th decimal place; CSV text is parsed as decimal text (``0E-8``, ``1.5e-3``);
  floats, which are not exact, are taken as their binary value to 12 places
  (:func:`recompense.data.readers.as_number`). Every value
  must lie strictly inside ±:data:`AMOUNT_LIMIT`. The engine multiplies amounts by
  prices exactly (``decimal(38, 24)``) and rounds once to micro-dollars.

Ranges (so that every integer the engine forms fits 64 bits with room to spare): each
fill's or balance row's USD value, and each user's loss and net assets, must be below
:data:`USD_LIMIT` in magnitude; the engine refuses, naming rows, anything outside.

``docs/data.md`` is the human-readable version of this module; keep them in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["int", "str", "enum", "ts", "num"]

SCALE = 12  # decimal places every ``num`` value carries
NUMBER_TYPE = f"decimal(38, {SCALE})"  # the engine's type for ``num`` columns
MAX_DECIMAL_PRECISION = 38  # wider decimals (decimal256) are refused, not misread
AMOUNT_LIMIT = 10**15  # |value| of any ``num`` column, in its own units
USD_LIMIT = 10**12  # |USD value| of one row, and of one user's loss or net assets

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
# Where collateral can be liquidated: the trading products, and loans (Binance Loans).
COLLATERAL_PRODUCTS = (*PRODUCTS, "loan")
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

# Full-payment programmes (``kind = "full"``: the de-peg compensation) only. Optional:
# a dataset without them serves shared-budget programmes; a full programme refuses to run
# without them, naming the file.
COLLATERAL_LIQUIDATIONS = TableSpec(
    "collateral_liquidations",
    (
        Column("event_id", "int", unique=True),
        Column("account_id", "int"),
        Column("product", "enum", allowed=COLLATERAL_PRODUCTS),
        Column("asset", "str"),
        Column("quantity", "num", positive=True),
        Column("liquidation_price", "num", positive=True),
        Column("ts", "ts"),
    ),
    required=False,
)
REFERENCE_PRICES = TableSpec(
    "reference_prices",
    (
        Column("asset", "str"),
        Column("at", "ts"),
        Column("market_usd", "num", positive=True),
        Column("redemption_rate", "num", nullable=True, positive=True),
        Column("underlying_usd", "num", nullable=True, positive=True),
    ),
    required=False,
)

TABLES: tuple[TableSpec, ...] = (
    USERS,
    ACCOUNTS,
    BALANCES,
    PRICES,
    LIQUIDATIONS,
    PRIOR_COMPENSATION,
    COLLATERAL_LIQUIDATIONS,
    REFERENCE_PRICES,
)

# Foreign keys checked by validation: (table, column) -> (table, column).
FOREIGN_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("accounts", "user_id", "users", "user_id"),
    ("balances", "account_id", "accounts", "account_id"),
    ("liquidations", "account_id", "accounts", "account_id"),
    ("collateral_liquidations", "account_id", "accounts", "account_id"),
)

# (table, columns) that must be unique together.
UNIQUE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("users", ("user_id",)),
    ("accounts", ("account_id",)),
    ("liquidations", ("fill_id",)),
    ("prices", ("asset", "minute")),
    ("balances", ("account_id", "wallet", "asset")),
    ("collateral_liquidations", ("event_id",)),
    ("reference_prices", ("asset", "at")),
)
