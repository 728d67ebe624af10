"""``recompense token`` and ``recompense serve`` as an operator meets them."""

from __future__ import annotations

import json
import os
import re
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
    "RECOMPENSE_JWT_SECRET_FILE",
    "RECOMPENSE_JWT_PUBLIC_KEY",
    "RECOMPENSE_JWT_PUBLIC_KEY_FILE",
    "RECOMPENSE_JWT_ISSUER",
    "RECOMPENSE_JWT_AUDIENCE",
    "RECOMPENSE_DB_URL",
)


def in_process(*args: str, env: dict[str, str | None]):
    return CliRunner().invoke(app, list(args), env={**dict.fromkeys(JWT_VARS), **env})


def test_dev_secret_makes_a_0600_file_says_so_and_never_overwrites(tmp_path):
    path = tmp_path / "local" / "jwt-secret"
    made = in_process("dev-secret", "--out", str(path), env={})
    assert made.exit_code == 0, made.output
    assert "Made a local development JWT secret" in made.output
    assert "jwt-secret" in made.output
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_text().strip()) == 64
    before = path.read_bytes()
    again = in_process("dev-secret", "--out", str(path), env={})
    assert again.exit_code == 2
    assert "exists" in again.output
    assert path.read_bytes() == before


def test_token_mints_what_the_service_accepts(tmp_path):
    secret = tmp_path / "jwt-secret"
    assert in_process("dev-secret", "--out", str(secret), env={}).exit_code == 0
    args = ("token", "--role", "user", "--user-id", "95", "--locale", "es", "--json")
    result = in_process(*args, "--secret-file", str(secret), env={})
    assert result.exit_code == 0, result.output
    minted = json.loads(result.output)
    settings = Settings.from_env(
        {"RECOMPENSE_JWT_SECRET_FILE": str(secret)}, db_url="sqlite:///unused.db"
    )
    assert Verifier(settings).verify(minted["token"]) == Principal("user:95", "user", 95, "es")
    from_env = in_process("token", "--role", "ops", env={"RECOMPENSE_JWT_SECRET_FILE": str(secret)})
    assert Verifier(settings).verify(from_env.output.strip()).role == "ops"


def test_without_a_secret_token_says_how_to_make_one_and_makes_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = in_process("token", "--role", "ops", env={})
    assert result.exit_code == 2
    assert "recompense dev-secret --out" in result.output
    assert "--secret-file" in result.output
    missing = in_process("token", "--role", "ops", "--secret-file", "nope", env={})
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    assert list(tmp_path.iterdir()) == [], "a secret file was made implicitly"


def test_a_link_carries_a_one_time_code_never_the_token(served, tmp_path):
    """``token --link --db URL``: the code is kept (hashed) in the ledger; the link
    signs a browser in through the sign-in form, once."""
    env = {"RECOMPENSE_JWT_SECRET": SECRET}
    args = ("token", "--role", "user", "--user-id", str(served.owner), "--link")
    missing_db = in_process(*args, env=env)
    assert missing_db.exit_code == 2
    assert "--db" in missing_db.output
    made = in_process(*args, "--db", served.url, "--base-url", "http://h:1/", env=env)
    assert made.exit_code == 0, made.output
    link = made.output.strip()
    assert link.startswith("http://h:1/login?code=")
    assert "eyJ" not in link
    code = link.split("code=", 1)[1]
    client = served.client()
    page = client.get("/login", params={"code": code})
    assert page.status_code == 200
    assert f"user:{served.owner}" in page.text
    fields = dict(re.findall(r'name="(code|signin_check|next)" value="([^"]*)"', page.text))
    assert client.post("/login", data=fields, follow_redirects=False).status_code == 303
    assert client.get("/api/me").json()["user_id"] == served.owner
    as_json = in_process(*args, "--db", served.url, "--json", env=env)
    body = json.loads(as_json.output)
    assert body["link"].startswith("http://127.0.0.1:8000/login?code=")
    assert "token" not in body
    assert body["expires_at"].endswith("Z")


def test_token_mistakes_exit_2_with_the_reason(tmp_path):
    env = {"RECOMPENSE_JWT_SECRET": SECRET}
    missing = in_process("token", "--role", "user", env=env)
    assert missing.exit_code == 2
    assert "must carry 'user_id'" in missing.output
    bogus = in_process("token", "--role", "admin", env=env)
    assert bogus.exit_code == 2
    assert "role 'admin' is not one of" in bogus.output
    short = in_process("token", "--role", "ops", env={"RECOMPENSE_JWT_SECRET": "short"})
    assert short.exit_code == 2
    assert "at least 32" in short.output
    unmigrated = f"sqlite:///{tmp_path / 'empty.db'}"
    link = in_process("token", "--role", "ops", "--link", "--db", unmigrated, env=env)
    assert link.exit_code == 2
    assert "recompense db upgrade" in link.output


def test_serve_refuses_a_database_that_is_not_migrated(tmp_path):
    result = in_process(
        "serve", "--db", f"sqlite:///{tmp_path / 'empty.db'}", env={"RECOMPENSE_JWT_SECRET": SECRET}
    )
    assert result.exit_code == 2
    assert "recompense db upgrade" in result.output


def test_serve_without_any_key_refuses_to_start_and_says_how_to_make_one(served):
    result = in_process("serve", "--db", served.url, env={})
    assert result.exit_code == 2
    assert "no key to verify tokens with" in result.output
    assert "recompense dev-secret --out" in result.output


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
        assert me.status_code == 200
        assert me.json()["user_id"] == served.owner
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()
