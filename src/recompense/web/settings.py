"""The service's settings, from environment variables (twelve-factor style).

Every variable is a field of :class:`WebSettings` (read once, when the service or a
command starts; listed with its default in ``docs/operations.md``, "Settings"):
``RECOMPENSE_DB_URL``, the JWT issuer, audience and keys (``RECOMPENSE_JWT_*``), the
browser session's secret and lifetimes (``RECOMPENSE_SESSION_*``), the self-check's
programme, run and price files (``RECOMPENSE_SELFCHECK_*``), the publication key, the runs
folder, the metrics token, the cases' keys, and the log switches. :class:`Settings` is what
the service uses: the keys read and checked, files opened, durations in seconds.

Keys are only ever the ones configured: production sets the issuer, audience and the
identity provider's public key, and no secret, and then accepts RS256 tokens only —
HS256 is accepted only when ``RECOMPENSE_JWT_SECRET`` or ``RECOMPENSE_JWT_SECRET_FILE``
is set, whatever lies in the working directory. With neither a public key nor a secret
the service refuses to start (it could verify no one). For local development,
``recompense dev-secret --out FILE`` makes a secret file (mode 0600) and says so; nothing
makes one implicitly.

The self-check's files are checked at start-up (a missing one stops the service, naming
it); with no klines and no prices, only the stablecoins (USDT, USDC at $1) are priced.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from recompense.cases.desk import ACTIVE_ENV as CASES_ACTIVE_ENV
from recompense.cases.desk import KEYS_ENV as CASES_KEYS_ENV
from recompense.cases.desk import CasesSettings
from recompense.loans.crypto import Keyring
from recompense.loans.errors import LoanKeyError
from recompense.proofs.signature import PublicKey, parse_public_key
from recompense.settings import RecompenseSettings
from recompense.web.errors import WebSettingsError

DEFAULT_ISSUER = "recompense-local"
DEFAULT_AUDIENCE = "recompense"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
MIN_SECRET_BYTES = 32
SESSION_LIFETIME_S = 8 * 3600
SESSION_IDLE_S = 30 * 60
MIN_SESSION_S, MAX_SESSION_S = 60, 30 * 24 * 3600
NO_KEYS = (
    "no key to verify tokens with: set RECOMPENSE_JWT_PUBLIC_KEY_FILE (the identity "
    "provider's RS256 public key) or, for local development, make a secret with "
    "`recompense dev-secret --out .recompense/jwt-secret` and set "
    "RECOMPENSE_JWT_SECRET_FILE=.recompense/jwt-secret"
)


def _text(description: str, kind: str = "text") -> str | None:
    return Field(None, description=description, json_schema_extra={"kind": kind})


def _secret(description: str) -> str | None:
    return Field(None, repr=False, description=description, json_schema_extra={"kind": "secret"})


class WebSettings(RecompenseSettings):
    """The web service's variables as given (text); :class:`Settings` checks and reads them.

    ``RECOMPENSE_CASES_*`` belong to :class:`~recompense.cases.desk.CasesSettings`.
    """

    error: ClassVar[type[WebSettingsError]] = WebSettingsError
    process: ClassVar[str] = "`serve`; `token` (the JWT ones, the base URL)"

    db_url: str | None = _text("the ledger database (`serve --db` sets it)", "URL")
    jwt_issuer: str | None = _text(f"expected `iss` claim (unset: `{DEFAULT_ISSUER}`)")
    jwt_audience: str | None = _text(f"expected `aud` claim (unset: `{DEFAULT_AUDIENCE}`)")
    jwt_public_key: str | None = _text("PEM public key: RS256 tokens of the identity provider")
    jwt_public_key_file: str | None = _text("the same, from a file", "path")
    jwt_secret: str | None = _secret(f"shared secret (≥ {MIN_SECRET_BYTES} bytes): HS256 tokens")
    jwt_secret_file: str | None = _text(
        "the same, from a file (it must exist: `recompense dev-secret --out FILE`)", "path"
    )
    session_secret: str | None = _secret(
        "signs CSRF tokens and sign-in forms (unset: derived from the HS256 secret, else "
        "random per process)"
    )
    session_lifetime_s: str | None = _text(
        f"seconds a browser session lasts at most (unset: {SESSION_LIFETIME_S}, 8 h)", "seconds"
    )
    session_idle_s: str | None = _text(
        f"seconds without a request that end a browser session (unset: {SESSION_IDLE_S})",
        "seconds",
    )
    secure_cookies: str | None = _text("`1` behind HTTPS: the session cookie gets `Secure`", "0/1")
    base_url: str | None = _text(f"the address in sign-in links (unset: `{DEFAULT_BASE_URL}`)")
    selfcheck_program: str | None = _text(
        "the programme file (TOML) the self-check applies (unset: the page is off)", "path"
    )
    selfcheck_run: str | None = _text(
        "the published run whose λ prices the self-check (unset: the distributed run)", "path"
    )
    selfcheck_klines: str | None = _text(
        "1-minute kline files per margin asset: `BTC=/p/09.csv,BTC=/p/10.csv`", "paths"
    )
    selfcheck_prices: str | None = _text("`asset,minute,usd` price files, comma-separated", "paths")
    publication_key: str | None = _text(
        "the programme's published Ed25519 public key (64 hex digits or PEM)"
    )
    publication_key_file: str | None = _text(
        "the same, from a file (`public-key.json` of `recompense keys new`, or PEM)", "path"
    )
    runs_dir: str | None = _text(
        "the runs the console offers for approval (`serve --runs`)", "path"
    )
    metrics_token: str | None = _secret(
        "the bearer token of the metrics scraper (≥ 32 bytes; unset: `/metrics` is 404)"
    )
    metrics_token_file: str | None = _text("the same, from a file", "path")
    request_metrics: str | None = _text("`0`: no request metrics (unset: `1`)", "0/1")
    access_log: str | None = _text("`0`: no access log line per request (unset: `1`)", "0/1")

    def variables(self) -> dict[str, str]:
        """The variables that are set, by name (what :class:`Settings` reads)."""
        values = {self.env_name(name): getattr(self, name) for name in type(self).model_fields}
        return {name: value for name, value in values.items() if value is not None}


def _declared(environ: Mapping[str, str] | None) -> dict[str, str]:
    """The web's variables and the cases' keys, read once through their classes."""
    cases = CasesSettings.from_env(environ)
    given = {CASES_KEYS_ENV: cases.cases_keys, CASES_ACTIVE_ENV: cases.cases_active_key}
    declared = {name: value for name, value in given.items() if value is not None}
    return WebSettings.from_env(environ).variables() | declared


@dataclass(frozen=True, slots=True)
class SelfCheckSettings:
    """What "Check with your own exports" applies: a programme, a run, price sources."""

    program: Path | None = None
    run: Path | None = None
    klines: tuple[tuple[str, Path], ...] = ()  # (asset, file), in the order given
    prices: tuple[Path, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SelfCheckSettings:
        program = _existing(env, "RECOMPENSE_SELFCHECK_PROGRAM", file=True)
        run = _existing(env, "RECOMPENSE_SELFCHECK_RUN", file=False)
        klines = []
        for item in _items(env, "RECOMPENSE_SELFCHECK_KLINES"):
            asset, sep, path = item.partition("=")
            asset = asset.strip().upper()
            if not sep or not asset.isalnum() or not path.strip():
                raise WebSettingsError(
                    f"RECOMPENSE_SELFCHECK_KLINES: expected ASSET=FILE, got {item!r}"
                )
            klines.append((asset, _file("RECOMPENSE_SELFCHECK_KLINES", path.strip())))
        prices = tuple(
            _file("RECOMPENSE_SELFCHECK_PRICES", item)
            for item in _items(env, "RECOMPENSE_SELFCHECK_PRICES")
        )
        return cls(program, run, tuple(klines), prices)


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    hs256_secret: bytes | None = None
    rs256_public_key: str | None = None
    session_secret: bytes = b""
    secure_cookies: bool = False
    base_url: str = DEFAULT_BASE_URL
    selfcheck: SelfCheckSettings = field(default_factory=SelfCheckSettings)
    publication_key: PublicKey | None = None  # signs the commitments (verify page)
    runs_dir: Path | None = None  # runs offered for approval (the console's sign-off page)
    metrics_token: bytes | None = None
    request_metrics: bool = True
    access_log: bool = True
    session_lifetime_s: int = SESSION_LIFETIME_S  # a browser session ends this long after sign-in
    session_idle_s: int = SESSION_IDLE_S  # ... or this long after its last request
    cases_keyring: Keyring | None = field(default=None, repr=False)  # users' cases

    def __repr__(self) -> str:  # never print secrets
        return (
            f"Settings(db_url={self.db_url!r}, issuer={self.issuer!r}, "
            f"audience={self.audience!r}, hs256={self.hs256_secret is not None}, "
            f"rs256={self.rs256_public_key is not None})"
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, db_url: str | None = None
    ) -> Settings:
        """Read the environment: the keys configured, and no others (see the module)."""
        env = _declared(environ)
        url = db_url or env.get("RECOMPENSE_DB_URL")
        if not url:
            raise WebSettingsError("no database: pass --db URL or set RECOMPENSE_DB_URL")
        public_key = _public_key(env)
        secret = hs256_secret(env)
        if public_key is None and secret is None:
            raise WebSettingsError(NO_KEYS)
        lifetime = _seconds(env, "RECOMPENSE_SESSION_LIFETIME_S", SESSION_LIFETIME_S)
        idle = _seconds(env, "RECOMPENSE_SESSION_IDLE_S", min(SESSION_IDLE_S, lifetime))
        if idle > lifetime:
            raise WebSettingsError(
                f"RECOMPENSE_SESSION_IDLE_S ({idle}) is longer than the session lifetime "
                f"RECOMPENSE_SESSION_LIFETIME_S ({lifetime})"
            )
        return cls(
            db_url=url,
            issuer=env.get("RECOMPENSE_JWT_ISSUER", DEFAULT_ISSUER),
            audience=env.get("RECOMPENSE_JWT_AUDIENCE", DEFAULT_AUDIENCE),
            hs256_secret=secret,
            rs256_public_key=public_key,
            session_secret=_session_secret(env, secret),
            secure_cookies=env.get("RECOMPENSE_SECURE_COOKIES", "") == "1",
            base_url=env.get("RECOMPENSE_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
            selfcheck=SelfCheckSettings.from_env(env),
            publication_key=_publication_key(env),
            runs_dir=_existing(env, "RECOMPENSE_RUNS_DIR", file=False),
            metrics_token=_metrics_token(env),
            request_metrics=env.get("RECOMPENSE_REQUEST_METRICS", "1") != "0",
            access_log=env.get("RECOMPENSE_ACCESS_LOG", "1") != "0",
            session_lifetime_s=lifetime,
            session_idle_s=idle,
            cases_keyring=_cases_keyring(env),
        )


def minting_settings(
    environ: Mapping[str, str] | None = None, *, secret_file: Path | None = None
) -> Settings:
    """Issuer, audience and the HS256 secret for ``recompense token``: ``secret_file``,
    else the one configured (``RECOMPENSE_JWT_SECRET(_FILE)``); none is an error."""
    env = _declared(environ)
    if secret_file is not None:
        secret: bytes | None = read_secret_file(secret_file, "--secret-file")
    else:
        secret = hs256_secret(env)
    if secret is None:
        raise WebSettingsError(
            "no JWT secret: make a local development one with `recompense dev-secret --out "
            "FILE`, then pass --secret-file FILE (or set RECOMPENSE_JWT_SECRET_FILE=FILE)"
        )
    return Settings(
        db_url=env.get("RECOMPENSE_DB_URL", ""),
        issuer=env.get("RECOMPENSE_JWT_ISSUER", DEFAULT_ISSUER),
        audience=env.get("RECOMPENSE_JWT_AUDIENCE", DEFAULT_AUDIENCE),
        hs256_secret=secret,
        base_url=env.get("RECOMPENSE_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
    )


def hs256_secret(env: Mapping[str, str]) -> bytes | None:
    """The HS256 secret configured: ``RECOMPENSE_JWT_SECRET``, else the file named by
    ``RECOMPENSE_JWT_SECRET_FILE`` (which must exist); neither set: None."""
    value = env.get("RECOMPENSE_JWT_SECRET")
    if value is not None:
        return _long_enough(value.strip().encode("utf-8"), "RECOMPENSE_JWT_SECRET")
    name = env.get("RECOMPENSE_JWT_SECRET_FILE")
    if name is None:
        return None
    return read_secret_file(Path(name), "RECOMPENSE_JWT_SECRET_FILE")


def read_secret_file(path: Path, source: str) -> bytes:
    """A secret file's contents (stripped), at least :data:`MIN_SECRET_BYTES` long."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise WebSettingsError(
            f"{source}: {path} does not exist (a local development secret is made with "
            f"`recompense dev-secret --out {path}`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WebSettingsError(f"{source}: cannot read the JWT secret {path}: {exc}") from exc
    return _long_enough(text.encode("utf-8"), str(path))


