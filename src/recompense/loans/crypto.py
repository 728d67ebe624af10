"""Encryption at rest for the sensitive fields (financial statements, losses, notes).

AES-256-GCM from ``cryptography``. A stored value reads ``v1:KEY_ID:NONCE:CIPHERTEXT``
(base64url): the key id says which key wrote it, so keys can rotate — new writes use the
active key, old rows stay readable while their key is configured, and
:func:`recompense.loans.views.rotate_keys` re-encrypts them under the active key. The
associated data binds a ciphertext to its table, column and record, so a value copied
into another row does not decrypt.

Keys come from the environment, never from options (they would show in ``ps``)::

    RECOMPENSE_LOANS_KEYS="k2:BASE64KEY,k1:BASE64KEY"   # 32-byte keys, base64
    RECOMPENSE_LOANS_ACTIVE_KEY=k2                        # default: the first listed

Other domains with encrypted fields (cases: ``RECOMPENSE_CASES_KEYS``) use the same
format under their own variable names (``Keyring.from_env(keys_var=…, active_var=…)``);
:meth:`Keyring.encrypt_bytes` seals files (evidence) without a base64 detour.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recompense.loans.errors import LoanIntegrityError, LoanKeyError

KEYS_ENV = "RECOMPENSE_LOANS_KEYS"
ACTIVE_ENV = "RECOMPENSE_LOANS_ACTIVE_KEY"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
PREFIX = "v1"


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: Mapping[str, bytes] = field(repr=False)
    active: str
    keys_var: str = field(default=KEYS_ENV, compare=False)  # named in error messages

    def __post_init__(self) -> None:
        var = self.keys_var
        if self.active not in self.keys:
            raise LoanKeyError(
                f"the active key {self.active!r} is not one of the configured keys ({var})"
            )
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise LoanKeyError(f"{var}: key id {key_id!r} must match {_KEY_ID.pattern}")
            if len(key) != 32:
                raise LoanKeyError(f"{var}: key {key_id!r} must be 32 bytes, got {len(key)}")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        keys_var: str = KEYS_ENV,
        active_var: str = ACTIVE_ENV,
    ) -> Keyring:
        env = os.environ if env is None else env
        text = env.get(keys_var, "").strip()
        if not text:
            raise LoanKeyError(
                f"{keys_var} is not set: give one or more ID:BASE64KEY pairs (32-byte keys); "
                f"create one with `recompense loans new-key`"
            )
        keys: dict[str, bytes] = {}
        for item in text.split(","):
            key_id, sep, encoded = item.strip().partition(":")
            if not sep:
                raise LoanKeyError(f"{keys_var}: {key_id!r} is not ID:BASE64KEY")
            standard = encoded.strip().replace("-", "+").replace("_", "/")
            try:
                keys[key_id] = base64.b64decode(standard, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise LoanKeyError(f"{keys_var}: key {key_id!r} is not base64") from exc
        return cls(keys, env.get(active_var) or next(iter(keys)), keys_var)

    def encrypt(self, plaintext: str, context: str) -> str:
        return self.encrypt_bytes(plaintext.encode(), context)

    def decrypt(self, stored: str, context: str) -> str:
        return self.decrypt_bytes(stored, context).decode()

    def encrypt_bytes(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, context.encode())
        return ":".join((PREFIX, self.active, _b64(nonce), _b64(sealed)))

    def decrypt_bytes(self, stored: str, context: str) -> bytes:
        key_id = key_id_of(stored)
        if key_id not in self.keys:
            raise LoanKeyError(
                f"{context}: written with key {key_id!r}, which is not in {self.keys_var}; "
                f"add it back (rotation keeps old keys until `recompense loans rotate-keys`)"
            )
        _, _, nonce, sealed = stored.split(":")
        try:
            plain = AESGCM(self.keys[key_id]).decrypt(
                _unb64(nonce), _unb64(sealed), context.encode()
            )
        except InvalidTag as exc:
            raise LoanIntegrityError(f"{context}: ciphertext does not authenticate") from exc
        return plain


def key_id_of(stored: str) -> str:
    parts = stored.split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise LoanIntegrityError("a stored value is not a v1 ciphertext")
    return parts[1]


def new_key() -> str:
    """A fresh 32-byte key, base64url (for ``RECOMPENSE_LOANS_KEYS``)."""
    return _b64(os.urandom(32))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())
