"""A real server and a real browser for the end-to-end tests.

- :func:`chromium` launches Debian's Chromium by path (never a downloaded browser):
  missing, the tests are skipped, or fail when ``RECOMPENSE_REQUIRE_BROWSER=1`` (CI).
- :func:`fresh_ledger` makes an empty, migrated ledger (an SQLite file or a PostgreSQL
  schema dropped afterwards), like the ``ledger_url`` fixture but for a whole module.
- :class:`Server` runs ``recompense serve`` in a subprocess on a free loopback port
  (``env`` adds settings, e.g. the self-check's programme).
- :func:`sign_in` signs a page in as a role, as a person does (the only way browser
  tests sign in).
- :func:`artifacts` is where screenshots go (``RECOMPENSE_TEST_ARTIFACTS``, else the
  pytest temporary folder); the tests print the path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("RECOMPENSE_CHROMIUM", "/usr/bin/chromium")
POSTGRES = os.environ.get(
    "RECOMPENSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
JWT_VARS = (
    "RECOMPENSE_JWT_SECRET",
    "RECOMPENSE_JWT_SECRET_FILE",
    "RECOMPENSE_JWT_PUBLIC_KEY",
    "RECOMPENSE_JWT_PUBLIC_KEY_FILE",
    "RECOMPENSE_JWT_ISSUER",
    "RECOMPENSE_JWT_AUDIENCE",
    "RECOMPENSE_SESSION_SECRET",
)


def chromium(playwright: Any) -> Any:
    """Debian's Chromium under Playwright; skip (or fail in CI) when it is not installed."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = f"Chromium not found at {CHROMIUM}: run `make browser` (apt-get install chromium)"
        if os.environ.get("RECOMPENSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (RECOMPENSE_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(reason)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def fresh_ledger(kind: str, folder: Path, request: Any) -> str:
    """An empty, migrated ledger; PostgreSQL skipped if unreachable (fails when required)."""
    from recompense.ledger.db import upgrade

    url = f"sqlite:///{folder / 'ledger.db'}" if kind == "sqlite" else _postgres_schema(request)
    upgrade(url)
    return url


def _postgres_schema(request: Any) -> str:
    import psycopg

    plain = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        if os.environ.get("RECOMPENSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {POSTGRES}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES}: {exc}")
    sep = "&" if "?" in POSTGRES else "?"
    url = f"{POSTGRES}{sep}options=-csearch_path%3D{schema}"

    def drop() -> None:
        from recompense.ledger.db import connect

        connect(url).dispose()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    request.addfinalizer(drop)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``recompense serve --db URL`` on loopback, as an operator starts it; stop() ends it."""

    def __init__(
        self, db_url: str, secret: str, *, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.secret = secret  # the HS256 secret its tokens are minted with (sign_in)
        self.db_url = db_url  # where sign-in codes are kept (sign_in)
        environ = {k: v for k, v in os.environ.items() if k not in JWT_VARS}
        env = {**environ, **(env or {}), "RECOMPENSE_JWT_SECRET": secret}
        self.log_path = log
        self._log = log.open("w")
        command = ["serve", "--db", db_url, "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recompense.cli", *command],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def sign_in(
    page: Any,
    server: Server,
    role: str,
    user_id: int | None = None,
    *,
    locale: str | None = None,
    subject: str | None = None,
) -> None:
    """Sign ``page``'s browser context in to ``server`` as ``role``, as a person does: open
    the one-time link an operator hands out (``recompense token --link``) and press Sign
    in. The page ends on the role's start page. Browser tests sign in only through here."""
    response = page.goto(sign_in_link(server, role, user_id, locale=locale, subject=subject))
    assert response is not None, f"sign-in link as {role} refused: {page.url}"
    assert response.ok, f"sign-in link as {role} refused: {page.url}"
    with page.expect_navigation():
        page.get_by_test_id("signin-confirm").click()
    assert "/login" not in page.url, f"sign-in as {role} failed: {page.url}"


def sign_in_link(
    server: Server,
    role: str,
    user_id: int | None = None,
    *,
    locale: str | None = None,
    subject: str | None = None,
) -> str:
    """A one-time sign-in link, minted as an operator would: ``recompense token --link``."""
    from typer.testing import CliRunner

    from recompense.cli.main import app as cli

    args = ["token", "--role", role, "--link", "--base-url", server.base, "--db", server.db_url]
    args += ["--user-id", str(user_id)] if user_id is not None else []
    args += ["--locale", locale] if locale else []
    args += ["--subject", subject] if subject else []
    env = {**dict.fromkeys(JWT_VARS), "RECOMPENSE_JWT_SECRET": server.secret}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def artifacts(tmp_path_factory: Any) -> Path:
    """The screenshot folder: ``$RECOMPENSE_TEST_ARTIFACTS/e2e`` or a pytest temporary one."""
    chosen = os.environ.get("RECOMPENSE_TEST_ARTIFACTS")
    folder = Path(chosen) / "e2e" if chosen else tmp_path_factory.mktemp("e2e-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
