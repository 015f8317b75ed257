"""Errors in Anthropic's shape: `{"type": "error", "error": {"type", "message"}, "request_id"}` with a
`request-id` header; `AnthropicRoute`, the route class of the `/v1/messages` routes; and
`anthropic_errors(...)`, the error responses such a route declares in `/openapi.json`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from openmaas.api.errors import DialectRoute, JSONBody
from openmaas.api.openapi import error_responses
from openmaas.domain.errors import OpenMaaSError

_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "engine": "api_error",
    "internal": "api_error",
}


def anthropic_error(error: OpenMaaSError) -> dict[str, Any]:
    """The `error` object of Anthropic's error shape, in a response body and in a stream alike."""
    return {"type": _TYPES.get(error.kind, "api_error"), "message": error.message}


def render_anthropic_error(error: OpenMaaSError, request_id: str) -> JSONBody:
    body = {"type": "error", "error": anthropic_error(error), "request_id": request_id}
    return JSONBody(body, status_code=error.status, headers={**error.headers, "request-id": request_id})


class AnthropicRoute(DialectRoute):
    render_error = staticmethod(render_anthropic_error)


class AnthropicError(BaseModel):
    type: str
    message: str


class AnthropicErrorBody(BaseModel):
    """Anthropic's error shape."""

    type: Literal["error"]
    error: AnthropicError
    request_id: str


def anthropic_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route in Anthropic's shape, for `/openapi.json`; 503 is always one."""
    return error_responses(AnthropicErrorBody, *statuses)
