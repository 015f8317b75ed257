"""`sse_response`: the one streaming shell of every streamed chat route (chat completions, messages,
responses).

The shell waits for the call's first event before it answers, so a failure before it (a bad request,
an overloaded model) still gets its own status code in the route's dialect. It then streams what the
dialect's `StreamEncoder` writes: the opening, one piece per event, the closing. A failure after the
stream began (the status line is already sent) is logged and written by the encoder as the dialect's
error event, with the same error type as the unstreamed failure; the encoder's `end` comes last either
way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from fastapi.responses import StreamingResponse

from openmaas.api.errors import as_openmaas_error
from openmaas.domain.errors import OpenMaaSError
from openmaas.services.chat import ChatCall, Choice

log = logging.getLogger(__name__)


class StreamEncoder(Protocol):
    """How one dialect writes a streamed chat call."""

    #: Written last, after the closing or a failure (OpenAI's `data: [DONE]`), or nothing.
    end: bytes

    async def opening(self, call: ChatCall) -> bytes:
        """What comes before the first event; awaited before the response starts."""
        ...

    def event(self, choice: Choice) -> bytes:
        """One event of one choice (empty when the dialect writes nothing for it)."""
        ...

    async def closing(self, call: ChatCall) -> bytes:
        """What ends a stream that finished (usage, the final object)."""
        ...

    def failure(self, error: OpenMaaSError) -> bytes:
        """The dialect's error event, for a failure after the stream began."""
        ...


async def sse_response(
    call: ChatCall, encoder: StreamEncoder, *, headers: Mapping[str, str]
) -> StreamingResponse:
    """The streamed answer of `call`, as `text/event-stream`, with `headers`."""
    events = aiter(call)
    first = await anext(events)  # errors before the first event still get a proper status code
    opening = await encoder.opening(call)
    return StreamingResponse(
        _body(call, encoder, opening, first, events),
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _body(
    call: ChatCall, encoder: StreamEncoder, opening: bytes, first: Choice, events: AsyncIterator[Choice]
) -> AsyncIterator[bytes]:
    if opening:
        yield opening
    try:
        pending: Choice | None = first
        while pending is not None:
            chunk = encoder.event(pending)
            if chunk:
                yield chunk
            pending = await anext(events, None)
        closing = await encoder.closing(call)
        if closing:
            yield closing
    except Exception as exc:
        error = as_openmaas_error(exc)
        log.warning("stream ended by an error", extra={"status": error.status, "kind": error.kind})
        yield encoder.failure(error)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    if encoder.end:
        yield encoder.end
