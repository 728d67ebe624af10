"""One deadline per send, on every socket operation of it, for SMTP and for HTTP.

``smtplib``'s ``timeout`` and httpx's timeouts apply to each network operation, so a peer
slow on every one (greeting, EHLO, MAIL, RCPT, DATA; connect, request, response), or one
that drips its answer a byte at a time so that no single read ever times out, could
stretch one send far past its timeout — and past the row's lease, when another worker
may claim the row and send it again (issue 20, defect 6: 8 duplicates with no crash and
no lost reply). Here every connect, read and write waits at most the time left before the
send's deadline (``time.monotonic()``), and none starts once it is gone:

- :class:`DeadlineSMTP`: ``smtplib.SMTP`` connecting address by address, reading through
  :class:`_DeadlineReader` (``recv_into`` with the time left, not ``makefile``), writing
  with ``send`` in a loop (not ``sendall``). The TLS handshake inside STARTTLS is bounded
  per read by the time left at its start and checked after; name resolution is the
  resolver's.
- :func:`deadline_transport`: httpx's own transport, its connection pool given a network
  backend of ours (:class:`_DeadlineBackend`) that cuts each operation's timeout to the
  time left before the deadline set by :func:`http_deadline` on the calling thread.

Why a deadline and not renewing the lease while sending: renewing needs the database
during the send (a heartbeat that fails when the database does, which is when leases
matter), and a send that hangs would hold its row for ever; a bounded send needs nothing
but the local clock, and the lease stays a plain upper bound.
"""

from __future__ import annotations

import io
import smtplib
import socket
import threading
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx


class DeadlineSMTP(smtplib.SMTP):
    """An SMTP client whose every socket operation ends by ``deadline`` (monotonic).

    ``deadline`` is set per send (the session is reused across sends); ``doing`` says
    what it was waiting for, ``expired`` whether the deadline cut it off.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.doing = "connecting"
        super().__init__(timeout=max(0.001, deadline - time.monotonic()))

    def remaining(self) -> float:
        """Seconds left; ``TimeoutError`` (an ``OSError``) once there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError(f"send deadline passed while {self.doing}")
        return left

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> Any:
        self._host = host  # STARTTLS checks the certificate against it
        self.doing = f"connecting to {host}:{port}"
        return super().connect(host, port, source_address)

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        error: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.remaining())
                sock.connect(address)
            except OSError as exc:
                sock.close()
                self._note_timeout(exc)
                if self.expired:
                    raise
                error = exc
                continue
            self.doing = "waiting for the greeting"
            return sock
        raise error or OSError(f"{host}:{port}: no address to connect to")

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.doing = f"waiting for the reply to {cmd.upper()}"
        super().putcmd(cmd, args)

    def send(self, s: Any) -> None:
        """``smtplib``'s ``send``, writing in a loop so each write gets the time left."""
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        view = memoryview(data)
        try:
            while view:
                self.sock.settimeout(self.remaining())
                view = view[self.sock.send(view) :]
        except OSError as exc:
            self._note_timeout(exc)
            self.close()
            raise smtplib.SMTPServerDisconnected(f"sending failed: {describe(exc)}") from exc

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_DeadlineReader(self))
        return super().getreply()

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        reply = super().starttls(*args, **kwargs)
        self.remaining()  # the handshake's reads were each bounded, not their sum
        return reply

    def _note_timeout(self, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError) or time.monotonic() >= self.deadline:
            self.expired = True


class _DeadlineReader(io.RawIOBase):
    """The session's socket as a raw stream whose every read waits at most the time left."""

    def __init__(self, session: DeadlineSMTP) -> None:
        self._session = session

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        session = self._session
        if session.sock is None:
            raise OSError("the SMTP session is closed")
        try:
            session.sock.settimeout(session.remaining())
            return int(session.sock.recv_into(buffer))
        except OSError as exc:
            session._note_timeout(exc)
            raise


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, without saying the type twice."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


# -- HTTP ------------------------------------------------------------

_deadline = threading.local()  # .at: the monotonic deadline of this thread's push, or None


@contextmanager
def http_deadline(deadline: float) -> Iterator[None]:
    """Requests made on this thread inside the block end by ``deadline`` (monotonic)."""
    _deadline.at = deadline
    try:
        yield
    finally:
        _deadline.at = None


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's transport (keep-alive pool of 64) over :class:`_DeadlineBackend`."""
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=64,
        max_keepalive_connections=64,
        keepalive_expiry=5.0,
        network_backend=_DeadlineBackend(),
    )
    return transport


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before this thread's deadline; ``error`` if none."""
    at: float | None = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the push deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)
