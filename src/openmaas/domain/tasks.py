"""Asynchronous tasks: a submitted job, its status and its outputs, kept in the store so that a restart
loses nothing.

A task moves PENDING → RUNNING → SUCCEED or FAILED. A RUNNING task whose process died goes back to
PENDING when the server starts again (or ends FAILED after too many attempts). A cancelled task ends
FAILED with the error code `cancelled`, so that clients that only know the four statuses stop polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEED = "SUCCEED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEED, TaskStatus.FAILED)


IMAGE_GENERATION = "image_generation"


@dataclass(frozen=True, slots=True)
class TaskError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    #: What kind of task (`image_generation`); the `X-ModelScope-Task-Type` a client may send.
    kind: str
    user_id: int
    model: str
    status: TaskStatus
    #: The job's parameters as JSON (for images: `ImageJob.to_params()`).
    params: dict[str, Any]
    #: The id of the request that submitted it.
    request_id: str
    #: The quota day its call was counted on (to give the call back if the task fails on our side).
    quota_day: date
    attempts: int
    progress: float
    #: Keys of the output files (see `openmaas.store.files`).
    outputs: tuple[str, ...]
    error: TaskError | None
    #: Key of the input file (the image to edit), if any.
    input_key: str | None
    created_at: datetime
    updated_at: datetime
