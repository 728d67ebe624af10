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

:class:`NotifySettings` is a :class:`~recompense.settings.RecompenseSettings`: ``notify
run`` reads it once when it starts (:meth:`NotifySettings.from_env`, options winning), and
the same checks run on settings built in code (:meth:`NotifySettings.replace`).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from recompense.notify.errors import NotifySettingsError
from recompense.settings import RecompenseSettings, SettingValueError

DEFAULT_REDEEM_URL = "https://exchange.example/rewards-hub"
DEFAULT_MAIL_FROM = "Rewards <rewards@exchange.example>"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_PROCESS = "`notify run`"


def _worker(name: str, default: Any, description: str) -> Any:
    """A ``RECOMPENSE_NOTIFY_*`` field (the worker's own knobs)."""
    return Field(default, validation_alias=f"RECOMPENSE_NOTIFY_{name}", description=description)


class NotifySettings(RecompenseSettings):
    error: ClassVar[type[NotifySettingsError]] = NotifySettingsError
    process: ClassVar[str] = _PROCESS

    smtp_host: str = Field("127.0.0.1", description="the SMTP relay")
    smtp_port: int = Field(25, description="its TCP port")
    smtp_starttls: bool = Field(False, description="upgrade with STARTTLS (1/0, yes/no, on/off)")
    smtp_username: str | None = Field(None, description="SMTP AUTH user")
    smtp_password: str | None = Field(
        None, repr=False, description="SMTP AUTH password (environment only, never an option)"
    )
    smtp_cafile: str | None = Field(
        None, description="a private CA for STARTTLS; default: the system trust store"
    )
    smtp_timeout: float = Field(
        30.0, description="seconds for one whole send: connect, EHLO, STARTTLS, AUTH, DATA"
    )
    mail_from: str = Field(DEFAULT_MAIL_FROM, description="the From address")
    push_url: str | None = Field(None, description="push gateway URL (unset: no push)")
    push_timeout: float = Field(10.0, description="seconds for one whole push")
    redeem_url: str = Field(DEFAULT_REDEEM_URL, description="the link in every message")
    rate: float = _worker("RATE", 0.0, "max sends per second per worker; 0 = unlimited")
    batch: int = _worker("BATCH", 200, "rows claimed per transaction")
    threads: int = _worker("THREADS", 4, "concurrent senders per worker (1-64)")
    max_attempts: int = _worker("MAX_ATTEMPTS", 8, "sends tried before a row fails")
    lease_seconds: float = _worker(
        "LEASE_SECONDS", 300.0, "a claim's lease; at least twice the send timeout"
    )
    backoff_base: float = _worker("BACKOFF_BASE", 30.0, "first retry within [0, base] s")
    backoff_cap: float = _worker("BACKOFF_CAP", 3600.0, "longest retry delay, seconds")
    poll_seconds: float = _worker("POLL_SECONDS", 1.0, "longest idle sleep of a looping worker")
    probe_base: float = _worker("PROBE_BASE", 5.0, "a channel found down is probed after this")
    probe_cap: float = _worker("PROBE_CAP", 60.0, "longest wait between probes, seconds")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Defaults ← ``RECOMPENSE_*`` variables ← ``overrides`` (``None`` means unset)."""
        unknown = set(overrides) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"unknown notify settings: {sorted(unknown)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return super().from_env(env, **given)

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any, info: Any) -> Any:
        """Text from the environment, parsed by the field's type (bool, int, float, str)."""
        if not isinstance(value, str):
            return value
        return _parse(cls.env_name(info.field_name), value, _KINDS[info.field_name])

    @model_validator(mode="after")
    def _checked(self) -> NotifySettings:
        """Check ranges and URLs; raise naming the variable (exit 2)."""
        for problem in _problems(self):
            raise SettingValueError(problem)
        return self

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


ENV_NAMES = {name: NotifySettings.env_name(name) for name in NotifySettings.model_fields}
_KINDS = {
    name: str(info.annotation).replace("<class '", "").replace("'>", "")
    for name, info in NotifySettings.model_fields.items()
}


def _parse(name: str, raw: str, kind: str) -> Any:
    text = raw.strip()
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
        raise SettingValueError(f"{name}={raw!r}: not a valid {kind} ({exc})") from exc
    if "None" in kind:
        return text or None
    return text


def _problems(s: NotifySettings) -> list[str]:
    problems: list[str] = []
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
