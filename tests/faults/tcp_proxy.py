"""A TCP proxy between a client and PostgreSQL that breaks the link on demand.

What toxiproxy and Jepsen users do, in the test suite and on real sockets: the client
connects to the proxy's port, the proxy connects to the server, and the test decides
what the link does —

- ``pass_through()``: forward everything, as a cable would;
- ``latency(seconds)``: delay every chunk, both ways;
- ``stall()``: forward nothing, keep every socket open (a blackhole: the proxy's kernel
  still ACKs, so TCP keepalives and ``tcp_user_timeout`` on the client see a healthy
  link — only an application-level deadline notices); ``pass_through()`` resumes, and
  what was held arrives intact;
- ``cut()``: close every open connection now, both sides;
- ``refuse()``: close the listening socket, so new connections get ECONNREFUSED
  (``accept()`` reopens it on the same port);
- ``arm(action, match, nth, then)``: watch PostgreSQL's frontend protocol (a simple
  Query ``Q``; or Parse ``P``, Bind ``B`` … Sync ``S``, a prepared statement being bound
  by name) and, at the ``nth`` statement whose SQL matches, once the server has all of
  it, forward it and then ``"cut"`` the connection before the server's reply
  reaches the client (the reply is read and dropped, so the server did finish the
  statement: with ``COMMIT`` that is an in-doubt commit that did commit), or
  ``"stall"`` the whole proxy (the server has the statement; nothing comes back);
  ``then`` (e.g. ``proxy.refuse``) runs right after, before the client can react.

One thread accepts, one thread per connection moves bytes both ways. Startup packets
(SSLRequest, GSSENCRequest, StartupMessage) are untyped; the URL the tests give the
client says ``sslmode=disable`` so the proxy sees the messages in clear.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
CHUNK = 65536
TICK = 0.02  # how often an idle pump looks at the mode again (s)


@dataclass
class Armed:
    action: str  # "cut" | "stall"
    pattern: re.Pattern[str]
    nth: int
    then: Callable[[], object] | None = None  # e.g. Proxy.refuse: the server stays away
    seen: int = 0


@dataclass
class Stats:
    accepted: int = 0
    cut: int = 0
    fired: list[str] = field(default_factory=list)  # the SQL of each armed trigger that fired


class Proxy:
    """A fault-injecting TCP proxy to ``upstream`` (host, port), on 127.0.0.1."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.stats = Stats()
        self._lock = threading.Condition()
        self._mode = "pass"
        self._delay = 0.0
        self._armed: Armed | None = None
        self._links: set[_Link] = set()
        self._closed = False
        self._listener: socket.socket | None = None
        self.port = 0
        self.accept()
        self._acceptor = threading.Thread(target=self._accept_loop, name="proxy-accept")
        self._acceptor.daemon = True
        self._acceptor.start()

    # -- what the link does ------------------------------------------------------------

    def pass_through(self) -> None:
        with self._lock:
            self._mode, self._delay = "pass", 0.0
            self._lock.notify_all()

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._mode, self._delay = "pass", seconds
            self._lock.notify_all()

    def stall(self) -> None:
        with self._lock:
            self._mode = "stall"

    def cut(self) -> int:
        """Close every open connection (both sides) now; how many were cut."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        with self._lock:
            self.stats.cut += len(links)
        return len(links)

    def refuse(self) -> None:
        """Stop listening: new connections are refused by the kernel (ECONNREFUSED)."""
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def accept(self) -> None:
        """Listen (again, on the same port once there is one)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(TICK * 5)
        with self._lock:
            self._listener = listener
            self.port = listener.getsockname()[1]

    def arm(
        self,
        action: str,
        match: str = r"^\s*(COMMIT|END)\b",
        nth: int = 1,
        then: Callable[[], object] | None = None,
    ) -> None:
        """At the ``nth`` client statement matching ``match``: ``"cut"`` or ``"stall"``,
        then call ``then`` (before the client can notice)."""
        if action not in ("cut", "stall"):
            raise ValueError(action)
        with self._lock:
            self._armed = Armed(action, re.compile(match, re.IGNORECASE), nth, then)

    def url(self, url: str) -> str:
        """``url`` pointed at this proxy, with TLS off so the proxy can read the protocol."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        where = f"127.0.0.1:{self.port}"
        netloc_new = f"{netloc[0]}@{where}" if len(netloc) == 2 else where
        query = parts.query + ("&" if parts.query else "") + "sslmode=disable"
        return urlunsplit((parts.scheme, netloc_new, parts.path, query, parts.fragment))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self.refuse()
        self.cut()
        self._acceptor.join(timeout=5)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                listener = self._listener
            if listener is None:
                time.sleep(TICK)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            link = _Link(self, client, server)
            with self._lock:
                self._links.add(link)
                self.stats.accepted += 1
            threading.Thread(target=link.run, name="proxy-link", daemon=True).start()

    def _wait_while_stalled(self, link: _Link) -> None:
        with self._lock:
            while self._mode == "stall" and not self._closed and not link.closed:
                self._lock.wait(TICK * 5)

    def _delay_now(self) -> float:
        with self._lock:
            return self._delay

    def _trigger(self, sql: str) -> Armed | None:
        """The armed fault to inject after forwarding ``sql``, if it fires now."""
        with self._lock:
            armed = self._armed
            if armed is None or not armed.pattern.search(sql):
                return None
            armed.seen += 1
            if armed.seen != armed.nth:
                return None
            self._armed = None
            self.stats.fired.append(sql)
            if armed.action == "stall":
                self._mode = "stall"
            return armed

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


class _Link:
    """One client connection and its server connection, pumped by one thread."""

    def __init__(self, proxy: Proxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.closed = False
        self._parser = _FrontendParser()
        self._held = b""  # client bytes after a statement that stalled the proxy
        self._close_lock = threading.Lock()

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        try:
            self.client.setblocking(True)
            self.server.setblocking(True)
            selector.register(self.client, selectors.EVENT_READ)
            selector.register(self.server, selectors.EVENT_READ)
            while not self.closed:
                self.proxy._wait_while_stalled(self)
                if self.closed:
                    return
                if self._held:
                    self.server.sendall(self._held)
                    self._held = b""
                for key, _ in selector.select(TICK):
                    if not self._pump(key.fileobj is self.client):
                        return
        except (OSError, ValueError):
            return  # a socket closed under us (cut)
        finally:
            selector.close()
            self.close()

    def _pump(self, from_client: bool) -> bool:
        source, target = (self.client, self.server) if from_client else (self.server, self.client)
        data = source.recv(CHUNK)
        if not data:
            return False
        delay = self.proxy._delay_now()
        if delay:
            time.sleep(delay)
        if not from_client:
            target.sendall(data)
            return True
        pieces = self._parser.split(data)
        for index, (part, sql) in enumerate(pieces):
            target.sendall(part)
            armed = self.proxy._trigger(sql) if sql is not None else None
            if armed is None:
                continue
            if armed.action == "cut":
                _hard_close(self.client)  # the client hears nothing more
                if armed.then is not None:
                    armed.then()
                self._drain_reply_and_close()
                return False
            # stall: the rest of the chunk goes when the link resumes
            self._held = b"".join(rest for rest, _ in pieces[index + 1 :])
            if armed.then is not None:
                armed.then()
            return True
        return True

    def _drain_reply_and_close(self) -> None:
        """Let the server finish the statement (it has it all), read its reply, drop it."""
        self.server.settimeout(10)
        with contextlib.suppress(OSError):
            self.server.recv(CHUNK)  # the server's answer: it did the statement
        self.close()
        self.proxy.stats.cut += 1

    def close(self) -> None:
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.server):
            _hard_close(sock)
        self.proxy._forget(self)


def _hard_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _FrontendParser:
    """Splits the client's byte stream where a statement has fully reached the server.

    ``split(data)`` returns ``(bytes, sql)`` pieces whose concatenation is ``data``: a
    piece ends right after each simple Query message, and right after the Sync that
    follows a Bind (extended protocol: Parse, Bind, Describe, Execute, Sync; a statement
    psycopg has prepared is parsed once and bound by name later), with that statement's
    SQL — so the proxy acts once the server has all it needs to run it.
    """

    def __init__(self) -> None:
        self._untyped = True  # startup-phase messages have no type byte
        self._header = b""
        self._kind = b""
        self._left = 0  # body bytes of the current message still to come
        self._body = bytearray()
        self._statements: dict[bytes, str] = {}  # statement name ("" unnamed) -> SQL
        self._bound: str | None = None  # the SQL last bound, until its Sync

    def split(self, data: bytes) -> list[tuple[bytes, str | None]]:
        pieces: list[tuple[bytes, str | None]] = []
        start = i = 0
        while i < len(data):
            if self._left == 0 and not self._kind:
                need = (4 if self._untyped else 5) - len(self._header)
                take = data[i : i + need]
                self._header += take
                i += len(take)
                if len(self._header) < (4 if self._untyped else 5):
                    break
                if self._untyped:
                    self._kind = b"\0"
                    self._left = struct.unpack("!i", self._header)[0] - 4
                else:
                    self._kind = self._header[:1]
                    self._left = struct.unpack("!i", self._header[1:])[0] - 4
                self._body.clear()
            take = data[i : i + self._left]
            if self._kind in (b"Q", b"P", b"B", b"\0"):
                self._body += take
            i += len(take)
            self._left -= len(take)
            if self._left == 0:
                sql = self._finish()
                if sql is not None:
                    pieces.append((data[start:i], sql))
                    start = i
        if start < len(data):
            pieces.append((data[start:], None))
        return pieces

    def _finish(self) -> str | None:
        kind, body = self._kind, bytes(self._body)
        self._kind, self._header = b"", b""
        if kind == b"\0":
            code = struct.unpack("!i", body[:4])[0] if len(body) >= 4 else 0
            self._untyped = code in (SSL_REQUEST, GSSENC_REQUEST)
            return None
        if kind == b"Q":
            return body.split(b"\0", 1)[0].decode("utf-8", "replace")
        if kind == b"P":  # extended protocol: the statement runs at the next Sync
            name, sql = _cstrings(body)
            self._statements[name] = sql.decode("utf-8", "replace")
            return None
        if kind == b"B":  # Bind names the statement (prepared ones are parsed only once)
            _, name = _cstrings(body)
            self._bound = self._statements.get(name)
            return None
        if kind == b"S":
            sql, self._bound = self._bound, None
            return sql
        return None


def _cstrings(body: bytes) -> tuple[bytes, bytes]:
    """The first two NUL-terminated strings of a message body."""
    parts = body.split(b"\0", 2)
    return parts[0], parts[1] if len(parts) > 1 else b""
