"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}, "request_id"}`;
`OpenAIRoute`, the route class of every OpenAI-shaped route (chat, embeddings, responses, images,
console, admin); and `errors(...)`, the error responses such a route declares in `/openapi.json`."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from openmaas.api.errors import DialectRoute, JSONBody
from openmaas.api.openapi import error_responses
from openmaas.domain.errors import OpenMaaSError

_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "overloaded": "server_error",
    "engine": "server_error",
    "internal": "server_error",
}


def openai_error(error: OpenMaaSError) -> dict[str, Any]:
    """The `error` object of OpenAI's error shape, in a response body and in a stream alike."""
    return {
        "message": error.message,
        "type": _TYPES.get(error.kind, "server_error"),
        "param": error.param,
        "code": error.code,
    }


def render_openai_error(error: OpenMaaSError, request_id: str) -> Response:
    body = {"error": openai_error(error), "request_id": request_id}
    return JSONBody(body, status_code=error.status, headers=error.headers)


class OpenAIRoute(DialectRoute):
    render_error = staticmethod(render_openai_error)


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error shape (also the image-task and console routes')."""

    error: OpenAIError
    request_id: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route in OpenAI's shape, for `/openapi.json`; 503 is always one."""
    return error_responses(OpenAIErrorBody, *statuses)
