"""`GET /v1/tasks/{task_id}` (only the owner; others get 404), `DELETE /v1/tasks/{task_id}` (cancel), and
`GET /v1/tasks?limit=20&after=<task_id>`: the caller's own tasks, newest first, page by page (an OpenMaaS
extension, for galleries)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request

from openmaas.api.deps import CurrentCaller, ServicesDep
from openmaas.api.errors import JSONBody, request_id_of
from openmaas.api.images.responses import Task, TaskList
from openmaas.api.images.schemas import check_task_type, task_body, task_input
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.domain.errors import InvalidRequest

router = APIRouter(route_class=OpenAIRoute)
TaskType = Annotated[str | None, Header(alias="X-ModelScope-Task-Type")]
MAX_PAGE = 100
_DIGITS = re.compile(r"[0-9]{1,3}")  # ASCII only: `isdecimal` also takes "٣"


def page_size(text: str | None) -> int:
    if text is None:
        return 20
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidRequest(
            f"limit must be a whole number from 1 to {MAX_PAGE}, not {text[:20]!r}.", param="limit"
        )
    return int(text)


@router.get("/v1/tasks", responses={200: {"model": TaskList}, **errors(400, 401)})
async def list_tasks(
    caller: CurrentCaller,
    services: ServicesDep,
    request: Request,
    limit: str | None = None,
    after: str | None = None,
    task_type: TaskType = None,
) -> JSONBody:
    check_task_type(task_type)
    found, has_more = await services.images.tasks_of(caller, limit=page_size(limit), after=after or None)
    base_url = str(request.base_url)
    request_id = request_id_of(request)
    data = [
        {
            **task_body(task, services.images.output_urls(task, base_url), request_id),
            "input": task_input(task),
        }
        for task in found
    ]
    return JSONBody(
        {
            "object": "list",
            "data": data,
            "has_more": has_more,
            "first_id": found[0].id if found else None,
            "last_id": found[-1].id if found else None,
        }
    )


@router.get("/v1/tasks/{task_id}", responses={200: {"model": Task}, **errors(400, 401, 404)})
async def get_task(
    task_id: str, caller: CurrentCaller, services: ServicesDep, request: Request, task_type: TaskType = None
) -> JSONBody:
    check_task_type(task_type)
    task = await services.images.task_for(caller, task_id)
    urls = services.images.output_urls(task, str(request.base_url))
    return JSONBody(task_body(task, urls, request_id_of(request)))


@router.delete("/v1/tasks/{task_id}", responses={200: {"model": Task}, **errors(400, 401, 404)})
async def cancel_task(
    task_id: str, caller: CurrentCaller, services: ServicesDep, request: Request, task_type: TaskType = None
) -> JSONBody:
    check_task_type(task_type)
    task = await services.images.cancel(caller, task_id)
    urls = services.images.output_urls(task, str(request.base_url))
    return JSONBody(task_body(task, urls, request_id_of(request)))
