"""Errors of the web service.

::

    RecompenseError
    ├── InputError
    │   ├── WebSettingsError        settings the service cannot start with (a key, an issuer)
    │   └── UnauthorizedError
    │       └── auth.TokenError     a token that does not verify (401, with the reason)
    └── UnavailableError
        └── ProgrammeUnavailable    a programme whose run folder or proofs cannot be read

Routes raise domain errors and never catch them to make an answer: the handlers of
:mod:`recompense.web.problems` turn each into its status, once for every route — 401
(with ``WWW-Authenticate``), 404, 403, 409, 422 for an input error; 503 (with
``Retry-After``) for an unavailable programme or a transient outage; 500 otherwise.
"""

from __future__ import annotations

from recompense.errors import InputError, UnavailableError


class WebSettingsError(InputError):
    """The service's settings (environment variables, key files) cannot be used."""


class ProgrammeUnavailable(UnavailableError):
    """A programme the ledger lists whose run folder (or committed proofs) the service
    cannot read: missing, another run's, corrupt, or the wrong commitment key.

    Answered 503 with its message (which names the programme): the service is up, this
    programme is not. Terminal (``transient`` False): someone has to restore the folder or
    the key; the service reads it again on the next request, without a restart.
    """

    http_status = 503
