"""What `/openapi.json` says about each route, kept true.

- Each route declares the error statuses it really answers with, in its dialect's error body:
  `openai.errors.errors(...)` or `anthropic.errors.anthropic_errors(...)` (both `error_responses`); 429
  and 503 say they carry `Retry-After`. Every route but the probes may answer 503: a draining server
  refuses new requests (`api/calls.py`).
- Bodies that are not JSON say so: `text/event-stream` for streamed answers (`STREAM`), `text/plain`
  for `/metrics`, `image/png` for files.
- FastAPI's 422 (never sent here: a request that does not validate is a 400) is taken out of the
  document, with its schemas (`openapi_document`).

The response bodies of the main endpoints are described by the models in each dialect's
`responses.py`; they document, the routes still build their JSON directly (the hot paths).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_DESCRIPTIONS = {
    400: "Invalid request: the message names the field (`param`)",
    401: "Missing, unknown or revoked access token",
    403: "The token may not do this (model not allowed, admin needed, bad file signature)",
    404: "Unknown model, task, user or token",
    413: "Request body over the size limit",
    429: "A daily call limit is reached; `Retry-After` gives the seconds until the reset",
    500: "The engine failed (never a traceback)",
    503: "Overloaded, model still loading, or the server is shutting down; retry after `Retry-After`",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}


def error_responses(body: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route whose errors have the shape `body`; 503 is always one of them."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in (*statuses, 503):
        response: dict[str, Any] = {"model": body, "description": _DESCRIPTIONS[status]}
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


#: The statuses of a metered model call (chat, messages, embeddings, images).
MODEL_CALL = (400, 401, 403, 404, 413, 429, 500)

#: The second content type of a route that streams when asked (`stream: true`).
STREAM = {"text/event-stream": {"schema": {"type": "string", "description": "Server-sent events"}}}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once), without FastAPI's 422 responses."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
    return app.openapi_schema
