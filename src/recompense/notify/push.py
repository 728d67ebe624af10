"""App push: one JSON POST per notification to the push gateway.

Request body: ``user_id``, ``voucher_id``, ``program_id``, ``title``, ``body``,
``amount_cents`` (integer cents), ``currency``, ``expires_at`` (ISO 8601, UTC),
``locale``, ``redeem_url``; for a case notice instead ``kind: "case"``, ``case_id``,
``event``, ``state`` with ``user_id``, ``program_id``, ``title``, ``body``, ``locale``;
header ``Idempotency-Key: {notification id}``, identical on every retry, so the gateway
can drop a duplicate after a crash between send and mark.

Responses: 2xx delivered; 408, 425, 429 and 5xx transient (``Retry-After`` in seconds or
as an HTTP date is honoured as the earliest retry); any other status permanent, with the
status and the start of the body as the reason. Network errors are transient. A refused
or timed-out connection, and 502, 503 and 504 (the gateway, or the load balancer in
front of it, says the service is unavailable: nothing about this notification), mark
the channel down: the worker's breaker for push opens
(:mod:`~recompense.notify.breaker`) and the rows wait without using attempts.

One deadline per push (``RECOMPENSE_PUSH_TIMEOUT`` from its start, or the worker's),
enforced on every network operation by the default transport
(:func:`~recompense.notify.deadline.deadline_transport`): httpx's timeouts alone apply to
each operation, so a gateway that drips its answer could hold a push (and its lease)
indefinitely. A 2xx is delivered once its status line is in.
:meth:`PushSender.probe` asks ``HEAD`` of the gateway URL: any answer but 502/503/504
means it is reachable again.

Requests go straight to an httpx *transport* (default ``httpx.HTTPTransport``: a
thread-safe keep-alive pool shared by the sender threads), without ``httpx.Client``:
the client's cookie jar, redirect and auth machinery cost a third of the CPU of a push
and none of it applies to one POST. A test can pass ``httpx.MockTransport`` where a real
gateway is not the point.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from recompense import __version__
from recompense.notify.deadline import deadline_transport, http_deadline
from recompense.notify.errors import PermanentDeliveryError, TransientDeliveryError
from recompense.notify.settings import NotifySettings
from recompense.notify.templates import CaseNotice, PushContent, Voucher

CHANNEL = "push"
TRANSIENT_STATUSES = frozenset({408, 425, 429})
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})  # the service, not the notification
USER_AGENT = f"recompense-notify/{__version__}"


class PushSender:
    def __init__(
        self, settings: NotifySettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not settings.push_url:
            raise ValueError("PushSender needs settings.push_url")
        self._url = httpx.URL(settings.push_url)
        self._redeem_url = settings.redeem_url
        self._budget = settings.push_timeout
        self._transport = transport or deadline_transport()

    def send(
        self,
        notification_id: str,
        locale: str,
        voucher: Voucher | CaseNotice,
        content: PushContent,
        *,
        deadline: float | None = None,
    ) -> None:
        """Deliver one push notification or raise a ``DeliveryError`` subclass.

        ``deadline`` (``time.monotonic()``; default ``RECOMPENSE_PUSH_TIMEOUT`` from now)
        bounds the whole request.
        """
        body = _body(locale, voucher, content, self._redeem_url)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notification_id,
            "User-Agent": USER_AGENT,
        }
        if deadline is None:
            deadline = time.monotonic() + self._budget
        try:
            status, text, retry = self._exchange("POST", body, headers, deadline)
        except httpx.TransportError as exc:
            down = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            cause = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline:
                cause = (
                    f"push send deadline: {self._budget:g} s (RECOMPENSE_PUSH_TIMEOUT) passed "
                    f"({type(exc).__name__})"
                )
            reason = f"cannot reach the push gateway {self._url}: {cause}"
            raise TransientDeliveryError(
                notification_id, CHANNEL, reason, channel_down=down
            ) from exc
        _check(notification_id, status, text, retry)

    def probe(self) -> str | None:
        """Is the gateway reachable? ``HEAD`` on its URL within ``RECOMPENSE_PUSH_TIMEOUT``:
        None for any answer but 502/503/504; else why not."""
        try:
            status, _, _ = self._exchange("HEAD", b"", {"User-Agent": USER_AGENT}, None)
        except httpx.TransportError as exc:
            return f"cannot reach the push gateway {self._url}: {type(exc).__name__}: {exc}"
        if status in UNAVAILABLE_STATUSES:
            return f"push gateway answered HTTP {status} to a probe (HEAD {self._url})"
        return None

    def close(self) -> None:
        self._transport.close()

    def _exchange(
        self, method: str, body: bytes, headers: dict[str, str], deadline: float | None
    ) -> tuple[int, str, float | None]:
        """Status, the start of the body, and ``Retry-After`` — all within ``deadline``."""
        if deadline is None:
            deadline = time.monotonic() + self._budget
        left = deadline - time.monotonic()
        if left <= 0:
            raise httpx.WriteTimeout(f"the push deadline ({self._budget:g} s) passed")
        request = httpx.Request(
            method,
            self._url,
            content=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(left).as_dict()},
        )
        with http_deadline(deadline):  # every network operation below ends by it
            response = self._transport.handle_request(request)
            head = bytearray()
            try:
                for chunk in response.iter_bytes():  # only what the reason can show
                    head += chunk
                    if len(head) >= 1024:
                        break
            except httpx.TransportError:
                if not 200 <= response.status_code < 300:
                    raise  # a 2xx was delivered whatever became of its body
            finally:
                response.close()
        text = bytes(head[:1024]).decode("utf-8", "replace")
        return response.status_code, text, retry_after(response)


def _body(
    locale: str, voucher: Voucher | CaseNotice, content: PushContent, redeem_url: str
) -> bytes:
    if isinstance(voucher, CaseNotice):
        return _case_body(locale, voucher, content)
    return json.dumps(
        {
            "user_id": voucher.user_id,
            "voucher_id": voucher.voucher_id,
            "program_id": voucher.program_id,
            "title": content.title,
            "body": content.body,
            "amount_cents": voucher.amount_cents,
            "currency": voucher.currency,
            "expires_at": voucher.expires_at.isoformat(),
            "locale": locale,
            "redeem_url": redeem_url,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def _case_body(locale: str, notice: CaseNotice, content: PushContent) -> bytes:
    return json.dumps(
        {
            "kind": "case",
            "user_id": notice.user_id,
            "program_id": notice.program_id,
            "case_id": notice.case_id,
            "event": notice.event,
            "state": notice.state,
            "title": content.title,
            "body": content.body,
            "locale": locale,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def _check(notification_id: str, status: int, text: str, retry: float | None) -> None:
    if 200 <= status < 300:
        return
    snippet = " ".join(text[:200].split())
    reason = f"push gateway answered HTTP {status}" + (f": {snippet}" if snippet else "")
    if status in TRANSIENT_STATUSES or status >= 500:
        raise TransientDeliveryError(
            notification_id,
            CHANNEL,
            reason,
            retry_after=retry,
            channel_down=status in UNAVAILABLE_STATUSES,
        )
    raise PermanentDeliveryError(notification_id, CHANNEL, reason)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or HTTP-date), else ``None``."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
