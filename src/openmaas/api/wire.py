"""What every wire schema shares: leniency, a translation that fails as the client's error, and JSON
encoding that does not fail.

Clients send fields we do not use (OpenAI's SDK sends many); they are accepted and ignored, while every
field we do act on is typed and range-checked. A body is turned into its internal request by
`to_internal(body)`: whatever goes wrong there is a 400, since nothing but the request's own content
can make it fail (an unforeseen value is still the client's; the traceback is logged to fix the check).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict

from openmaas.domain.errors import InvalidRequest, OpenMaaSError

log = logging.getLogger(__name__)
T = TypeVar("T", covariant=True)


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class WireRequest(Protocol[T]):
    def to_internal(self) -> T: ...


def to_internal(body: WireRequest[T]) -> T:
    """`body.to_internal()`, with any failure but a deliberate `OpenMaaSError` turned into a 400."""
    try:
        return body.to_internal()
    except OpenMaaSError:
        raise
    except Exception as exc:
        log.warning("a request could not be translated", exc_info=exc)
        raise InvalidRequest(
            f"The request could not be read ({type(exc).__name__}); check its values.",
            code="invalid_request",
        ) from None


def dumps(value: Any) -> bytes:
    """JSON bytes of `value`: orjson, or the standard library for what orjson refuses (integers beyond
    64 bits, nesting past 255, strings that are not proper Unicode, which it escapes)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, default=str, separators=(",", ":")).encode()
