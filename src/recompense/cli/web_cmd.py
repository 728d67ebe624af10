"""Web commands: serve (the Rewards Hub, the API and the operations console) and token."""

from __future__ import annotations

import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recompense.cli.app import INT64_MAX, app, guard, out
from recompense.web.auth import ROLES

if TYPE_CHECKING:
    from recompense.web.settings import Settings


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

    Tokens are verified with the issuer, audience and keys in RECOMPENSE_JWT_* variables:
    the identity provider's public key (RS256) and/or a secret (HS256), only those set;
    with neither, the service refuses to start. For local development, make a secret with
    `recompense dev-secret --out FILE` and set RECOMPENSE_JWT_SECRET_FILE=FILE. Browsers
    sign in with one-time links (`recompense token --link`) and get a session that
    sign-out ends (RECOMPENSE_SESSION_LIFETIME_S, RECOMPENSE_SESSION_IDLE_S).
    Every distributed programme of the database is served; its run folder is read from
    the path the ledger recorded. With --runs DIR (or RECOMPENSE_RUNS_DIR) the console's
    sign-off page offers the run folders in DIR for approval.

    Probes: /healthz (alive), /readyz (database, schema, run folders). Metrics: /metrics,
    for the scraper sending RECOMPENSE_METRICS_TOKEN as a bearer token. Logs: JSON lines on
    stderr (docs/operations.md).

    The secret comes from the environment, e.g. RECOMPENSE_JWT_SECRET_FILE=demo/jwt-secret.

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


@app.command("dev-secret")
def dev_secret(
    out_file: Annotated[
        Path, typer.Option("--out", help="The file to create (mode 0600; must not exist).")
    ],
) -> None:
    """Make a random HS256 secret for local development, in a new file (mode 0600).

    Nothing else ever makes one: `recompense serve` accepts HS256 tokens only when
    RECOMPENSE_JWT_SECRET or RECOMPENSE_JWT_SECRET_FILE is set, and `recompense token`
    signs only with a secret it is given. In production the identity provider signs
    tokens (RS256) and no secret is set. An existing file is refused (kept as it is).

    Example: recompense dev-secret --out .recompense/jwt-secret
    """
    from recompense.web.settings import create_local_secret

    guard(lambda: create_local_secret(out_file))
    out.print(
        f"Made a local development JWT secret in {out_file} (mode 0600; keep it out of "
        "version control).",
        soft_wrap=True,
    )
    out.print(
        f"Serve with RECOMPENSE_JWT_SECRET_FILE={out_file}; mint tokens and sign-in links "
        f"with recompense token --secret-file {out_file}.",
        soft_wrap=True,
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
    secret_file: Annotated[
        Path | None,
        typer.Option(
            help="The HS256 secret (from `recompense dev-secret`); default "
            "RECOMPENSE_JWT_SECRET, else RECOMPENSE_JWT_SECRET_FILE."
        ),
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            "--link", help="Print a one-time sign-in link (5 minutes, once) instead; needs --db."
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="The ledger the service uses, where --link keeps its sign-in code "
            "(default RECOMPENSE_DB_URL).",
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Server address for --link (default RECOMPENSE_BASE_URL).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print token (or link) and claims as JSON.")
    ] = False,
) -> None:
    """Mint a signed token (HS256) for local use, or a one-time sign-in link.

    The token goes in an `Authorization: Bearer` header (the API). A browser signs in
    with --link instead: the token is traded at once for a sign-in code kept (hashed) in
    the ledger database --db, and the link carries only the code; opened, it shows a
    form that signs in, once, within 5 minutes. No token ever goes in a URL.

    The secret is --secret-file, else RECOMPENSE_JWT_SECRET, else the file
    RECOMPENSE_JWT_SECRET_FILE (make one with `recompense dev-secret`); issuer and
    audience come from RECOMPENSE_JWT_ISSUER / RECOMPENSE_JWT_AUDIENCE. Development
    only: in production the exchange's identity provider issues the tokens.

    Example: recompense token --secret-file demo/jwt-secret --db sqlite:///demo/ledger.db
    --role user --user-id 1234 --link
    """
    from recompense.errors import InputError
    from recompense.web.auth import TokenError, mint_token
    from recompense.web.settings import minting_settings

    def make() -> tuple[str, Settings]:
        settings = minting_settings(secret_file=secret_file)
        try:
            value = mint_token(
                settings, role=role, user_id=user_id, ttl_s=ttl, locale=locale, subject=subject
            )
        except TokenError as exc:
            raise InputError(f"--role/--user-id: {exc}") from exc
        return value, settings

    value, settings = guard(make)
    claims = {"role": role, "user_id": user_id}
    if not link:
        print(json.dumps({"token": value, **claims}) if as_json else value)
        return
    url = db or settings.db_url
    base = (base_url or settings.base_url).rstrip("/")
    code, expires_at = guard(lambda: _sign_in_code(settings, value, url))
    address = f"{base}/login?code={code}"
    if as_json:
        print(json.dumps({"link": address, "expires_at": expires_at, **claims}))
    else:
        print(address)


def _sign_in_code(settings: Settings, token: str, db_url: str) -> tuple[str, str]:
    """Trade ``token`` for a sign-in code in the ledger at ``db_url``, as the service's
    ``POST /api/sign-in-codes`` does: the code (once) and when it expires."""
    from recompense.errors import InputError
    from recompense.ledger.db import connect, require_schema
    from recompense.web import sessions
    from recompense.web.auth import Verifier, holder

    if not db_url:
        raise InputError(
            "--link: pass --db URL (the ledger the service uses) or set "
            "RECOMPENSE_DB_URL: the sign-in code is kept there"
        )
    engine = connect(db_url)
    require_schema(engine)
    try:
        issued = sessions.issue_code(engine, holder(Verifier(settings).verify(token)))
    except sessions.SessionError as exc:
        raise InputError(f"--subject/--locale: {exc}") from exc
    return issued.code, issued.expires_at.isoformat().replace("+00:00", "Z")
