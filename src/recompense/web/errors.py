"""Errors of the web service.

::

    RecompenseError
    └── InputError
        └── WebSettingsError   settings the service cannot start with (a key, an issuer)

Request-time failures are HTTP answers, not exceptions that escape: 401 (no or bad
token), 403 (role not allowed), 404 (no such resource *for this principal*), 409 (a
voucher that can no longer be redeemed), 503 (a programme whose run folder is missing).
"""

from __future__ import annotations

from recompense.errors import InputError


class WebSettingsError(InputError):
    """The service's settings (environment variables, key files) cannot be used."""
