"""recompense: run a crypto exchange's compensation programme end to end, and prove it.

Packages, in the order data flows through them::

    policy      the programme file (TOML) and the weight formula
    data        the dataset contract, readers, validation, the synthetic crash
    engine      eligibility and features as Ibis expressions (DuckDB, PySpark)
    allocation  budget-exact payouts in integer cents
    runs        the immutable run folder: artifacts, manifest, explain
    report      the self-contained HTML report of a run
    cli         the ``recompense`` command (thin: parse, call one function, render)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recompense")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
