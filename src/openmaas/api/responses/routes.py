"""`POST /v1/responses` and the stored responses' routes (`GET`/`DELETE /v1/responses/{id}`,
`GET /v1/responses/{id}/input_items`); errors in OpenAI's shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openapi import MODEL_CALL, STREAM
from openmaas.api.responses.documents import DeletedResponse, InputItemList, ResponseObject
from openmaas.api.responses.format import ResponseDraft, ResponseEncoder, Saver
from openmaas.api.responses.items import parse_items, to_messages
from openmaas.api.responses.schemas import ResponsesRequest
from openmaas.api.sse import sse_response
from openmaas.domain.accounts import Caller
from openmaas.domain.chat import Message
from openmaas.domain.errors import InvalidRequest
from openmaas.services.responses import ResponseService

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
    return await sse_response(call, ResponseEncoder(draft, save), headers=call.headers)


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
