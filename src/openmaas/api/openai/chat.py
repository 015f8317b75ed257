"""`POST /v1/chat/completions`: parse, run through the chat service, answer as JSON or SSE."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody, OpenAIRoute, as_openmaas_error
from openmaas.api.openai.format import DONE, ChunkEncoder, completion_body, completion_id
from openmaas.api.openai.responses import ChatCompletion
from openmaas.api.openai.schemas import ChatCompletionRequest
from openmaas.api.openapi import MODEL_CALL, STREAM, errors
from openmaas.api.wire import to_internal
from openmaas.services.chat import ChatCall, Choice

log = logging.getLogger(__name__)
router = APIRouter(route_class=OpenAIRoute)


@router.post(
    "/v1/chat/completions",
    responses={200: {"model": ChatCompletion, "content": STREAM}, **errors(*MODEL_CALL)},
)
async def create_chat_completion(
    body: ChatCompletionRequest, caller: CurrentCaller, services: ServicesDep, request: Request
) -> Response:
    note_model(request, body.model)
    call = await services.chat.start(caller, to_internal(body))
    completion = completion_id()
    if not body.stream:
        result = await call.collect()
        return JSONBody(
            completion_body(result, completion=completion, model=body.model, created=call.created),
            headers=call.headers,
        )
    events = aiter(call)
    first = await anext(events)  # errors before the first event still get a proper status code
    encoder = ChunkEncoder(
        completion=completion, model=body.model, include_usage=body.include_usage, created=call.created
    )
    return StreamingResponse(
        _sse(call, encoder, first, events),
        media_type="text/event-stream",
        headers={**call.headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(
    call: ChatCall, encoder: ChunkEncoder, first: Choice, events: AsyncIterator[Choice]
) -> AsyncIterator[bytes]:
    started = set()
    try:
        pending: Choice | None = first
        while pending is not None:
            index, event = pending
            if index not in started:
                started.add(index)
                yield encoder.role(index)
            yield encoder.event(index, event)
            pending = await anext(events, None)
        if encoder.include_usage:
            yield encoder.usage(call.usage)
    except Exception as exc:
        error = as_openmaas_error(exc)
        log.warning("stream ended by an error", extra={"status": error.status, "kind": error.kind})
        yield ChunkEncoder.error(error)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield DONE
