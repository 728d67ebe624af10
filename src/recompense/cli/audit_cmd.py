"""``recompense audit``: verify, export and read the hash-chained audit trail."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recompense.audit import Verification, events, export, verify
from recompense.cli.app import Commands, app, err, guard, out
from recompense.cli.ledger_cmd import DB, JSON
from recompense.errors import InputError
from recompense.ledger.db import DEFAULT_URL, connect, require_schema

audit_app = Commands(help="The append-only, hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    db: DB = DEFAULT_URL,
    expect_head: Annotated[
        str | None,
        typer.Option(help="A head hash from an earlier export: it must still be in the chain."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Recompute the whole chain. Exit 0 when unbroken, 1 when broken (naming the first
    break), 2 on bad input.

    Example: recompense audit verify --db sqlite:///recompense.db --expect-head 3f2a…
    """

    def run() -> Verification:
        if expect_head is not None and not re.fullmatch(r"[0-9a-f]{64}", expect_head):
            raise InputError(f"--expect-head: not a SHA-256 hex digest: {expect_head!r}")
        engine = connect(db)
        require_schema(engine)
        return verify(engine, expect_head=expect_head)

    result = guard(run)
    if as_json:
        shown = {"events": result.events, "head": result.head, "ok": result.ok}
        print(json.dumps({**shown, "problem": result.problem}, indent=2))
    elif result.ok:
        out.print(f"[green]✔[/] {result.events:,} audit events, chain unbroken; head {result.head}")
    else:
        err.print(f"[bold red]BROKEN:[/] {result.problem}", highlight=False)
    if not result.ok:
        raise typer.Exit(code=1)


@audit_app.command("export")
def audit_export(
    out_file: Annotated[Path, typer.Option("--out", help="JSON Lines file to create.")],
    db: DB = DEFAULT_URL,
) -> None:
    """Write every event as JSON Lines for an auditor, then the head hash (keep it: a
    later `audit verify --expect-head` proves nothing was cut off since).

    Example: recompense audit export --db sqlite:///recompense.db --out audit-2025-10.jsonl
    """

    def run() -> Verification:
        engine = connect(db)
        require_schema(engine)
        return export(engine, out_file)

    result = guard(run)
    mark = "[green]✔[/]" if result.ok else "[bold red]BROKEN[/]"
    out.print(f"{mark} {result.events:,} events written to {out_file}; head {result.head}")
    if not result.ok:
        err.print(f"[bold red]BROKEN:[/] {result.problem}", highlight=False)
        raise typer.Exit(code=1)


@audit_app.command("log")
def audit_log(
    db: DB = DEFAULT_URL,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. run.approve.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject, e.g. user:42.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor, e.g. ops:alice.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
    as_json: JSON = False,
) -> None:
    """List audit events, oldest first, optionally filtered.

    Example: recompense audit log --db sqlite:///recompense.db --action run.approve
    """

    def run() -> list[dict[str, object]]:
        engine = connect(db)
        require_schema(engine)
        found = events(engine, action=action, subject=subject, actor=actor, limit=limit)
        return [e.as_dict() for e in found]

    rows = guard(run)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Audit events ({len(rows)})")
    for column in ("seq", "at", "actor", "action", "subject"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("seq", "at", "actor", "action", "subject")))
    out.print(table)
