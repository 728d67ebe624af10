"""Hashing many fixed-length messages at once, for building trees of millions of leaves.

Every function takes a C-contiguous ``(m, L)`` array of ``uint8`` rows (one message per
row) and returns an ``(m, 32)`` array of digests. The messages are laid out with numpy;
only the hash call itself runs once per row in Python.

Keccak-256 is the expensive one: ``eth_hash`` costs about 4 µs a call, almost all of it
in Python wrappers around pycryptodome's C code, and pycryptodome's public
``Crypto.Hash.keccak`` is no faster. :func:`keccak256_rows` uses ``sha3.keccak_256`` from
safe-pysha3 instead: eth-hash's own ``pysha3`` backend (a declared dependency through
``eth-hash[pysha3]``), a public, hashlib-style C object, about 0.85 µs a hash, faster
than the ``ctypes`` calls into pycryptodome's private ``_keccak`` library this module
used before (figures: ``benchmarks/bench_keccak.py``, docs/benchmarks.md). It is
checked on known vectors (Keccak-256, not SHA3-256) the first time it is used; if it
cannot be imported or disagrees, every hash goes through ``eth_hash`` instead (slower,
same bytes). The published verifier (:mod:`recompense.proofs.verify`) never uses this
module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from eth_hash.auto import keccak as _eth_keccak

Rows = npt.NDArray[np.uint8]

# Known answers of Keccak-256; 200 bytes is more than one 136-byte block.
_KNOWN = {
    b"": "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    b"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    bytes(range(200)): "bfb0aa97863e797943cf7c33bb7e880bb4543f3d2703c0923c6901c2af57b890",
}


def sha256_rows(messages: Rows) -> Rows:
    """SHA-256 of each row."""
    data, width = _contiguous(messages)
    sha256 = hashlib.sha256
    view = memoryview(data)
    digests = b"".join([sha256(view[i : i + width]).digest() for i in range(0, len(data), width)])
    return _digests(digests, len(messages))


def hmac_sha256_rows(key: bytes, messages: Rows) -> Rows:
    """HMAC-SHA256 of each row under ``key`` (RFC 2104), with the pads hashed once."""
    data, width = _contiguous(messages)
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    inner0 = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer0 = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    view = memoryview(data)
    out = []
    for i in range(0, len(data), width):
        inner = inner0.copy()
        inner.update(view[i : i + width])
        outer = outer0.copy()
        outer.update(inner.digest())
        out.append(outer.digest())
    return _digests(b"".join(out), len(messages))


def keccak256_rows(messages: Rows, *, twice: bool = False) -> Rows:
    """Keccak-256 (Ethereum's, not SHA3-256) of each row; ``twice``: of its digest again."""
    data, width = _contiguous(messages)
    new = _keccak_256()
    if new is None:
        return _keccak_fallback(messages, twice)
    view = memoryview(data)
    rows = range(0, len(data), width)
    if twice:
        digests = [new(new(view[i : i + width]).digest()).digest() for i in rows]
    else:
        digests = [new(view[i : i + width]).digest() for i in rows]
    return _digests(b"".join(digests), len(messages))


def keccak_backend() -> str:
    """Which Keccak implementation builds trees here: ``safe-pysha3`` or ``eth-hash``."""
    return "eth-hash" if _keccak_256() is None else "safe-pysha3"


@cache
def _keccak_256() -> Callable[[Any], Any] | None:
    """safe-pysha3's ``keccak_256`` constructor if it gives the known answers, else None."""
    try:
        from sha3 import keccak_256
    except ImportError:
        return None
    for message, expected in _KNOWN.items():
        if keccak_256(message).hexdigest() != expected:
            return None
    return keccak_256  # type: ignore[no-any-return]


def _keccak_fallback(messages: Rows, twice: bool) -> Rows:
    data, width = _contiguous(messages)
    out = []
    for i in range(0, len(data), width):
        digest = _eth_keccak(data[i : i + width])
        out.append(_eth_keccak(digest) if twice else digest)
    return _digests(b"".join(out), len(messages))


def _check(messages: Rows) -> None:
    if messages.ndim != 2 or messages.dtype != np.uint8 or messages.shape[1] == 0:
        raise ValueError(f"expected (m, L>0) uint8 rows, got {messages.shape} {messages.dtype}")


def _contiguous(messages: Rows) -> tuple[bytes, int]:
    _check(messages)
    return np.ascontiguousarray(messages).tobytes(), messages.shape[1]


def _digests(joined: bytes, count: int) -> Rows:
    return np.frombuffer(joined, dtype=np.uint8).reshape(count, 32).copy()
