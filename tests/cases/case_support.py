"""Shared names and helpers of the cases tests (imported as ``case_support``)."""

from __future__ import annotations

import base64
import os

from recompense.loans.crypto import Keyring

PROGRAM_ID = "together-2025-10"
ALICE, BOB, CAROL = "ops:alice", "ops:bob", "ops:carol"
AUDITOR = "auditor:ann"
USER_A, USER_B = "user:1001", "user:1002"


def random_keyring(key_id: str = "k1") -> Keyring:
    return Keyring({key_id: os.urandom(32)}, key_id, "RECOMPENSE_CASES_KEYS")


def keys_env(keyring: Keyring) -> dict[str, str]:
    pairs = ",".join(f"{k}:{base64.urlsafe_b64encode(v).decode()}" for k, v in keyring.keys.items())
    return {"RECOMPENSE_CASES_KEYS": pairs, "RECOMPENSE_CASES_ACTIVE_KEY": keyring.active}
