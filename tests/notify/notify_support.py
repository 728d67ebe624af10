"""Real peers on loopback for the notification tests (and benchmarks/bench_notify.py).

- :class:`SmtpSink`: aiosmtpd on 127.0.0.1, recording every accepted message; can reject
  recipients (``rcpt_reply``) and be stopped and started again on the same port;
- :class:`HttpSink`: a ``ThreadingHTTPServer`` push gateway recording every request; its
  answer is programmable (``respond``);
- :func:`outbox_rows` / :func:`insert_rows`: notification rows shaped like the ones
  ``distribution.distribute`` writes (same payload JSON).
"""

from __future__ import annotations

import json
import re
import socket
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
    """An SMTP server on 127.0.0.1:``port`` that keeps what it accepts."""

    def __init__(
        self,
        port: int | None = None,
        *,
        rcpt_reply: Callable[[str], str | None] = lambda address: None,
        **smtp_options: Any,
    ) -> None:
        self.port = port or free_port()
        self.rcpt_reply = rcpt_reply
        self.smtp_options = smtp_options
        self.mails: list[Mail] = []
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

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, mail: Mail) -> None:
        with self._lock:
            self.mails.append(mail)

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(m.key for m in self.mails)


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sink.record(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


# -- HTTP push gateway ---------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    key: str
    body: dict[str, Any]
    headers: dict[str, str]


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class HttpSink:
    """A push gateway on 127.0.0.1; ``respond(push)`` decides each answer (default 200)."""

    respond: Callable[[Push], Reply] = lambda push: (200, {}, b'{"ok":true}')
    pushes: list[Push] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1/push"

    def start(self) -> HttpSink:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

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


def _handler_class(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10
        wbufsize = 1 << 16  # headers and body leave in one segment (flushed per request)
        disable_nagle_algorithm = True

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
