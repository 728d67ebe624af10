"""Backends the engine runs on: DuckDB (embedded default) and Apache Spark.

DuckDB settings come from the environment, so a big run can be steered without code:
``RECOMPENSE_DUCKDB_MEMORY_LIMIT`` (e.g. ``6GB``), ``RECOMPENSE_DUCKDB_THREADS``,
``RECOMPENSE_DUCKDB_TEMP_DIR`` (where DuckDB spills when inputs exceed memory).

Spark: ``--spark-master`` (or ``RECOMPENSE_SPARK_MASTER``; default ``local[*]``) and any
``spark.*`` setting through ``RECOMPENSE_SPARK_CONF`` (``key=value;key=value``). The
session always runs in UTC with Arrow collection on; only the per-user table is
collected to the driver (see ``docs/spark.md``).
"""

from __future__ import annotations

import os
from typing import Any

import ibis

from recompense.errors import InputError

ENGINES = ("duckdb", "spark")


def connect(engine: str = "duckdb", *, spark_master: str | None = None) -> Any:
    """An Ibis backend for ``engine``."""
    if engine == "duckdb":
        return _duckdb()
    if engine == "spark":
        return _spark(spark_master or os.environ.get("RECOMPENSE_SPARK_MASTER") or "local[*]")
    raise InputError(f"--engine {engine!r}: unknown engine; available: {', '.join(ENGINES)}")


def _duckdb() -> Any:
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


def _spark(master: str) -> Any:
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
    for key, value in _spark_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def _spark_conf() -> dict[str, str]:
    raw = os.environ.get("RECOMPENSE_SPARK_CONF", "")
    pairs = [item.split("=", 1) for item in raw.split(";") if item.strip()]
    bad = [item for item in pairs if len(item) != 2 or not item[0].strip().startswith("spark.")]
    if bad:
        raise InputError(f"RECOMPENSE_SPARK_CONF: expected spark.key=value;… got {raw!r}")
    conf = {key.strip(): value.strip() for key, value in pairs}
    if conf.get("spark.sql.decimalOperations.allowPrecisionLoss", "false").lower() != "false":
        raise InputError(
            "RECOMPENSE_SPARK_CONF: spark.sql.decimalOperations.allowPrecisionLoss must stay "
            "false: with it, Spark rounds products of amounts and prices before the engine does"
        )
    return conf
