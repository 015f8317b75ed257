"""The one error hierarchy of OpenMaaS.

Every failure a client can see is an `OpenMaaSError`. Each subclass fixes the HTTP status and a
dialect-neutral `kind`; the API layer renders it in the route's own shape (OpenAI, Anthropic, ...).
Anything else that escapes a route is a bug and is rendered as a 500 without its traceback.
"""

from __future__ import annotations


class OpenMaaSError(Exception):
    """Base class. `message` is shown to the client; it must never contain secrets or prompt text."""

    status: int = 500
    kind: str = "internal"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers: dict[str, str] = {}


class InvalidRequest(OpenMaaSError):
    """The request is malformed or asks for something impossible; `param` names the field."""

    status = 400
    kind = "invalid_request"


class AuthenticationFailed(OpenMaaSError):
    status = 401
    kind = "authentication"


class PermissionDenied(OpenMaaSError):
    status = 403
    kind = "permission"


class NotFound(OpenMaaSError):
    status = 404
    kind = "not_found"


class PayloadTooLarge(OpenMaaSError):
    status = 413
    kind = "request_too_large"


class QuotaExceeded(OpenMaaSError):
    """A daily call limit is reached. `retry_after` is the number of seconds until the day resets."""

    status = 429
    kind = "rate_limit"

    def __init__(self, message: str, *, retry_after: int, limit: str) -> None:
        super().__init__(message, code="daily_quota_exceeded")
        self.retry_after = retry_after
        self.limit = limit
        self.headers["Retry-After"] = str(retry_after)


class Overloaded(OpenMaaSError):
    """The server cannot take the request now (queue full, model still loading)."""

    status = 503
    kind = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(retry_after)


class ModelNotReady(Overloaded):
    """The model is still loading: retry in a few seconds."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"Model '{model_id}' is still loading; retry shortly.", retry_after=5)


class ShuttingDown(Overloaded):
    """The server is shutting down: it takes no new call, and ends those still running after the grace."""

    def __init__(self, message: str = "The server is shutting down; retry the request.") -> None:
        super().__init__(message, retry_after=1)
        self.code = "shutting_down"


class EngineFailure(OpenMaaSError):
    """The model engine failed while serving a valid request."""

    status = 500
    kind = "engine"
