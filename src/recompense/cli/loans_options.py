"""What the ``recompense loans`` command modules share: the group, its options, helpers.

:mod:`.loans_cmd` (apply, decide, disburse, service) and :mod:`.loans_views_cmd` (show,
list, fund, access-log, keys, the database role) both register on :data:`loans_app`
and import what they share from here, never from each other: ``cli/main.py`` imports
both. Each helper turns a library error into the CLI's answer through
:func:`~recompense.cli.app.guard` (exit 2 for bad input, no traceback).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from recompense.cli.app import Commands, app, guard
from recompense.loans.errors import LoanError
from recompense.money import D, to_cents

loans_app = Commands(
    help="The $100M low-interest loan fund: applications, decisions, servicing, audit.",
    no_args_is_help=True,
)
app.add_typer(loans_app, name="loans")

DB = Annotated[
    str, typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://…).")
]
POLICY = Annotated[Path, typer.Option("--policy", help="Loan policy file (TOML).")]
AS = Annotated[
    str, typer.Option("--as", help="Who is acting, ROLE:ID (e.g. credit_committee:cc1).")
]
REASON = Annotated[str, typer.Option("--reason", help="Why (recorded with the action).")]
JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
APP_ID = Annotated[str, typer.Argument(help="Loan application id.")]


def desk_for(db: str, policy: Path) -> Any:
    """The loan desk on ``--db`` with ``--policy`` and the keys from the environment."""
    from recompense.loans import open_desk

    return guard(lambda: open_desk(db, policy))


def actor_of(text: str) -> Any:
    """``--as ROLE:ID`` as an actor (exit 2 naming what is wrong)."""
    from recompense.loans import parse_actor

    return guard(lambda: parse_actor(text))


def usd_option(option: str, value: str) -> int:
    """A USD amount option in integer cents (at most cents; exit 2 otherwise)."""

    def parse() -> int:
        try:
            return to_cents(D(value))
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise LoanError(
                f"{option} {value!r}: not a USD amount with at most cents ({exc})"
            ) from exc

    return guard(parse)


def day_option(option: str, value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` option as a date, or None if not given."""

    def parse() -> date | None:
        try:
            return None if value is None else date.fromisoformat(value)
        except ValueError as exc:
            raise LoanError(f"{option} {value!r}: expected a date, YYYY-MM-DD") from exc

    return guard(parse)


def emit(as_json: bool, data: Any, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON with ``--json``, else call ``render`` (a table or a line)."""
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render()
