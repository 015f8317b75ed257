"""`POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic-compatible)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from openmaas.api.anthropic.format import EventEncoder, message_body, message_id, render_anthropic_error
from openmaas.api.anthropic.responses import Message, TokenCount
from openmaas.api.anthropic.schemas import MessagesRequest
from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import DialectRoute, JSONBody, as_openmaas_error, request_id_of
from openmaas.api.openapi import MODEL_CALL, STREAM, anthropic_errors
from openmaas.api.wire import to_internal
from openmaas.domain.chat import ChatEvent
from openmaas.services.chat import ChatCall, Choice

log = logging.getLogger(__name__)


class AnthropicRoute(DialectRoute):
    render_error = staticmethod(render_anthropic_error)


router = APIRouter(route_class=AnthropicRoute)


class CountTokensRequest(MessagesRequest):
    max_tokens: int = 1  # count_tokens does not take max_tokens


@router.post(
    "/v1/messages",
    responses={200: {"model": Message, "content": STREAM}, **anthropic_errors(*MODEL_CALL)},
)
async def create_message(
    body: MessagesRequest, caller: CurrentCaller, services: ServicesDep, request: Request
) -> Response:
    note_model(request, body.model)
    call = await services.chat.start(caller, to_internal(body))
    message = message_id()
    headers = {**call.headers, "request-id": request_id_of(request)}
    if not body.stream:
        result = await call.collect()
        return JSONBody(message_body(result, message=message, model=body.model), headers=headers)
    events = aiter(call)
    first = await anext(events)  # errors before the first event still get a proper status code
    encoder = EventEncoder(message=message, model=body.model)
    input_tokens = await call.count_prompt_tokens()
    return StreamingResponse(
        _sse(call, encoder, input_tokens, first, events),
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(
    call: ChatCall, encoder: EventEncoder, input_tokens: int, first: Choice, events: AsyncIterator[Choice]
) -> AsyncIterator[bytes]:
    yield encoder.start(input_tokens)
    try:
        pending: Choice | None = first
        while pending is not None:
            event: ChatEvent = pending[1]
            chunk = encoder.event(event)
            if chunk:
                yield chunk
            pending = await anext(events, None)
        yield encoder.end(call.usage)
    except Exception as exc:
        error = as_openmaas_error(exc)
        log.warning("stream ended by an error", extra={"status": error.status, "kind": error.kind})
        yield EventEncoder.error(error)
    finally:
        await events.aclose()  # type: ignore[attr-defined]


@router.post(
    "/v1/messages/count_tokens",
    responses={200: {"model": TokenCount}, **anthropic_errors(400, 401, 403, 404, 413, 500)},
)
async def count_tokens(
    body: CountTokensRequest, caller: CurrentCaller, services: ServicesDep, request: Request
) -> JSONBody:
    note_model(request, body.model)
    tokens = await services.chat.count_tokens(caller, to_internal(body))
    return JSONBody({"input_tokens": tokens}, headers={"request-id": request_id_of(request)})
