"""Errors of the notification worker; the tree is drawn in :mod:`recompense.notify`.

A delivery error always names the notification (its id is also the idempotency key the
receiver sees) and the channel, and says whether trying again can help.
"""

from __future__ import annotations

from recompense.errors import InputError, RecompenseError


class NotifyError(RecompenseError):
    """Base class of the notification worker's errors."""


class NotifySettingsError(NotifyError, InputError):
    """A setting (environment variable or option) that cannot be used: exit code 2."""


class OutboxError(NotifyError):
    """The outbox database failed mid-drain; leased rows return to the queue on expiry."""


class DeliveryError(NotifyError):
    """One notification could not be delivered.

    ``reason`` is what goes into ``notifications.last_error`` (after a stable code);
    ``channel_down`` says the channel itself is unreachable (connection refused, bad
    credentials), so the rest of the batch on that channel is not worth trying now.
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
