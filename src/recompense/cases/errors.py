"""Errors of the cases desk, each with a stable ``code`` for the web's translated sentence.

::

    InputError (exit code 2)
    └── CaseError                 a request the desk refuses (422): text, amount, file
        ├── CaseNotFound          no such case/evidence *for this actor* (404; also when it
        │                         exists but is someone else's: ids cannot be probed)
        ├── CaseForbidden         the actor may see it but not do this (403: role,
        │                         maker-checker)
        └── CaseConflict          the case's state does not allow it, or it changed
                                  meanwhile (409)

They are also :class:`~recompense.errors.NotFoundError`, ``ForbiddenError`` and
``ConflictError``, so the web's one exception handler and the CLI's boundary map them
without knowing this package. ``code`` is stable (tests and translations key on it);
``values`` carries the ids, states and amounts (``*_cents``) a sentence may need.
"""

from __future__ import annotations

from recompense.errors import ConflictError, ForbiddenError, InputError, NotFoundError


class CaseError(InputError):
    """A case request that cannot be honoured (bad text, amount, date, file)."""

    http_status = 422

    def __init__(self, message: str, *, code: str = "invalid", **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


class CaseNotFound(CaseError, NotFoundError):
    """No such case or evidence for this actor (also when it exists but is not theirs)."""

    http_status = 404

    def __init__(self, message: str, *, code: str = "not_found", **values: object) -> None:
        super().__init__(message, code=code, **values)


class CaseForbidden(CaseError, ForbiddenError):
    """The actor may see the case but may not do this (role, maker-checker)."""

    http_status = 403


class CaseConflict(CaseError, ConflictError):
    """The case's state does not allow this, or it changed meanwhile."""

    http_status = 409
