"""``recompense token`` and ``recompense serve`` as an operator meets them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner
from web_support import SECRET

from recompense.cli.main import app
from recompense.web.auth import Principal, Verifier
from recompense.web.settings import Settings

JWT_VARS = (
    "RECOMPENSE_JWT_SECRET",
    "RECOMPENSE_JWT_PUBLIC_KEY",
    "RECOMPENSE_JWT_ISSUER",
    "RECOMPENSE_JWT_AUDIENCE",
)


def in_process(*args: str, env: dict[str, str | None]):
    return CliRunner().invoke(app, list(args), env={**dict.fromkeys(JWT_VARS), **env})


def test_token_mints_what_the_service_accepts(tmp_path):
    env = {"RECOMPENSE_JWT_SECRET_FILE": str(tmp_path / "jwt-secret")}
    result = in_process(
        "token", "--role", "user", "--user-id", "95", "--locale", "es", "--json", env=env
    )
    assert result.exit_code == 0, result.output
    minted = json.loads(result.output)
    settings = Settings.from_env(env, db_url="sqlite:///unused.db")
    assert Verifier(settings).verify(minted["token"]) == Principal("user:95", "user", 95, "es")
    link = in_process("token", "--role", "ops", "--link", "--base-url", "http://h:1/", env=env)
    assert link.output.startswith("http://h:1/login?token=ey")


def test_token_mistakes_exit_2_with_the_reason(tmp_path):
    env = {"RECOMPENSE_JWT_SECRET_FILE": str(tmp_path / "jwt-secret")}
    missing = in_process("token", "--role", "user", env=env)
    assert missing.exit_code == 2 and "must carry 'user_id'" in missing.output
    bogus = in_process("token", "--role", "admin", env=env)
    assert bogus.exit_code == 2 and "role 'admin' is not one of" in bogus.output
    short = in_process("token", "--role", "ops", env={"RECOMPENSE_JWT_SECRET": "short"})
    assert short.exit_code == 2 and "at least 32" in short.output


def test_serve_refuses_a_database_that_is_not_migrated(tmp_path):
    result = in_process(
        "serve", "--db", f"sqlite:///{tmp_path / 'empty.db'}", env={"RECOMPENSE_JWT_SECRET": SECRET}
    )
    assert result.exit_code == 2
    assert "recompense db upgrade" in result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_service(served):
    """A real server process on loopback answers health, sign-in and the API."""
    port = free_port()
    env = {**os.environ, "RECOMPENSE_JWT_SECRET": SECRET}
    for name in JWT_VARS[1:]:
        env.pop(name, None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recompense.cli",
            "serve",
            "--db",
            served.url,
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.json() == {"status": "ok", "programmes": 1}
        local = Settings.from_env({"RECOMPENSE_JWT_SECRET": SECRET}, db_url=served.url)
        from recompense.web.auth import mint_token

        token = mint_token(local, role="user", user_id=served.owner)
        me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200 and me.json()["user_id"] == served.owner
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()
