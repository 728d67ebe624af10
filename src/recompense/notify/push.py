"""App push: one JSON POST per notification to the push gateway.

Request body: ``user_id``, ``voucher_id``, ``program_id``, ``title``, ``body``,
``amount_cents`` (integer cents), ``currency``, ``expires_at`` (ISO 8601, UTC),
``locale``, ``redeem_url``; header ``Idempotency-Key: {notification id}``, identical on
every retry, so the gateway can drop a duplicate after a crash between send and mark.

Responses: 2xx delivered; 408, 425, 429 and 5xx transient (``Retry-After`` in seconds or
as an HTTP date is honoured as the earliest retry); any other status permanent, with the
status and the start of the body as the reason. Network errors are transient; a refused
or timed-out connection also marks the channel down for the rest of the batch.

Requests go straight to an httpx *transport* (default ``httpx.HTTPTransport``: a
thread-safe keep-alive pool shared by the sender threads), without ``httpx.Client``:
the client's cookie jar, redirect and auth machinery cost a third of the CPU of a push
and none of it applies to one POST. A test can pass ``httpx.MockTransport`` where a real
gateway is not the point.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from recompense import __version__
from recompense.notify.errors import PermanentDeliveryError, TransientDeliveryError
from recompense.notify.settings import NotifySettings
from recompense.notify.templates import PushContent, Voucher

CHANNEL = "push"
TRANSIENT_STATUSES = frozenset({408, 425, 429})
USER_AGENT = f"recompense-notify/{__version__}"


class PushSender:
    def __init__(
        self, settings: NotifySettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not settings.push_url:
            raise ValueError("PushSender needs settings.push_url")
        self._url = httpx.URL(settings.push_url)
        self._redeem_url = settings.redeem_url
        self._timeout = httpx.Timeout(settings.push_timeout).as_dict()
        self._transport = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )

    def send(
        self, notification_id: str, locale: str, voucher: Voucher, content: PushContent
    ) -> None:
        """Deliver one push notification or raise a ``DeliveryError`` subclass."""
        request = httpx.Request(
            "POST",
            self._url,
            content=_body(locale, voucher, content, self._redeem_url),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": notification_id,
                "User-Agent": USER_AGENT,
            },
            extensions={"timeout": self._timeout},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.TransportError as exc:
            down = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            reason = f"cannot reach the push gateway {self._url}: {type(exc).__name__}: {exc}"
            raise TransientDeliveryError(
                notification_id, CHANNEL, reason, channel_down=down
            ) from exc
        _check(notification_id, response)

    def close(self) -> None:
        self._transport.close()


def _body(locale: str, voucher: Voucher, content: PushContent, redeem_url: str) -> bytes:
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


def _check(notification_id: str, response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    snippet = " ".join(response.text[:200].split())
    reason = f"push gateway answered HTTP {status}" + (f": {snippet}" if snippet else "")
    if status in TRANSIENT_STATUSES or status >= 500:
        raise TransientDeliveryError(
            notification_id, CHANNEL, reason, retry_after=retry_after(response)
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
