"""Batched hashing agrees with the reference implementations, row by row."""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np
import pytest
from eth_hash.auto import keccak

from recompense.proofs import hashing


def rows(count: int, width: int) -> np.ndarray:
    return np.frombuffer(os.urandom(count * width), np.uint8).reshape(count, width)


@pytest.mark.parametrize("width", [1, 32, 64, 135, 136, 137, 300])
def test_keccak_rows_are_ethereum_keccak256_not_sha3(width):
    messages = rows(50, width)
    once = hashing.keccak256_rows(messages)
    twice = hashing.keccak256_rows(messages, twice=True)
    for message, digest, double in zip(messages, once, twice, strict=True):
        assert digest.tobytes() == keccak(message.tobytes())
        assert double.tobytes() == keccak(keccak(message.tobytes()))
        assert digest.tobytes() != hashlib.sha3_256(message.tobytes()).digest()


def test_the_fast_keccak_is_in_use_and_the_fallback_gives_the_same_bytes():
    assert hashing.keccak_backend() == "safe-pysha3"
    messages = rows(20, 64)
    for twice in (False, True):
        fast = hashing.keccak256_rows(messages, twice=twice)
        slow = hashing._keccak_fallback(messages, twice)
        assert np.array_equal(fast, slow)


def test_sha256_and_hmac_rows_match_hashlib():
    messages = rows(40, 49)
    key = os.urandom(32)
    for message, digest, mac in zip(
        messages,
        hashing.sha256_rows(messages),
        hashing.hmac_sha256_rows(key, messages),
        strict=True,
    ):
        assert digest.tobytes() == hashlib.sha256(message.tobytes()).digest()
        assert mac.tobytes() == hmac.digest(key, message.tobytes(), "sha256")


def test_long_hmac_keys_are_hashed_first_as_rfc_2104_says():
    key = os.urandom(100)
    message = rows(1, 20)
    expected = hmac.digest(key, message.tobytes(), "sha256")
    assert hashing.hmac_sha256_rows(key, message)[0].tobytes() == expected


def test_malformed_rows_are_refused():
    with pytest.raises(ValueError, match="uint8 rows"):
        hashing.sha256_rows(np.zeros(5, np.uint8))
