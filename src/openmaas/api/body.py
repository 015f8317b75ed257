"""Request bodies read strictly at the edge, so that nothing past it meets a value it cannot handle.

Every dialect route parses its JSON body here (`StrictRequest`, installed by `DialectRoute`) instead of
with the standard library, which lets through what JSON itself does not allow and what the rest of the
server cannot take. Refused with a 400 that says why, before any route code runs:

- text that is not proper Unicode: invalid UTF-8, and lone surrogates (`"\\ud800"`), which no encoder
  (orjson, a tokenizer, the database) accepts;
- numbers outside what the server computes with: integers beyond 64 bits (signed or unsigned) and
  floats that overflow to infinity (`1e999`; `NaN` and `Infinity` are not JSON at all);
- nesting deeper than `MAX_DEPTH` levels (JSON schemas and tool parameters are rendered, compiled to
  grammars and re-encoded, all of which recurse).

The values that pass are exactly those orjson and the standard library can encode again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic_core import from_json
from starlette.requests import Request

from openmaas.domain.errors import InvalidRequest

#: The deepest a request body may nest (the body itself is level 1).
MAX_DEPTH = 64
INT_RANGE = (-(2**63), 2**64 - 1)
_CONTAINERS = (dict, list)


def _not_json(detail: str) -> InvalidRequest:
    if "surrogate" in detail or "escape" in detail or "unicode" in detail:
        detail += " (text must be proper Unicode: a lone surrogate such as \\ud800 is not)"
    return InvalidRequest(f"The request body is not valid JSON: {detail}", code="invalid_json")


def parse_json(raw: bytes) -> Any:
    """The body's JSON value, or `InvalidRequest` (400) saying what is wrong with it."""
    try:
        value = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise _not_json(str(exc)) from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Raise `InvalidRequest`, naming the field, if `value` (parsed JSON) nests too deep or holds a
    number out of range.

    Walks level by level; a level's scalars are looked at only when its types say they need it, so a
    long list of token ids costs a few C-level passes, not a Python loop over every id."""
    level: list[Any] = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise InvalidRequest(
                f"The request body nests deeper than {MAX_DEPTH} levels.",
                param=_path_to(value, lambda item, at: at > MAX_DEPTH and type(item) in _CONTAINERS),
                code="invalid_json",
            )
        below: list[Any] = []
        for node in level:
            items = list(node.values()) if type(node) is dict else node
            kinds = set(map(type, items))
            if (int in kinds and not _ints_fit(items, kinds)) or (float in kinds and not _floats_fit(items)):
                raise InvalidRequest(
                    "The request body holds a number outside the 64-bit range "
                    f"(integers from {INT_RANGE[0]} to {INT_RANGE[1]}); send such numbers as strings.",
                    param=_path_to(value, lambda item, _: not _fits(item)),
                    code="invalid_json",
                )
            if dict in kinds or list in kinds:
                below.extend(item for item in items if type(item) in _CONTAINERS)
        level = below


def _ints_fit(items: list[Any], kinds: set[type]) -> bool:
    numbers = items if kinds == {int} else [x for x in items if type(x) is int]
    return INT_RANGE[0] <= min(numbers) and max(numbers) <= INT_RANGE[1]


def _floats_fit(items: list[Any]) -> bool:
    return all(map(math.isfinite, (x for x in items if type(x) is float)))


def _fits(item: Any) -> bool:
    if type(item) is int:
        return INT_RANGE[0] <= item <= INT_RANGE[1]
    return type(item) is not float or math.isfinite(item)


def _path_to(value: Any, wrong: Callable[[Any, int], bool]) -> str | None:
    """The dotted path (`messages.0.content`) of the first item for which `wrong(item, depth)` holds;
    only called once something is known to be wrong, so its cost does not matter."""
    stack: list[tuple[Any, tuple[str, ...], int]] = [(value, (), 1)]
    while stack:
        item, path, depth = stack.pop()
        if wrong(item, depth):
            return ".".join(path) or None
        if type(item) is dict:
            stack.extend((v, (*path, str(k)), depth + 1) for k, v in reversed(item.items()))
        elif type(item) is list:
            stack.extend((v, (*path, str(i)), depth + 1) for i, v in reversed(list(enumerate(item))))
    return None


class StrictRequest(Request):
    """A request whose `json()` is `parse_json`. The error is left in the request's state for the route's
    error handler: FastAPI replaces any parsing error but its own JSON errors with a generic 400."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = parse_json(await self.body())
            except InvalidRequest as error:
                self.scope.setdefault("state", {})["body_error"] = error
                raise
        return self._json
