"""What every dialect shares about errors: turning any exception into an `OpenMaaSError`, and
`DialectRoute`, the base of each dialect's route class.

Routes of a dialect use that dialect's `DialectRoute` subclass (`openai.errors.OpenAIRoute`,
`anthropic.errors.AnthropicRoute`): it reads the body strictly (`body.py`), catches every
`OpenMaaSError`, request-validation error and unexpected exception raised while parsing,
authenticating or running the route, and renders it with the dialect's `render_error`, with its status
and headers. An unexpected exception becomes a 500 whose body says nothing of its internals; the
traceback goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from openmaas.api.body import StrictRequest
from openmaas.api.mistakes import body_not_json, joined_key
from openmaas.api.wire import dumps
from openmaas.domain.errors import (
    AuthenticationFailed,
    EngineFailure,
    InvalidRequest,
    NotFound,
    OpenMaaSError,
    PayloadTooLarge,
    PermissionDenied,
)

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[OpenMaaSError, str], Response]


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def describe_validation(errors: Sequence[Any]) -> InvalidRequest:
    """Turn pydantic's error list into one 400 that names the first offending field (or explains a
    mistake it recognises, see `openmaas.api.mistakes`)."""
    explained = joined_key(errors) or body_not_json(errors)
    if explained is not None:
        return explained
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request", "type": ""}
    location = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        return InvalidRequest(
            f"The request body is not valid JSON: {detail}".rstrip(": "), code="invalid_json"
        )
    param = ".".join(location) or None
    message = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        message = "Field required"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return InvalidRequest(f"{param + ': ' if param else ''}{message}{more}", param=param)


def _from_http_exception(exc: HTTPException) -> OpenMaaSError:
    by_status: dict[int, type[OpenMaaSError]] = {
        401: AuthenticationFailed,
        403: PermissionDenied,
        404: NotFound,
        413: PayloadTooLarge,
    }
    kind = by_status.get(exc.status_code, InvalidRequest if exc.status_code < 500 else EngineFailure)
    error = kind(str(exc.detail))
    error.status = exc.status_code
    return error


def as_openmaas_error(exc: Exception) -> OpenMaaSError:
    if isinstance(exc, OpenMaaSError):
        return exc
    if isinstance(exc, RequestValidationError):
        return describe_validation(exc.errors())
    if isinstance(exc, HTTPException):
        return _from_http_exception(exc)
    log.error("unhandled error", exc_info=exc)
    return EngineFailure("The server hit an internal error; the request id identifies it in the log.")


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def note_error(request: Request, error: OpenMaaSError) -> None:
    """Name the error in this request's access-log line (its code, or its kind)."""
    request.scope.setdefault("state", {})["error"] = error.code or error.kind


class DialectRoute(APIRoute):
    """An APIRoute that renders every failure with its dialect's `render_error`."""

    render_error: ErrorRenderer

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        render = type(self).render_error

        async def handle(request: Request) -> Response:
            try:
                return await handler(StrictRequest(request.scope, request.receive))
            except Exception as exc:
                error = request.scope.get("state", {}).get("body_error") or as_openmaas_error(exc)
                note_error(request, error)
                return render(error, request_id_of(request))

        return handle
