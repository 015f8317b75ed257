"""`POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic-compatible)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from openmaas.api.anthropic.errors import AnthropicRoute, anthropic_errors
from openmaas.api.anthropic.format import EventEncoder, message_body, message_id
from openmaas.api.anthropic.responses import Message, TokenCount
from openmaas.api.anthropic.schemas import MessagesRequest
from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody, request_id_of
from openmaas.api.openapi import MODEL_CALL, STREAM
from openmaas.api.sse import sse_response
from openmaas.api.wire import to_internal

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
    encoder = EventEncoder(message=message, model=body.model)
    return await sse_response(call, encoder, headers=headers)


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
