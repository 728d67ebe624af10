"""The programme's secret key, from which every user's salt is derived.

``salt = HMAC-SHA256(key, utf8(program_id) ‖ 0x00 ‖ int64be(user_id))``: 32 bytes per
user that nobody needs to store, so ``recompense proof`` regenerates a salt on demand and
the same key gives the same salts on every run of the programme.

The key comes from ``RECOMPENSE_COMMITMENT_KEY`` (hex, at least 32 bytes) when it is
set; otherwise ``commit`` generates 32 random bytes into ``commitment.key`` in the run
folder (mode 0600, created exclusively) and ``proof`` reads it from there. The variable
is :class:`CommitmentSettings` (``docs/operations.md``, "Settings"). Whoever holds
the key can link every leaf to its user: it must never be published. ``commitment.json``
is the only public artifact.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from recompense.atomic import disk_error, write_new
from recompense.proofs.errors import CommitmentKeyError
from recompense.settings import RecompenseSettings

ENV_VAR = "RECOMPENSE_COMMITMENT_KEY"
KEY_FILE = "commitment.key"
MIN_KEY_BYTES = 32


class CommitmentSettings(RecompenseSettings):
    """The programme key from the environment (checked when it is used: :func:`resolve_key`)."""

    error: ClassVar[type[CommitmentKeyError]] = CommitmentKeyError
    process: ClassVar[str] = "`commit`, `proof`, `amend`"

    commitment_key: str | None = Field(
        None,
        repr=False,
        description=f"the programme's salt key, hex, at least {MIN_KEY_BYTES} bytes "
        "(unset: `commitment.key` in the run folder)",
        json_schema_extra={"kind": "secret"},
    )


@dataclass(frozen=True, slots=True)
class Key:
    secret: bytes
    source: str  # the environment variable's name, or the key file's path

    def __repr__(self) -> str:  # never print the secret
        return f"Key(source={self.source!r})"


def salt(key: bytes, program_id: str, user_id: int) -> bytes:
    message = program_id.encode("utf-8") + b"\x00" + user_id.to_bytes(8, "big", signed=True)
    return hmac.digest(key, message, "sha256")


def resolve_key(run: Path, *, create: bool, environ: Mapping[str, str] | None = None) -> Key:
    """The key from the environment, else ``run/commitment.key`` (made if ``create``)."""
    value = CommitmentSettings.from_env(environ).commitment_key
    if value is not None:
        return Key(_parse(value.strip(), ENV_VAR), ENV_VAR)
    path = run / KEY_FILE
    if create and not path.exists():
        _create(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise CommitmentKeyError(
            f"{path}: no key; set {ENV_VAR} to the programme key used by commit"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CommitmentKeyError(f"{path}: cannot read the key: {exc}") from exc
    return Key(_parse(text, str(path)), str(path))


def _parse(text: str, source: str) -> bytes:
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise CommitmentKeyError(f"{source}: the key is not hexadecimal") from None
    if len(secret) < MIN_KEY_BYTES:
        raise CommitmentKeyError(
            f"{source}: the key has {len(secret)} bytes, at least {MIN_KEY_BYTES} are needed "
            f"({2 * MIN_KEY_BYTES} hex digits)"
        )
    return secret


def _create(path: Path) -> None:
    """Write a fresh key readable by its owner only; never replace an existing one.

    Written to a temporary file and hard-linked into place (:func:`write_new`): the key
    file is either complete or absent, and a concurrent ``commit`` that linked first wins.
    A disk that cannot take it (full, read-only) is a :class:`StorageError` naming the key
    file, never an error from removing the temporary file that was not made.
    """
    try:
        write_new(path, secrets.token_hex(MIN_KEY_BYTES) + "\n", mode=0o600)
    except FileExistsError:
        pass  # another commit made it first: use theirs
    except OSError as exc:
        raise disk_error(exc, path) or CommitmentKeyError(
            f"{path}: cannot create the key file: {exc.strerror or exc}"
        ) from exc


def inherit_key(run: Path, previous_run: Path, environ: Mapping[str, str] | None = None) -> None:
    """Give an amendment run its chain's key: the previous run's ``commitment.key``, copied
    when neither the environment nor the run has one, so every commitment of the chain
    salts a user alike (the same user hash, one entry followed along the chain)."""
    from_env = CommitmentSettings.from_env(environ).commitment_key is not None
    if from_env or (run / KEY_FILE).exists():
        return
    source = previous_run / KEY_FILE
    if not source.exists():
        return  # the previous run's key came from the environment: commit makes a new one
    key = resolve_key(previous_run, create=False, environ={})
    try:
        write_new(run / KEY_FILE, key.secret.hex() + "\n", mode=0o600)
    except FileExistsError:
        pass  # another commit copied it first
    except OSError as exc:
        raise disk_error(exc, run / KEY_FILE) or CommitmentKeyError(
            f"{run / KEY_FILE}: cannot copy the key of {source}: {exc.strerror or exc}"
        ) from exc
