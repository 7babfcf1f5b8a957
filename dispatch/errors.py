"""The DispatchError family: every error a user can fix, each also a builtin exception."""

from __future__ import annotations

from typing import Any


class DispatchError(Exception):
    """Base of every error that a user (not a programmer) can act on.

    The message says what is wrong and how to fix it. ``status`` is the HTTP status the web
    layer answers with; ``code`` a stable machine-readable name; ``details`` optional
    structured data (for example per-row errors of an import).
    """

    status: int = 400
    code: str = "invalid"
    #: Seconds after which the request may be sent again (the web layer's Retry-After header).
    retry_after_s: float | None = None

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The standard error body: ``{"ok": false, "error": ..., "status": ..., "code": ...}``."""
        body: dict[str, Any] = {
            "ok": False,
            "error": self.message,
            "status": self.status,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationError(DispatchError, ValueError):
    """Input that does not have the expected form or values."""

    status = 400
    code = "invalid"


class NotFoundError(DispatchError, LookupError):
    """A named thing (territory, team, visit...) that does not exist."""

    status = 404
    code = "not_found"


class ConflictError(DispatchError):
    """A request that contradicts the current state (duplicate name, visit already done...)."""

    status = 409
    code = "conflict"


class StalePlanError(ConflictError):
    """The day's plan changed since a proposal was computed from it: compute it again."""

    code = "stale_plan"


class ConfirmationRequired(ConflictError):
    """A change that needs the user's explicit confirmation of what it costs.

    ``code`` names what to confirm (``confirm_dropped``, ``confirm_violations``); ``details``
    lists it, so that the screen can name each item before the user confirms.
    """

    def __init__(self, message: str, *, code: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.code = code


class AuthenticationError(DispatchError, PermissionError):
    """Missing or invalid credentials."""

    status = 401
    code = "unauthenticated"


class PermissionDeniedError(DispatchError, PermissionError):
    """Valid credentials that do not grant this action."""

    status = 403
    code = "forbidden"


class RateLimitedError(DispatchError):
    """Too many attempts in a short time; ``retry_after_s`` becomes the Retry-After header."""

    status = 429
    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after_s: float | None = None, details: Any = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class StorageUnavailableError(DispatchError, RuntimeError):
    """The database cannot store anything now (disk full, write error): nothing of the request
    was stored; send it again after ``retry_after_s`` (a phone's outbox keeps it meanwhile)."""

    status = 503
    code = "storage_unavailable"
    retry_after_s: float | None = 10.0

    def to_dict(self) -> dict[str, Any]:
        """The standard error body, with ``retry_after_s`` (socket acknowledgements carry no
        header)."""
        body = super().to_dict()
        body["retry_after_s"] = self.retry_after_s
        return body


class DataMissingError(DispatchError, FileNotFoundError):
    """A data file (road network, population table) is not where the search path looks."""

    status = 503
    code = "data_missing"


class NotBuiltError(DispatchError, FileNotFoundError):
    """A territory whose compact cache has not been built yet."""

    status = 503
    code = "not_built"


class AddressNotFoundError(DispatchError, LookupError):
    """An address the offline geocoder does not find in the served territory (correct it or
    place the pin)."""

    status = 422
    code = "address_not_found"


class RoutingError(DispatchError, ValueError):
    """A point off the road network, outside the territory, or a pair with no route."""

    status = 422
    code = "routing"


class InternalError(DispatchError, RuntimeError):
    """Something failed on the server's side; the request can be sent again."""

    status = 500
    code = "internal"


class SolverError(DispatchError, RuntimeError):
    """The optimiser could not produce a plan (time budget, worker crash...)."""

    status = 500
    code = "solver"
