"""`POST /v1/images/generations`: a task at once (`X-ModelScope-Async-Mode: true`) or the images when done.

A client that waits for its images and goes away cancels its task (it has no task id to read it by)."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody, request_id_of
from openmaas.api.images.responses import ImagesResult, TaskSubmitted
from openmaas.api.images.schemas import ImageGenerationBody, flag
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openapi import MODEL_CALL
from openmaas.api.wire import to_internal
from openmaas.domain.errors import EngineFailure
from openmaas.domain.tasks import TaskStatus
from openmaas.draining import DISCONNECTED, cancelled_by

router = APIRouter(route_class=OpenAIRoute)
ASYNC_HEADER = "X-ModelScope-Async-Mode"


@router.post(
    "/v1/images/generations",
    responses={200: {"model": TaskSubmitted | ImagesResult}, **errors(*MODEL_CALL)},
)
async def create_images(
    body: ImageGenerationBody,
    caller: CurrentCaller,
    services: ServicesDep,
    request: Request,
    async_mode: Annotated[str | None, Header(alias=ASYNC_HEADER)] = None,
) -> JSONBody:
    note_model(request, body.model)
    wait = not flag(async_mode, ASYNC_HEADER)
    images = services.images
    submission = await images.submit(caller, to_internal(body), request_id_of(request))
    task = submission.task
    if not wait:
        return JSONBody(
            {"task_id": task.id, "request_id": request_id_of(request)}, headers=submission.headers
        )
    try:
        task = await images.wait(task.id)
    except asyncio.CancelledError as exc:
        if cancelled_by(exc, DISCONNECTED):  # nobody is left to read the images: stop making them
            await images.cancel(caller, task.id)
        raise
    if task.status is not TaskStatus.SUCCEED:
        error = task.error
        failure = EngineFailure(
            error.message if error else "The task failed.", code=error.code if error else None
        )
        failure.headers.update(submission.headers)
        raise failure
    urls = images.output_urls(task, str(request.base_url))
    data: list[dict[str, Any]] = [{"url": url} for url in urls]
    if body.response_format == "b64_json":
        data = [{"b64_json": base64.b64encode(png).decode()} for png in await images.output_bytes(task)]
    return JSONBody(
        {
            "created": int(task.created_at.timestamp()),
            "task_id": task.id,
            "data": data,
            "images": [{"url": url} for url in urls],
        },
        headers=submission.headers,
    )
