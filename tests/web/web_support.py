"""Calling any route as any caller, for the authorization matrix and the API tests."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recompense.observability.logs import json_handler
from recompense.runs import run_fingerprint
from recompense.web.settings import Settings

SECRET = "s" * 48
ISSUER, AUDIENCE = "https://id.example.test", "recompense-web"
CALLERS = ("anon", "own", "other", "ops", "auditor", "account_manager", "credit_committee")
PROGRAM = "together-2025-10"
PROGRAM_FILE = Path(__file__).resolve().parents[2] / "programs" / "together-2025-10.toml"


def headers_for(served: Any, caller: str) -> dict[str, str]:
    """Bearer headers for ``caller``; ``own`` is the resource owner, ``other`` someone else."""
    if caller == "anon":
        return {}
    if caller == "own":
        return served.bearer("user", served.owner)
    if caller == "other":
        return served.bearer("user", served.other)
    return served.bearer(caller)


def concrete(served: Any, path: str) -> str:
    """The path template filled in with the owner's resources."""
    filled = (
        path.replace("{program_id}", PROGRAM)
        .replace("{user_id}", str(served.owner))
        .replace("{voucher_id}", served.voucher(served.owner))
        .replace("{fingerprint}", run_fingerprint(served.run))
    )
    if filled == "/ops/users":
        filled += f"?user_id={served.owner}"
    return filled


def call(served: Any, client: Any, method: str, path: str, caller: str) -> Any:
    headers = headers_for(served, caller)
    url = concrete(served, path)
    if method == "GET":
        return client.get(url, headers=headers, follow_redirects=False)
    if "whatif" in path and path.startswith("/api/"):
        return client.post(url, headers=headers, json={"min_loss_usd": "100"})
    if "whatif" in path:
        return client.post(
            url,
            headers=headers,
            data={"min_loss_usd": "100", "action": "simulate"},
            follow_redirects=False,
        )
    if path == "/selfcheck":  # an empty export: the importer refuses it (422), quickly
        files = {"files": ("empty.csv", b"", "text/csv")}
        return client.post(url, headers=headers, files=files, follow_redirects=False)
    return client.post(url, headers=headers, follow_redirects=False)


@dataclass(frozen=True)
class Keys:
    private_pem: bytes
    public_pem: str


def settings_for(url: str, keys: Keys) -> Settings:
    return Settings.from_env(
        {
            "RECOMPENSE_JWT_SECRET": SECRET,
            "RECOMPENSE_JWT_PUBLIC_KEY": keys.public_pem,
            "RECOMPENSE_JWT_ISSUER": ISSUER,
            "RECOMPENSE_JWT_AUDIENCE": AUDIENCE,
            # "Check with your own exports": stablecoins only, the distributed run's λ
            "RECOMPENSE_SELFCHECK_PROGRAM": str(PROGRAM_FILE),
            # Users' cases: one fixed test key (32 bytes), so the cases routes are served.
            "RECOMPENSE_CASES_KEYS": "t1:" + base64.b64encode(bytes(range(32))).decode(),
        },
        db_url=url,
    )


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The service's JSON log lines while the block runs."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root, ours = logging.getLogger(), logging.getLogger("recompense")
    level = ours.level
    root.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        ours.setLevel(level)
