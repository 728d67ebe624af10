"""Email over SMTP: one reused session per sender thread, errors sorted at the boundary.

The message is ``multipart/alternative`` (text, then HTML; UTF-8, quoted-printable) with
``Message-ID: <{notification id}@recompense>`` and ``X-Idempotency-Key``, so a re-send
after a crash carries the same id and a deduplicating receiver drops it. Apart from
``Date`` the bytes are a pure function of the row: same notification, same message.

Why not :class:`email.message.EmailMessage`: building and serializing one costs about
1.3 ms of CPU here (its header registry parses every header it is given), more than the
SMTP exchange itself, and capped a worker at ~500 emails/s. :func:`build_email` writes
the same structure directly in ~25 µs with the standard library's encoders
(``binascii.b2a_qp``, base64 encoded-words, :func:`email.utils.formataddr`); the tests
parse messages back with :mod:`email`'s parser to check them.

One deadline per send. ``smtplib``'s ``timeout`` applies to each socket operation, so a
server slow on every one (greeting, EHLO, MAIL, RCPT, DATA) could stretch one send far
past it — and past the row's lease, when another worker may claim the row and send it
again (issue 20: 8 duplicates with no crash and no lost reply). Each send here has a
deadline (``RECOMPENSE_SMTP_TIMEOUT`` from its start; the worker starts a send only while
the lease covers that, see :mod:`~recompense.notify.worker`), enforced on every socket
operation by :class:`~recompense.notify.deadline.DeadlineSMTP`. So a server that answers
slowly, stalls mid-DATA or drips a reply byte by byte is cut off at the deadline, the
session closed; a message whose final reply had not come is not delivered as far as the
worker knows, and is retried under the same ``Message-ID``.

Error classes (all carry the notification id):

- cannot connect, time out opening the session, STARTTLS or AUTH refused, MAIL FROM
  refused (our sender or credentials, not the notification), ``421`` (service not
  available) at any stage → transient, ``channel_down``: the worker's breaker for email
  opens (:mod:`~recompense.notify.breaker`) and the row waits without using an attempt;
- a reply ``4xx`` to MAIL/RCPT/DATA → transient; ``5xx`` → permanent (recipient
  rejected, message refused); a dropped connection or the deadline passing mid-message
  → transient (reconnect next time).
"""

from __future__ import annotations

import base64
import binascii
import smtplib
import ssl
import time
from email.utils import formataddr, formatdate, parseaddr
from functools import cache

from recompense.notify.deadline import DeadlineSMTP, describe
from recompense.notify.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from recompense.notify.settings import NotifySettings
from recompense.notify.templates import EmailContent

CHANNEL = "email"
CRLF = b"\r\n"


def message_id(notification_id: str) -> str:
    """The deterministic ``Message-ID`` of a notification's email."""
    return f"<{notification_id}@recompense>"


def build_email(
    *,
    notification_id: str,
    mail_from: str,
    recipient: str,
    content: EmailContent,
    date: str | None = None,
) -> bytes:
    """The RFC 5322 message, CRLF line endings, 7-bit clean (any server accepts it).

    The boundary contains ``=_``, which quoted-printable can never produce, so it cannot
    collide with a body line.
    """
    boundary = f"=_recompense_{notification_id.replace('-', '')}"
    headers = [
        ("From", _address_header(mail_from)),
        ("To", recipient),
        ("Subject", _encoded(content.subject)),
        ("Date", date or formatdate(usegmt=True)),
        ("Message-ID", message_id(notification_id)),
        ("X-Idempotency-Key", notification_id),
        ("Auto-Submitted", "auto-generated"),
        ("Content-Language", content.language),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative;\r\n boundary="{boundary}"'),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    parts = [
        _part(boundary, "text/plain", content.text),
        _part(boundary, "text/html", content.html),
    ]
    return head + CRLF + b"".join(parts) + f"--{boundary}--\r\n".encode("ascii")


