"""Errors of the Responses API. A request refused before its response exists gets OpenAI's error shape
(the routes are `OpenAIRoute`s); a response that fails once made carries its own `error` object,
`response_error`, with the status `failed`."""

from __future__ import annotations

from typing import Any

from openmaas.domain.errors import OpenMaaSError


def response_error(error: OpenMaaSError) -> dict[str, Any]:
    """The `error` object of a failed response."""
    code = "invalid_prompt" if error.kind == "invalid_request" else "server_error"
    return {"code": code, "message": error.message}
