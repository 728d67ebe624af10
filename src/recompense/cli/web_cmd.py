"""Web commands: serve (the Rewards Hub, the API and the operations console) and token."""

from __future__ import annotations

import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from recompense.cli.app import INT64_MAX, app, guard, out
from recompense.web.auth import ROLES


class LogFormat(StrEnum):
    json = "json"
    text = "text"


@app.command()
def serve(
    db: Annotated[str, typer.Option("--db", help="Ledger database URL (distributed into).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    log_format: Annotated[
        LogFormat,
        typer.Option(
            help="json: one JSON object per line, with the request id (for log shippers); "
            "text: plain lines for a terminal.",
        ),
    ] = LogFormat.json,
    runs: Annotated[
        Path | None,
        typer.Option(help="Folder of run folders the console offers for approval."),
    ] = None,
) -> None:
    """Serve the web pages and the JSON API (OpenAPI at /api/openapi.json) with uvicorn.

    Tokens are verified with the issuer, audience and keys in RECOMPENSE_JWT_* variables;
    with none set, the local secret in .recompense/jwt-secret (see `recompense token`).
    Every distributed programme of the database is served; its run folder is read from
    the path the ledger recorded. With --runs DIR (or RECOMPENSE_RUNS_DIR) the console's
    sign-off page offers the run folders in DIR for approval.

    Probes: /healthz (alive), /readyz (database, schema, run folders). Metrics: /metrics,
    for the scraper sending RECOMPENSE_METRICS_TOKEN as a bearer token. Logs: JSON lines on
    stderr (docs/operations.md).

    Example: recompense serve --db sqlite:///demo/ledger.db --port 8000 --runs runs/
    """
    from recompense.ledger.db import connect, require_schema
    from recompense.web.server import run
    from recompense.web.settings import Settings

    env = {**os.environ, **({"RECOMPENSE_RUNS_DIR": str(runs)} if runs else {})}
    guard(lambda: Settings.from_env(env, db_url=db))
    guard(lambda: require_schema(connect(db)))
    # The workers read their settings from the environment; one CSRF key for all of them.
    os.environ["RECOMPENSE_DB_URL"] = db
    if runs is not None:
        os.environ["RECOMPENSE_RUNS_DIR"] = str(runs)
    os.environ.setdefault("RECOMPENSE_SESSION_SECRET", secrets.token_hex(32))
    out.print(f"Serving on http://{host}:{port}/  (API schema: /api/openapi.json)")
    run(
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        json_logs=log_format is LogFormat.json,
    )


@app.command()
def token(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    user_id: Annotated[
        int | None,
        typer.Option(min=0, max=INT64_MAX, help="The user (required for --role user)."),
    ] = None,
    ttl: Annotated[int, typer.Option(min=1, help="Seconds until the token expires.")] = 8 * 3600,
    locale: Annotated[str | None, typer.Option(help="Page language claim: en or es.")] = None,
    subject: Annotated[str | None, typer.Option(help="The 'sub' claim (default derived).")] = None,
    link: Annotated[bool, typer.Option("--link", help="Print a sign-in link instead.")] = False,
    base_url: Annotated[
        str | None, typer.Option(help="Server address for --link (default RECOMPENSE_BASE_URL).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print token and claims as JSON.")
    ] = False,
) -> None:
    """Mint a signed token (HS256) for local use: sign in to `recompense serve` with it.

    The secret is RECOMPENSE_JWT_SECRET, else the file RECOMPENSE_JWT_SECRET_FILE
    (default .recompense/jwt-secret, created with mode 0600 on first use); issuer and
    audience come from RECOMPENSE_JWT_ISSUER / RECOMPENSE_JWT_AUDIENCE. Development
    only: in production the exchange's identity provider issues the tokens.

    Example: recompense token --role user --user-id 1234 --link
    """
    from recompense.errors import InputError
    from recompense.web.auth import TokenError, mint_token
    from recompense.web.settings import minting_settings

    def make() -> tuple[str, str]:
        settings = minting_settings()
        try:
            value = mint_token(
                settings, role=role, user_id=user_id, ttl_s=ttl, locale=locale, subject=subject
            )
        except TokenError as exc:
            raise InputError(f"--role/--user-id: {exc}") from exc
        return value, (base_url or settings.base_url).rstrip("/")

    value, base = guard(make)
    url = f"{base}/login?token={value}"
    if as_json:
        print(json.dumps({"token": value, "role": role, "user_id": user_id, "link": url}))
    elif link:
        print(url)
    else:
        print(value)