class SmtpSender:
    """Sends emails through one SMTP session, opened lazily and reused; not thread-safe."""

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings
        self._from_address = parseaddr(settings.mail_from)[1]
        self._smtp: DeadlineSMTP | None = None
        self._sent_on_session = 0

    def send(
        self,
        notification_id: str,
        recipient: str | None,
        content: EmailContent,
        *,
        deadline: float | None = None,
    ) -> None:
        """Deliver one email or raise a :class:`DeliveryError` subclass.

        ``deadline`` (``time.monotonic()``; default: ``RECOMPENSE_SMTP_TIMEOUT`` from now)
        bounds the whole send, a reconnect included.
        """
        to = _recipient(notification_id, recipient)
        data = build_email(
            notification_id=notification_id,
            mail_from=self._settings.mail_from,
            recipient=to,
            content=content,
        )
        if deadline is None:
            deadline = time.monotonic() + self._settings.smtp_timeout
        reused = self._smtp is not None and self._sent_on_session > 0
        try:
            self._send_once(notification_id, to, data, deadline)
        except TransientDeliveryError:
            # A reused session the server had closed while idle: once more, on a fresh one.
            if not reused or self._smtp is not None or time.monotonic() >= deadline:
                raise
            self._send_once(notification_id, to, data, deadline)

    def probe(self) -> str | None:
        """Is the relay usable? Open a fresh session (connect, EHLO, STARTTLS, AUTH), NOOP,
        QUIT, within ``RECOMPENSE_SMTP_TIMEOUT``. None when it answered; else why not."""
        deadline = time.monotonic() + self._settings.smtp_timeout
        try:
            smtp = self._open("probe", deadline)
        except TransientDeliveryError as exc:
            return exc.reason
        try:
            code, reply = smtp.noop()
            if code != 250:
                return f"the SMTP server answered NOOP with {code} {_text(reply)}"
            smtp.quit()
        except (smtplib.SMTPException, OSError) as exc:
            return f"SMTP probe of {self._where()}: {describe(exc)}"
        finally:
            smtp.close()
        return None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        smtp.deadline = time.monotonic() + min(5.0, self._settings.smtp_timeout)
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _send_once(self, notification_id: str, to: str, data: bytes, deadline: float) -> None:
        smtp = self._session(notification_id, deadline)
        try:
            self._transaction(smtp, to, data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(to, (550, b"recipient refused"))
            raise self._reply_error(notification_id, "RCPT", code, reply) from exc
        except smtplib.SMTPSenderRefused as exc:
            # Says nothing about this notification: our sender or credentials are wrong.
            reason = (
                f"the SMTP server refused the sender <{exc.sender}>: SMTP {exc.smtp_code} "
                f"{_text(exc.smtp_error)} (check RECOMPENSE_MAIL_FROM and SMTP credentials)"
            )
            raise TransientDeliveryError(
                notification_id, CHANNEL, reason, channel_down=True
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self._drop()
            raise self._reply_error(
                notification_id, "reply", exc.smtp_code, exc.smtp_error
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            if smtp.expired:
                reason = self._deadline_reason(smtp)
            else:
                reason = f"SMTP connection lost: {describe(exc)}"
            raise TransientDeliveryError(notification_id, CHANNEL, reason) from exc
        self._sent_on_session += 1

    def _transaction(self, smtp: smtplib.SMTP, to: str, data: bytes) -> None:
        """MAIL, RCPT, DATA: ``smtplib.sendmail`` for one checked recipient, minus the two
        ``parseaddr`` calls it makes per message (a tenth of a worker's CPU)."""
        code, reply = smtp.docmd("mail", f"FROM:<{self._from_address}>")
        if code != 250:
            self._reset(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, self._from_address)
        code, reply = smtp.docmd("rcpt", f"TO:<{to}>")
        if code not in (250, 251):
            self._reset(smtp, code)
            raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
        code, reply = smtp.data(data)  # dot-stuffing and the final "." are smtplib's
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    def _reset(self, smtp: smtplib.SMTP, code: int) -> None:
        """After a refusal: RSET keeps the session usable; 421 means it is closing."""
        if code == 421:
            self._drop()
            return
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _session(self, notification_id: str, deadline: float) -> DeadlineSMTP:
        if self._smtp is not None:
            self._smtp.deadline = deadline
            return self._smtp
        smtp = self._open(notification_id, deadline)
        self._smtp, self._sent_on_session = smtp, 0
        return smtp

    def _open(self, notification_id: str, deadline: float) -> DeadlineSMTP:
        """A new session, greeted, secured and authenticated; channel down if not."""
        s = self._settings
        smtp = DeadlineSMTP(deadline)
        try:
            code, greeting = smtp.connect(s.smtp_host, s.smtp_port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            smtp.ehlo_or_helo_if_needed()
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=s.smtp_cafile))
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            cause = self._deadline_reason(smtp) if smtp.expired else describe(exc)
            reason = f"cannot open an SMTP session with {self._where()}: {cause}"
            raise TransientDeliveryError(
                notification_id, CHANNEL, reason, channel_down=True
            ) from exc
        return smtp

    def _where(self) -> str:
        return f"{self._settings.smtp_host}:{self._settings.smtp_port}"

    def _deadline_reason(self, smtp: DeadlineSMTP) -> str:
        return (
            f"SMTP send deadline: {self._settings.smtp_timeout:g} s "
            f"(RECOMPENSE_SMTP_TIMEOUT) passed while {smtp.doing}; the session was closed"
        )

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _reply_error(
        self, notification_id: str, stage: str, code: int, reply: bytes | str
    ) -> DeliveryError:
        reason = f"SMTP {code} {_text(reply)} ({stage})"
        if 500 <= code < 600:
            return PermanentDeliveryError(notification_id, CHANNEL, reason)
        return TransientDeliveryError(notification_id, CHANNEL, reason, channel_down=code == 421)


def _recipient(notification_id: str, recipient: str | None) -> str:
    """A plain address, refused permanently if it could not be one (or would inject)."""
    to = (recipient or "").strip()
    if not to or "@" not in to or any(c in to for c in '\r\n,<>"') or not to.isascii():
        reason = f"malformed recipient {recipient!r}"
        raise PermanentDeliveryError(notification_id, CHANNEL, reason)
    return to


def _part(boundary: str, content_type: str, body: str) -> bytes:
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\n", CRLF)
    head = (
        f"--{boundary}\r\n"
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    return head.encode("ascii") + encoded + CRLF


def _encoded(value: str) -> str:
    """RFC 2047 base64 encoded-words (≤ 75 chars each, one per folded line) if needed.

    Hand-rolled because :class:`email.header.Header` takes ~1 ms per non-ASCII subject.
    Words are cut between characters, never inside a UTF-8 sequence.
    """
    if value.isascii() and len(value) < 70:
        return value
    words, chunk = [], b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 39:  # 39 bytes → 52 base64 chars + 12 = 64
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


@cache
def _address_header(mail_from: str) -> str:
    name, address = parseaddr(mail_from)
    return formataddr((name, address), charset="utf-8")


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
