"""Real peers on loopback for the notification tests (and benchmarks/bench_notify.py).

- :class:`SmtpSink`: aiosmtpd on 127.0.0.1, recording every accepted message; can reject
  recipients (``rcpt_reply``), answer slowly (``delay``: per command and session, e.g. a
  relay slow on every operation, or one that stalls after the message's data), and be
  switched ``down()`` (connections refused, open sessions cut) and ``up()`` again on the
  same port; counts the sessions (EHLO/HELO), transactions (MAIL) and probes (NOOP)
  that reached it;
- :class:`HttpSink`: a ``ThreadingHTTPServer`` push gateway recording every request; its
  answer is programmable (``respond``, which may also sleep: a stalled gateway); it too
  can be switched ``down()`` (listening socket closed, keep-alive connections cut) and
  ``up()`` on the same port;
- :func:`outbox_rows` / :func:`insert_rows`: notification rows shaped like the ones
  ``distribution.distribute`` writes (same payload JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from recompense.ledger.db import connect
from recompense.ledger.schema import notifications

PROGRAM_ID = "together-2025-10"
PROGRAM_NAME = "Together Initiative — USDC token vouchers"
NOW = datetime(2025, 10, 15, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=14)
MESSAGE_ID = re.compile(rb"^Message-ID: <([^@>]+)@recompense>\r?$", re.MULTILINE | re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def key(self) -> str:
        found = MESSAGE_ID.search(self.data)
        assert found, self.data[:500]
        return found.group(1).decode()


class SmtpSink:
    """An SMTP server on 127.0.0.1:``port`` that keeps what it accepts.

    ``delay(command, session)`` is how long to wait before answering ``command`` (EHLO,
    HELO, MAIL, RCPT, DATA — after the message's data, before the final reply — or NOOP)
    in the ``session``-th session (1-based, counted at EHLO/HELO). A message counts as
    received only once its final reply goes out: a client that hangs up during the wait
    has delivered nothing (aiosmtpd cancels the handler).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        rcpt_reply: Callable[[str], str | None] = lambda address: None,
        delay: Callable[[str, int], float] = lambda command, session: 0.0,
        **smtp_options: Any,
    ) -> None:
        self.port = port or free_port()
        self.rcpt_reply = rcpt_reply
        self.delay = delay
        self.smtp_options = smtp_options
        self.mails: list[Mail] = []
        self.sessions = 0  # EHLO/HELO received: connections that reached the SMTP dialogue
        self.transactions = 0  # MAIL FROM received: sends that reached the server
        self.noops = 0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        controller = Controller(
            _SmtpHandler(self), hostname="127.0.0.1", port=self.port, **self.smtp_options
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def down(self) -> None:
        """Refuse connections and cut the open sessions (a relay that went away)."""
        self.stop()

    def up(self) -> None:
        """Listen again on the same port."""
        if self._controller is None:
            self.start()

    @property
    def is_up(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, mail: Mail) -> None:
        with self._lock:
            self.mails.append(mail)

    def count(self, what: str) -> int:
        """Add one to ``sessions``, ``transactions`` or ``noops``; the new value."""
        with self._lock:
            value = getattr(self, what) + 1
            setattr(self, what, value)
            return int(value)

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(m.key for m in self.mails)


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def _wait(self, command, session):
        seconds = self.sink.delay(command, getattr(session, "number", 0))
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.number = self.sink.count("sessions")
        session.host_name = hostname
        await self._wait("EHLO", session)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.number = self.sink.count("sessions")
        session.host_name = hostname
        await self._wait("HELO", session)
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.sink.count("transactions")
        await self._wait("MAIL", session)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await self._wait("RCPT", session)
        reply = self.sink.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await self._wait("DATA", session)
        self.sink.record(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    async def handle_NOOP(self, server, session, envelope, arg):
        self.sink.count("noops")
        await self._wait("NOOP", session)
        return "250 OK"


# -- HTTP push gateway ---------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    key: str
    body: dict[str, Any]
    headers: dict[str, str]


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class HttpSink:
    """A push gateway on 127.0.0.1; ``respond(push)`` decides each answer (default 200).

    ``down()`` closes the listening socket and cuts every open (keep-alive) connection, so
    clients see refused connections; ``up()`` listens again on the same port.
    """

    respond: Callable[[Push], Reply] = lambda push: (200, {}, b'{"ok":true}')
    pushes: list[Push] = field(default_factory=list)
    head_status: int = 405  # the answer to HEAD (a probe); pushes are POSTs
    heads: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = self._bind(0)
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/push"

    def start(self) -> HttpSink:
        if self._server is None:
            self._server = self._bind(self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        self.stop()

    def up(self) -> None:
        if self._server is None:
            self.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def __enter__(self) -> HttpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, push: Push) -> Reply:
        with self._lock:
            self.pushes.append(push)
        return self.respond(push)

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(p.key for p in self.pushes)

    def track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _bind(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        return server


def _handler_class(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10
        wbufsize = 1 << 16  # headers and body leave in one segment (flushed per request)
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            sink.track(self.connection, opened=True)

        def finish(self) -> None:
            sink.track(self.connection, opened=False)
            with contextlib.suppress(OSError):  # the connection was cut by down()
                super().finish()

        def do_HEAD(self) -> None:
            sink.heads += 1
            self.send_response(sink.head_status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            push = Push(
                key=self.headers.get("Idempotency-Key", ""),
                body=json.loads(body),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            status, headers, payload = sink.answer(push)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(payload))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# -- worker processes ----------------------------------------------------------------


def worker_process(
    url: str, smtp: SmtpSink, gateway: HttpSink, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``recompense notify --db url --json *args`` in a process of its own, with the
    sinks' addresses and fast retries in its environment (``env`` overrides)."""
    environment = {
        **os.environ,
        "RECOMPENSE_SMTP_PORT": str(smtp.port),
        "RECOMPENSE_PUSH_URL": gateway.url,
        "RECOMPENSE_NOTIFY_BACKOFF_BASE": "0.05",
        "RECOMPENSE_NOTIFY_BACKOFF_CAP": "0.2",
        "RECOMPENSE_NOTIFY_POLL_SECONDS": "0.05",
        **(env or {}),
    }
    command = [sys.executable, "-m", "recompense.cli", "notify", "--db", url, "--json", *args]
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# -- outbox rows ---------------------------------------------------------------------


def outbox_rows(
    users: Iterable[int],
    *,
    channels: Sequence[str] = ("push", "email"),
    locale: Callable[[int], str] = lambda user: "es-ES" if user % 3 == 0 else "en",
    email: Callable[[int], str] = lambda user: f"user{user}@example.com",
    amount: Callable[[int], int] = lambda user: 400 + user,
    now: datetime = NOW,
    expires: datetime = EXPIRES,
) -> list[dict[str, Any]]:
    """Pending rows like distribution's ``_outbox_rows`` (push for all, email if any)."""
    rows = []
    for user in users:
        voucher = str(uuid.uuid5(uuid.NAMESPACE_URL, f"voucher:{PROGRAM_ID}:{user}"))
        payload = json.dumps(
            {
                "program_id": PROGRAM_ID,
                "program_name": PROGRAM_NAME,
                "voucher_id": voucher,
                "user_id": user,
                "amount_cents": amount(user),
                "currency": "USDC",
                "expires_at": expires.isoformat(),
            },
            separators=(",", ":"),
        )
        for channel in channels:
            rows.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{voucher}:{channel}")),
                    "program_id": PROGRAM_ID,
                    "voucher_id": voucher,
                    "user_id": user,
                    "channel": channel,
                    "recipient": email(user) if channel == "email" else None,
                    "locale": locale(user),
                    "payload": payload,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    return rows


def insert_rows(url: str, rows: Sequence[dict[str, Any]], chunk: int = 5_000) -> None:
    engine = connect(url)
    for start in range(0, len(rows), chunk):
        with engine.begin() as conn:
            conn.execute(notifications.insert(), list(rows[start : start + chunk]))


def table(url: str) -> dict[str, dict[str, Any]]:
    """Every notification row by id, as dicts."""
    with connect(url).begin() as conn:
        return {row.id: row._asdict() for row in conn.execute(select(notifications))}
