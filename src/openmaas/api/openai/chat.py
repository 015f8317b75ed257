"""`POST /v1/chat/completions`: parse, run through the chat service, answer as JSON or SSE."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openai.format import ChunkEncoder, completion_body, completion_id
from openmaas.api.openai.responses import ChatCompletion
from openmaas.api.openai.schemas import ChatCompletionRequest
from openmaas.api.openapi import MODEL_CALL, STREAM
from openmaas.api.sse import sse_response
from openmaas.api.wire import to_internal

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
    encoder = ChunkEncoder(
        completion=completion, model=body.model, include_usage=body.include_usage, created=call.created
    )
    return await sse_response(call, encoder, headers=call.headers)
