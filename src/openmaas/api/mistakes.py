"""Common client mistakes, recognised in a failed request and explained in the error the client gets.

A plain "prompt: Field required" or "Not Found" is correct but leaves a newcomer staring at a script that
plainly says `"prompt"` or `base_url`. Each function here looks at one kind of failure and, when it
matches a mistake people make with the snippets in circulation (ModelScope's documentation, the OpenAI
and Anthropic SDKs, LangChain), returns an error that says what happened and what to do; otherwise
None, and the plain error stands. Nothing here echoes a token or prompt text.

- A key joined with a string literal: Python joins adjacent string literals, so a triple-quoted note
  written between two entries of a dict (as in ModelScope's printed image example) becomes part of the
  next key: the body holds `"\\n  LoRA(s) Configuration: …\\n  prompt"` and no `prompt`.
- A JSON body sent without `Content-Type: application/json` (curl's `-d` alone sends a form type), so
  it is not read as JSON at all.
- The API's `/v1` left out of a base URL (`/chat/completions`), or given to a client that adds it itself
  (the Anthropic SDK: `/v1/v1/messages`).
- A route called with the wrong method (a browser's GET on `/v1/chat/completions`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match

from openmaas.domain.errors import InvalidRequest, NotFound

API_PREFIX = "/v1"
MESSAGES = "/v1/messages"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_SHOWN_HEAD = 40
_SHOWN_TAIL = 24


def joined_key(errors: Sequence[Mapping[str, Any]]) -> InvalidRequest | None:
    """A 400 explaining a required field that is missing because a string literal was joined to its key."""
    for error in errors:
        if error.get("type") != "missing" or not error.get("loc"):
            continue
        field = error["loc"][-1]
        container = error.get("input")
        if not isinstance(field, str) or not isinstance(container, Mapping):
            continue
        for key in container:
            if isinstance(key, str) and _joined_onto(key, field):
                location = [str(p) for p in error["loc"] if p != "body"]
                return InvalidRequest(
                    f'"{field}" is missing, but the body has a key that ends with it: {_shown(key)}. '
                    f'A string literal written just before "{field}" (a triple-quoted note, say) was '
                    "joined to it: Python joins adjacent string literals into one. Turn the note into "
                    "# comments.",
                    param=".".join(location),
                    code="joined_string_literal",
                )
    return None


def body_not_json(errors: Sequence[Mapping[str, Any]]) -> InvalidRequest | None:
    """A 400 for a body that is not a JSON object, saying how to send one."""
    for error in errors:
        if tuple(error.get("loc", ())) == ("body",) and error.get("type") == "model_attributes_type":
            if isinstance(error.get("input"), bytes):  # FastAPI reads a non-JSON content type as bytes
                return InvalidRequest(
                    "The request body was not read as JSON: send it with the header "
                    "`Content-Type: application/json` (curl: -H 'Content-Type: application/json').",
                    code="body_not_json",
                )
            return InvalidRequest("The request body must be a JSON object: {...}.", code="body_not_object")
    return None


def _joined_onto(key: str, field: str) -> bool:
    """`key` is `field` after a newline (and indentation) with something before it."""
    if key == field or not key.endswith(field):
        return False
    head = key[: -len(field)]
    return head.rstrip(" \t").endswith("\n") and bool(head.strip())


def _shown(key: str) -> str:
    """The key as a JSON string, its middle cut when it is long."""
    if len(key) > _SHOWN_HEAD + _SHOWN_TAIL + 10:
        head, tail = json.dumps(key[:_SHOWN_HEAD], ensure_ascii=False), json.dumps(key[-_SHOWN_TAIL:])
        return f"{head[:-1]}…{tail[1:]}"
    return json.dumps(key, ensure_ascii=False)


def misplaced_api_path(
    path: str, method: str, routes: Iterable[BaseRoute], server_url: str
) -> tuple[str, NotFound] | None:
    """For a path no route serves: the path the client meant and a 404 that says how to fix its base
    URL, when the path is a route with `/v1` added or with a doubled `/v1` dropped."""
    server_url = server_url.rstrip("/")
    routes = list(routes)
    if path.startswith(API_PREFIX + API_PREFIX + "/"):
        meant = path[len(API_PREFIX) :]
        if _served(meant, method, routes):
            anthropic = f" (the Anthropic SDK's base_url is {server_url})" * meant.startswith(MESSAGES)
            return meant, NotFound(
                f"No route {path}: the URL has {API_PREFIX} twice, because the client adds {API_PREFIX} "
                f"to its base URL itself. Drop {API_PREFIX} from the base URL{anthropic}.",
                code="base_url_doubled_v1",
            )
    if not path.startswith(API_PREFIX + "/"):
        meant = API_PREFIX + path
        if _served(meant, method, routes):
            return meant, NotFound(
                f"No route {path}: the API lives under {API_PREFIX}. Add {API_PREFIX} to the base URL: "
                f"use {server_url}{API_PREFIX} (the OpenAI SDK's and LangChain's base_url), which sends "
                f"{meant}.",
                code="base_url_missing_v1",
            )
    return None


def wrong_method(path: str, method: str, routes: Iterable[BaseRoute]) -> InvalidRequest | None:
    """For a path served with other methods only: a 405 that names them."""
    allowed = _methods_of(path, routes)
    if not allowed:
        return None
    browser = " (a browser's address bar sends GET: call it with an SDK or curl)" if method == "GET" else ""
    error = InvalidRequest(
        f"{path} takes {' or '.join(allowed)}, not {method}{browser}.", code="method_not_allowed"
    )
    error.status = 405
    error.headers["Allow"] = ", ".join(allowed)
    return error


def _methods_of(path: str, routes: Iterable[BaseRoute]) -> list[str]:
    """The methods some route takes at `path` (asked of each route, as the router would ask it)."""
    routes = list(routes)
    return [method for method in _METHODS if _served(path, method, routes, exactly=True)]


def _served(path: str, method: str, routes: Iterable[BaseRoute], *, exactly: bool = False) -> bool:
    """Whether a route serves `path` (with `method` too, if `exactly`)."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    wanted = (Match.FULL,) if exactly else (Match.FULL, Match.PARTIAL)
    return any(route.matches(scope)[0] in wanted for route in routes)
