"""`POST /v1/responses` and the stored responses' routes (`GET`/`DELETE /v1/responses/{id}`,
`GET /v1/responses/{id}/input_items`); errors in OpenAI's shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody, OpenAIRoute, as_openmaas_error
from openmaas.api.openapi import MODEL_CALL, STREAM, errors
from openmaas.api.responses.documents import DeletedResponse, InputItemList, ResponseObject
from openmaas.api.responses.format import ResponseDraft, StreamEncoder
from openmaas.api.responses.items import parse_items, to_messages
from openmaas.api.responses.schemas import ResponsesRequest
from openmaas.domain.accounts import Caller
from openmaas.domain.chat import Message
from openmaas.domain.errors import InvalidRequest
from openmaas.services.chat import ChatCall, Choice
from openmaas.services.responses import ResponseService

log = logging.getLogger(__name__)
Saver = Callable[[dict[str, Any]], Awaitable[None]]
router = APIRouter(route_class=OpenAIRoute)


@router.post(
    "/v1/responses",
    responses={200: {"model": ResponseObject, "content": STREAM}, **errors(*MODEL_CALL)},
)
async def create_response(
    body: ResponsesRequest, caller: CurrentCaller, services: ServicesDep, request: Request
) -> Response:
    note_model(request, body.model)
    items = body.items()
    history = await _history(services.responses, caller, body.previous_response_id)
    call = await services.chat.start(caller, body.to_internal(items, history))
    input_items = [item.to_stored() for item in items]
    sampling = call.request.sampling
    draft = ResponseDraft(
        model=body.model,
        settings={**body.echo(), "temperature": sampling.temperature, "top_p": sampling.top_p},
    )
    save = _saver(services.responses, caller, input_items) if body.store else None
    if not body.stream:
        async for _, event in call:
            draft.output.add(event)
        draft.output.close()
        response = draft.body(draft.final_status, usage=call.usage)
        if save is not None:
            await save(response)
        return JSONBody(response, headers=call.headers)
    events = aiter(call)
    first = await anext(events)  # errors before the first event still get a proper status code
    return StreamingResponse(
        _sse(call, draft, save, first, events),
        media_type="text/event-stream",
        headers={**call.headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _history(responses: ResponseService, caller: Caller, previous_id: str | None) -> list[Message]:
    if previous_id is None:
        return []
    items = await responses.context(caller, previous_id)
    field = "previous_response_id"
    return to_messages(parse_items(items, field=field), field=field)


def _saver(responses: ResponseService, caller: Caller, input_items: list[dict[str, Any]]) -> Saver:
    """How a response made with `store` is kept once it is finished."""

    async def save(response: dict[str, Any]) -> None:
        await responses.save(caller, response, input_items)

    return save


async def _sse(
    call: ChatCall, draft: ResponseDraft, save: Saver | None, first: Choice, events: AsyncIterator[Choice]
) -> AsyncIterator[bytes]:
    encoder = StreamEncoder()
    yield encoder.lifecycle("response.created", draft.body("in_progress"))
    yield encoder.lifecycle("response.in_progress", draft.body("in_progress"))
    try:
        pending: Choice | None = first
        while pending is not None:
            produced = draft.output.add(pending[1])
            if produced:
                yield encoder.encode_all(produced)
            pending = await anext(events, None)
        closing = draft.output.close()
        status = draft.final_status
        response = draft.body(status, usage=call.usage)
        if save is not None:
            await save(response)  # before the client hears of it, so it can continue at once
        yield encoder.encode_all(closing) + encoder.lifecycle(f"response.{status}", response)
    except Exception as exc:
        error = as_openmaas_error(exc)
        log.warning("stream ended by an error", extra={"status": error.status, "kind": error.kind})
        yield encoder.lifecycle("response.failed", draft.body("failed", error=error))
    finally:
        await events.aclose()  # type: ignore[attr-defined]


@router.get("/v1/responses/{response_id}", responses={200: {"model": ResponseObject}, **errors(401, 404)})
async def get_response(response_id: str, caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    stored = await services.responses.get(caller, response_id)
    return JSONBody(stored.body)


@router.delete("/v1/responses/{response_id}", responses={200: {"model": DeletedResponse}, **errors(401, 404)})
async def delete_response(response_id: str, caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    await services.responses.delete(caller, response_id)
    return JSONBody({"id": response_id, "object": "response", "deleted": True})


@router.get(
    "/v1/responses/{response_id}/input_items",
    responses={200: {"model": InputItemList}, **errors(400, 401, 404)},
)
async def list_input_items(
    response_id: str,
    caller: CurrentCaller,
    services: ServicesDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> JSONBody:
    stored = await services.responses.get(caller, response_id)
    items = stored.input_items if order == "asc" else stored.input_items[::-1]
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequest(f"after: no input item {after!r} in this response", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return JSONBody(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )
