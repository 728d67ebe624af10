"""Hashing many fixed-length messages at once, for building trees of millions of leaves.

Every function takes a C-contiguous ``(m, L)`` array of ``uint8`` rows (one message per
row) and returns an ``(m, 32)`` array of digests. The messages are laid out with numpy;
only the hash call itself runs once per row in Python.

Keccak-256 is the expensive one: ``eth_hash`` costs about 4 µs a call, almost all of it
in Python wrappers around pycryptodome's C code (the permutation itself is 0.3 µs).
:func:`keccak256_rows` calls that same C library (pycryptodome's ``_keccak``, a declared
dependency through ``eth-hash[pycryptodome]``) through ``ctypes`` with raw addresses,
which brings a hash down to about 1.6 µs. The library is not a public API, so it is
checked against ``eth_hash`` on known vectors the first time it is used; if it cannot be
loaded or disagrees, every hash goes through ``eth_hash`` instead (slower, same bytes).
The published verifier (:mod:`recompense.proofs.verify`) never uses this module.
"""

from __future__ import annotations

import ctypes
import hashlib
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from eth_hash.auto import keccak as _eth_keccak

Rows = npt.NDArray[np.uint8]

_KNOWN = (b"", b"abc", bytes(range(200)))  # 200 bytes: more than one 136-byte block


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
    _check(messages)
    raw = _raw_keccak()
    if raw is None:
        return _keccak_fallback(messages, twice)
    rows = np.ascontiguousarray(messages)
    out = np.empty((len(rows), 32), dtype=np.uint8)
    raw.hash_rows(rows.ctypes.data, rows.shape[1], len(rows), out.ctypes.data, twice)
    return out


def keccak_backend() -> str:
    """Which Keccak implementation builds trees here: ``pycryptodome-raw`` or ``eth-hash``."""
    return "eth-hash" if _raw_keccak() is None else "pycryptodome-raw"


class _RawKeccak:
    """pycryptodome's C Keccak called with raw addresses: init once per batch, 3 calls a hash."""

    def __init__(self, library: ctypes.CDLL) -> None:
        pointer, size = ctypes.c_void_p, ctypes.c_size_t
        self._init = library.keccak_init
        self._init.argtypes = [ctypes.POINTER(pointer), size, ctypes.c_uint8]
        self._destroy = library.keccak_destroy
        self._destroy.argtypes = [pointer]
        self._reset = library.keccak_reset
        self._reset.argtypes = [pointer]
        self._absorb = library.keccak_absorb
        self._absorb.argtypes = [pointer, pointer, size]
        self._digest = library.keccak_digest
        self._digest.argtypes = [pointer, pointer, size, ctypes.c_uint8]

    def hash_rows(self, source: int, width: int, count: int, target: int, twice: bool) -> None:
        state = ctypes.c_void_p()
        # Capacity 64 bytes (rate 136) and 24 rounds: Keccak-256; padding byte 0x01.
        if self._init(ctypes.byref(state), 64, 24) != 0:
            raise RuntimeError("pycryptodome keccak_init failed")
        handle = state.value
        reset, absorb, digest = self._reset, self._absorb, self._digest
        scratch = ctypes.create_string_buffer(32)
        middle = ctypes.addressof(scratch)
        try:
            for i in range(count):
                absorb(handle, source + i * width, width)
                if twice:
                    digest(handle, middle, 32, 1)
                    reset(handle)
                    absorb(handle, middle, 32)
                digest(handle, target + 32 * i, 32, 1)
                reset(handle)
        finally:
            self._destroy(handle)


@cache
def _raw_keccak() -> _RawKeccak | None:
    try:
        import Crypto.Hash as crypto_hash

        folder = Path(crypto_hash.__file__).parent
        candidates = sorted(folder.glob("_keccak*.so")) + sorted(folder.glob("_keccak*.pyd"))
        raw = _RawKeccak(ctypes.CDLL(str(candidates[0])))
        for message in _KNOWN:
            source = ctypes.create_string_buffer(message, max(len(message), 1))
            got = ctypes.create_string_buffer(32)
            raw.hash_rows(ctypes.addressof(source), len(message), 1, ctypes.addressof(got), False)
            if got.raw != _eth_keccak(message):
                return None
    except (ImportError, OSError, IndexError, AttributeError, RuntimeError):
        return None
    return raw


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
