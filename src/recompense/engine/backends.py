"""Backends the engine runs on: DuckDB (embedded default) and Apache Spark.

DuckDB settings come from the environment, so a big run can be steered without code:
``RECOMPENSE_DUCKDB_MEMORY_LIMIT`` (e.g. ``6GB``), ``RECOMPENSE_DUCKDB_THREADS``,
``RECOMPENSE_DUCKDB_TEMP_DIR`` (where DuckDB spills when inputs exceed memory). They are
:class:`EngineSettings`, read once when a run connects and checked there (a memory size
with a unit, a whole number of threads, a path): a malformed one is an
:class:`~recompense.errors.InputError` naming the variable (exit 2). They reach DuckDB as
its connection configuration (``duckdb.connect(config=…)``), never spliced into SQL.

Spark: ``--spark-master`` (or ``RECOMPENSE_SPARK_MASTER``; default ``local[*]``) and any
``spark.*`` setting through ``RECOMPENSE_SPARK_CONF`` (``key=value;key=value``). The
session always runs in UTC with Arrow collection on; only the per-user table is
collected to the driver (see ``docs/spark.md``).
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

import duckdb
import ibis
from pydantic import Field, field_validator

from recompense.errors import InputError
from recompense.settings import RecompenseSettings, SettingValueError

ENGINES = ("duckdb", "spark")
MAX_THREADS = 1024
# DuckDB's own units (1000^i and 1024^i); a number and a unit, nothing else.
_MEMORY = re.compile(r"[0-9]+(\.[0-9]+)? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class EngineSettings(RecompenseSettings):
    """The engine's ``RECOMPENSE_DUCKDB_*`` and ``RECOMPENSE_SPARK_*`` variables."""

    process: ClassVar[str] = "`run`, `check --data`, `serve` (the self-check)"

    duckdb_memory_limit: str | None = Field(
        None,
        description="DuckDB's memory cap, a number and a unit: `6GB`, `512MiB`",
        json_schema_extra={"kind": "size"},
    )
    duckdb_threads: int | None = Field(
        None, description=f"DuckDB's worker threads, 1 to {MAX_THREADS} (default: all cores)"
    )
    duckdb_temp_dir: str | None = Field(
        None,
        description="where DuckDB spills when inputs exceed memory",
        json_schema_extra={"kind": "path"},
    )
    spark_master: str | None = Field(None, description="Spark master; `--spark-master` wins")
    spark_conf: tuple[tuple[str, str], ...] = Field(
        (),
        description="more Spark settings, `spark.key=value;spark.key=value`",
        json_schema_extra={"kind": "key=value list"},
    )

    @field_validator("duckdb_memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        text = value.strip() if isinstance(value, str) else value
        if text in (None, ""):
            return None
        if not isinstance(text, str) or not _MEMORY.fullmatch(text):
            raise SettingValueError(
                f"RECOMPENSE_DUCKDB_MEMORY_LIMIT={value!r}: not a memory size like 4GB "
                "(a number and one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            )
        return text

    @field_validator("duckdb_threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> Any:
        text = value.strip() if isinstance(value, str) else value
        if text in (None, ""):
            return None
        if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 4:
            text = int(text)
        if type(text) is not int or not 1 <= text <= MAX_THREADS:
            raise SettingValueError(
                f"RECOMPENSE_DUCKDB_THREADS={value!r}: not a whole number of threads "
                f"from 1 to {MAX_THREADS}"
            )
        return text

    @field_validator("duckdb_temp_dir", mode="before")
    @classmethod
    def _temp_dir(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or any(ord(c) < 32 for c in value):
            raise SettingValueError(
                f"RECOMPENSE_DUCKDB_TEMP_DIR={value!r}: not a path (control characters)"
            )
        return value

    @field_validator("spark_master", mode="before")
    @classmethod
    def _master(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("spark_conf", mode="before")
    @classmethod
    def _conf(cls, value: Any) -> Any:
        return _spark_conf(value) if isinstance(value, str) else value

    def duckdb_config(self) -> dict[str, Any]:
        """DuckDB's connection configuration for the settings given (unset: its default)."""
        config = {
            "memory_limit": self.duckdb_memory_limit,
            "threads": self.duckdb_threads,
            "temp_directory": self.duckdb_temp_dir,
        }
        return {key: value for key, value in config.items() if value is not None}


def connect(
    engine: str = "duckdb",
    *,
    spark_master: str | None = None,
    settings: EngineSettings | None = None,
) -> Any:
    """An Ibis backend for ``engine`` (``settings``: read from the environment if None)."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r}: unknown engine; available: {', '.join(ENGINES)}")
    settings = EngineSettings.from_env() if settings is None else settings
    if engine == "duckdb":
        return _duckdb(settings)
    return _spark(spark_master or settings.spark_master or "local[*]", dict(settings.spark_conf))


def _duckdb(settings: EngineSettings) -> Any:
    try:
        con = ibis.duckdb.connect(**settings.duckdb_config())
    except duckdb.Error as exc:  # a value DuckDB itself refuses (a temp dir, a size)
        raise InputError(f"RECOMPENSE_DUCKDB_*: DuckDB refused the settings: {exc}") from exc
    con.raw_sql("SET TimeZone = 'UTC'")
    return con


def _spark(master: str, conf: dict[str, str]) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError(
            "--engine spark needs PySpark 4.0: pip install 'recompense[spark]'"
        ) from exc
    builder = (
        SparkSession.builder.master(master)
        .appName("recompense")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "true")
        # Exact decimals: decimal(38, 12) × decimal(38, 12) stays decimal(38, 24) instead
        # of being rounded to 6 places (which would round twice: see engine.exact).
        .config("spark.sql.decimalOperations.allowPrecisionLoss", "false")
    )
    if master.startswith("local"):
        # 200 shuffle partitions (Spark's default) is meant for clusters; on one machine
        # a few per core keeps small and medium runs from drowning in task overhead.
        builder = builder.config("spark.sql.shuffle.partitions", str(4 * (os.cpu_count() or 2)))
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def _spark_conf(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = [item.split("=", 1) for item in raw.split(";") if item.strip()]
    bad = [item for item in pairs if len(item) != 2 or not item[0].strip().startswith("spark.")]
    if bad:
        raise SettingValueError(f"RECOMPENSE_SPARK_CONF: expected spark.key=value;… got {raw!r}")
    conf = {key.strip(): value.strip() for key, value in pairs}
    if conf.get("spark.sql.decimalOperations.allowPrecisionLoss", "false").lower() != "false":
        raise SettingValueError(
            "RECOMPENSE_SPARK_CONF: spark.sql.decimalOperations.allowPrecisionLoss must stay "
            "false: with it, Spark rounds products of amounts and prices before the engine does"
        )
    return tuple(conf.items())
