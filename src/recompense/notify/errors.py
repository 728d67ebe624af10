"""Errors of the notification worker; the tree is drawn in :mod:`recompense.notify`.

A delivery error always names the notification (its id is also the idempotency key the
receiver sees) and the channel, and says whether trying again can help.
"""

from __future__ import annotations

from recompense.errors import InputError, RecompenseError, UnavailableError


class NotifyError(RecompenseError):
    """Base class of the notification worker's errors."""


class NotifySettingsError(NotifyError, InputError):
    """A setting (environment variable or option) that cannot be used: exit code 2."""


class OutboxError(NotifyError, UnavailableError):
    """The outbox database failed mid-drain (refused, cut, timed out, full): exit code 3.

    Nothing is lost: the rows the worker had claimed return to the queue when their lease
    expires, and running the worker again resumes (a notification sent but not yet
    recorded is sent again under the same idempotency key). ``transient`` as
    :func:`~recompense.failures.classify` says of the database's error.
    """


class DeliveryError(NotifyError):
    """One notification could not be delivered.

    ``reason`` is what goes into ``notifications.last_error`` (after a stable code);
    ``channel_down`` says the channel itself is unreachable (connection refused or timed
    out, bad credentials, SMTP 421, HTTP 502/503/504), so the rest of the batch on that
    channel is not worth trying now, the worker's breaker for it opens, and the row
    waits without the attempt being counted — unless the breaker finds the peer up
    around the failure (:mod:`~recompense.notify.breaker`): then it counts.
    """

    transient = False

    def __init__(
        self, notification_id: str, channel: str, reason: str, *, channel_down: bool = False
    ) -> None:
        super().__init__(f"notification {notification_id} ({channel}): {reason}")
        self.notification_id = notification_id
        self.channel = channel
        self.reason = reason
        self.channel_down = channel_down


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: connection refused, timeout, SMTP 4xx, HTTP 5xx/429/408."""

    transient = True

    def __init__(
        self,
        notification_id: str,
        channel: str,
        reason: str,
        *,
        channel_down: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(notification_id, channel, reason, channel_down=channel_down)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: SMTP 5xx for the recipient, HTTP 4xx, a malformed payload."""
