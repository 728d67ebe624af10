"""Worker settings: ``RECOMPENSE_*`` environment variables, overridden by CLI options.

Units: seconds for every duration, sends per second for the rate. The send timeouts
(``smtp_timeout``, ``push_timeout``) bound one *whole* send — every socket operation of
it together — not each operation. The SMTP password is
read from the environment only (never an option: it would show in ``ps``), and is kept
out of ``repr``.

Push is optional. Without ``RECOMPENSE_PUSH_URL`` the worker does not claim push rows
at all: they stay ``pending`` (counted in ``pending_left``) until a worker with a gateway
runs. A missing setting says nothing about the notification, so it must not mark it
failed; the CLI warns instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from recompense.notify.errors import NotifySettingsError

DEFAULT_REDEEM_URL = "https://exchange.example/rewards-hub"
DEFAULT_MAIL_FROM = "Rewards <rewards@exchange.example>"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class NotifySettings:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_cafile: str | None = None  # a private CA for STARTTLS; default: system trust store
    smtp_timeout: float = 30.0  # one whole send: connect, EHLO, STARTTLS, AUTH, MAIL … DATA
    mail_from: str = DEFAULT_MAIL_FROM
    push_url: str | None = None
    push_timeout: float = 10.0  # one whole push: connect, request, response
    redeem_url: str = DEFAULT_REDEEM_URL
    rate: float = 0.0  # max sends per second per worker process; 0 = unlimited
    batch: int = 200  # rows claimed per transaction
    threads: int = 4  # concurrent senders per worker (one SMTP session each)
    max_attempts: int = 8
    lease_seconds: float = 300.0
    backoff_base: float = 30.0  # first retry within [0, base], then doubling, up to cap
    backoff_cap: float = 3600.0
    poll_seconds: float = 1.0  # how long an idle looping worker sleeps at most
    probe_base: float = 5.0  # a channel found down is probed after [base/2, base] s, then
    probe_cap: float = 60.0  # doubling on every failed probe, up to cap (see breaker.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> NotifySettings:
        """Defaults ← ``RECOMPENSE_*`` variables ← ``overrides`` (``None`` means unset)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            name = ENV_NAMES[item.name]
            if name in env:
                values[item.name] = _parse(name, env[name], item.type)
        unknown = set(overrides) - set(ENV_NAMES)
        if unknown:
            raise TypeError(f"unknown notify settings: {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        """Check ranges and URLs; raise :class:`NotifySettingsError` naming the variable."""
        for problem in _problems(self):
            raise NotifySettingsError(problem)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this worker delivers (push only with a gateway)."""
        return ("email", "push") if self.push_url else ("email",)

    @property
    def send_timeout(self) -> float:
        """The longest one send may take, on either channel (its whole budget)."""
        return max(self.smtp_timeout, self.push_timeout)

    def timeout(self, channel: str) -> float:
        """The budget of one whole send on ``channel``."""
        return self.smtp_timeout if channel == "email" else self.push_timeout

    @property
    def record_reserve(self) -> float:
        """Lease time kept for recording a batch's outcomes after its last send ends."""
        return self.lease_seconds / 10


ENV_NAMES = {
    "smtp_host": "RECOMPENSE_SMTP_HOST",
    "smtp_port": "RECOMPENSE_SMTP_PORT",
    "smtp_starttls": "RECOMPENSE_SMTP_STARTTLS",
    "smtp_username": "RECOMPENSE_SMTP_USERNAME",
    "smtp_password": "RECOMPENSE_SMTP_PASSWORD",
    "smtp_cafile": "RECOMPENSE_SMTP_CAFILE",
    "smtp_timeout": "RECOMPENSE_SMTP_TIMEOUT",
    "mail_from": "RECOMPENSE_MAIL_FROM",
    "push_url": "RECOMPENSE_PUSH_URL",
    "push_timeout": "RECOMPENSE_PUSH_TIMEOUT",
    "redeem_url": "RECOMPENSE_REDEEM_URL",
    "rate": "RECOMPENSE_NOTIFY_RATE",
    "batch": "RECOMPENSE_NOTIFY_BATCH",
    "threads": "RECOMPENSE_NOTIFY_THREADS",
    "max_attempts": "RECOMPENSE_NOTIFY_MAX_ATTEMPTS",
    "lease_seconds": "RECOMPENSE_NOTIFY_LEASE_SECONDS",
    "backoff_base": "RECOMPENSE_NOTIFY_BACKOFF_BASE",
    "backoff_cap": "RECOMPENSE_NOTIFY_BACKOFF_CAP",
    "poll_seconds": "RECOMPENSE_NOTIFY_POLL_SECONDS",
    "probe_base": "RECOMPENSE_NOTIFY_PROBE_BASE",
    "probe_cap": "RECOMPENSE_NOTIFY_PROBE_CAP",
}


def _parse(name: str, raw: str, kind: Any) -> Any:
    text = raw.strip()
    kind = str(kind)
    try:
        if kind == "bool":
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError("expected one of 1/0, true/false, yes/no, on/off")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError as exc:
        raise NotifySettingsError(f"{name}={raw!r}: not a valid {kind} ({exc})") from exc
    if "None" in kind:
        return text or None
    return text


def _problems(s: NotifySettings) -> list[str]:
    problems = []
    checks = [
        ("smtp_port", 1 <= s.smtp_port <= 65535, "must be a TCP port (1-65535)"),
        ("smtp_timeout", s.smtp_timeout > 0, "must be > 0 seconds"),
        ("push_timeout", s.push_timeout > 0, "must be > 0 seconds"),
        ("rate", s.rate >= 0, "must be ≥ 0 sends per second (0 = unlimited)"),
        ("batch", s.batch >= 1, "must be ≥ 1"),
        ("threads", 1 <= s.threads <= 64, "must be between 1 and 64"),
        ("max_attempts", s.max_attempts >= 1, "must be ≥ 1"),
        ("backoff_base", s.backoff_base > 0, "must be > 0 seconds"),
        ("backoff_cap", s.backoff_cap >= s.backoff_base, "must be ≥ the backoff base"),
        ("poll_seconds", s.poll_seconds > 0, "must be > 0 seconds"),
        ("probe_base", s.probe_base > 0, "must be > 0 seconds"),
        ("probe_cap", s.probe_cap >= s.probe_base, "must be ≥ the probe base"),
        (
            "lease_seconds",
            s.lease_seconds >= 2 * s.send_timeout,
            f"must be ≥ twice the send timeout ({2 * s.send_timeout:g} s), so a send "
            "started inside the lease also finishes inside it",
        ),
        ("smtp_host", bool(s.smtp_host), "must not be empty"),
        (
            "mail_from",
            "@" in parseaddr(s.mail_from)[1],
            "must be an address like 'Rewards <rewards@exchange.example>'",
        ),
        ("redeem_url", _is_http(s.redeem_url), "must be an http(s) URL"),
        ("push_url", s.push_url is None or _is_http(s.push_url), "must be an http(s) URL"),
    ]
    for name, ok, message in checks:
        if not ok:
            value = getattr(s, name)
            problems.append(f"{ENV_NAMES[name]}={value!r}: {message}")
    if s.smtp_username and not s.smtp_password:
        problems.append("RECOMPENSE_SMTP_USERNAME is set but RECOMPENSE_SMTP_PASSWORD is not")
    return problems


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