def create_local_secret(path: Path) -> None:
    """Write a new random HS256 secret to ``path``, mode 0600; an existing file is refused
    (it may be the secret a running service and its tokens use)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise WebSettingsError(
            f"--out {path}: the file exists; it is kept (remove it to make a new secret: "
            "tokens signed with the old one stop working)"
        ) from None
    except OSError as exc:
        raise WebSettingsError(f"--out {path}: cannot create the secret: {exc}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _public_key(env: Mapping[str, str]) -> str | None:
    value = env.get("RECOMPENSE_JWT_PUBLIC_KEY")
    source = "RECOMPENSE_JWT_PUBLIC_KEY"
    if value is None and "RECOMPENSE_JWT_PUBLIC_KEY_FILE" in env:
        source = env["RECOMPENSE_JWT_PUBLIC_KEY_FILE"]
        try:
            value = Path(source).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise WebSettingsError(f"{source}: cannot read the public key: {exc}") from exc
    if value is None:
        return None
    if "-----BEGIN PUBLIC KEY-----" not in value:
        raise WebSettingsError(f"{source}: not a PEM public key (no BEGIN PUBLIC KEY line)")
    return value


def _metrics_token(env: Mapping[str, str]) -> bytes | None:
    value, source = env.get("RECOMPENSE_METRICS_TOKEN"), "RECOMPENSE_METRICS_TOKEN"
    if value is None and "RECOMPENSE_METRICS_TOKEN_FILE" in env:
        source = env["RECOMPENSE_METRICS_TOKEN_FILE"]
        try:
            value = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WebSettingsError(f"{source}: cannot read the metrics token: {exc}") from exc
    if value is None or not value.strip():
        return None
    return _long_enough(value.strip().encode("utf-8"), source)


def _publication_key(env: Mapping[str, str]) -> PublicKey | None:
    value, source = env.get("RECOMPENSE_PUBLICATION_KEY"), "RECOMPENSE_PUBLICATION_KEY"
    if value is None and "RECOMPENSE_PUBLICATION_KEY_FILE" in env:
        source = env["RECOMPENSE_PUBLICATION_KEY_FILE"]
        try:
            value = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WebSettingsError(f"{source}: cannot read the publication key: {exc}") from exc
    if value is None or not value.strip():
        return None
    try:
        return parse_public_key(value)
    except ValueError as exc:
        raise WebSettingsError(f"{source}: {exc}") from None


def _session_secret(env: Mapping[str, str], jwt_secret: bytes | None) -> bytes:
    value = env.get("RECOMPENSE_SESSION_SECRET")
    if value is not None:
        return _long_enough(value.strip().encode("utf-8"), "RECOMPENSE_SESSION_SECRET")
    if jwt_secret is not None:  # a separate key for a separate purpose
        return hmac.digest(jwt_secret, b"recompense csrf v1", hashlib.sha256)
    return secrets.token_bytes(32)  # one process only: set the variable for several workers


def _long_enough(value: bytes, source: str) -> bytes:
    if len(value) < MIN_SECRET_BYTES:
        raise WebSettingsError(
            f"{source}: the secret has {len(value)} bytes; at least {MIN_SECRET_BYTES} needed"
        )
    return value


def _items(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _existing(env: Mapping[str, str], name: str, *, file: bool) -> Path | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    path = Path(value)
    if not (path.is_file() if file else path.is_dir()):
        kind = "file" if file else "folder"
        raise WebSettingsError(f"{name}: {value} is not a {kind}")
    return path


def _file(name: str, value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise WebSettingsError(f"{name}: {value} is not a file")
    return path


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    digits = value.isascii() and value.isdigit() and len(value) <= 9
    if not digits or not MIN_SESSION_S <= int(value) <= MAX_SESSION_S:
        raise WebSettingsError(
            f"{name}: expected a whole number of seconds from {MIN_SESSION_S} to "
            f"{MAX_SESSION_S}, got {value[:40]!r}"
        )
    return int(value)


def _cases_keyring(env: Mapping[str, str]) -> Keyring | None:
    """The cases' keys, read once at start-up; unset: None (the cases pages answer 503)."""
    try:
        return CasesSettings.from_env(env).keyring()
    except LoanKeyError as exc:
        raise WebSettingsError(str(exc)) from exc
