"""The bodies the image-task routes answer with, as models for `/openapi.json` (see
`api/openai/responses.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class TaskSubmitted(BaseModel):
    """The answer with `X-ModelScope-Async-Mode: true`: read the task by its id."""

    task_id: str
    request_id: str


class ImageLink(BaseModel):
    url: str


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None


class ImagesResult(BaseModel):
    """The answer without the async header, once the task has finished."""

    created: int
    task_id: str
    data: list[ImageData]
    images: list[ImageLink]


class TaskErrors(BaseModel):
    code: str
    message: str


class Task(BaseModel):
    task_id: str
    task_status: Literal["PENDING", "RUNNING", "SUCCEED", "FAILED"]
    task_type: str
    model: str
    output_images: list[str]
    progress: float
    request_id: str
    created_at: str
    updated_at: str
    errors: TaskErrors | None = None


class TaskInput(BaseModel):
    prompt: str | None
    negative_prompt: str | None
    size: str
    seed: int | None
    steps: int | None
    guidance: float | None
    n: int | None
    loras: dict[str, float]
    edit: bool


class ListedTask(Task):
    input: TaskInput


class TaskList(BaseModel):
    object: Literal["list"]
    data: list[ListedTask]
    has_more: bool
    first_id: str | None
    last_id: str | None
