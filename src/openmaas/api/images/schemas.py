"""The wire shapes of the image-task API (ModelScope's AIGC API, and OpenAI's `images.generate`).

Request bodies are lenient (unknown fields, such as the OpenAI SDK's `quality` or `style`, are accepted
and ignored); `to_internal` turns one into an `ImageRequest`, checking the rules of SPEC 2.5 that hold
for every model.
"""

from __future__ import annotations

from typing import Any, Literal

from openmaas.api.wire import Lenient
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.images import ImageRequest, check_request, loras_from_wire, parse_size
from openmaas.domain.tasks import IMAGE_GENERATION, TaskRecord, TaskStatus


class ImageGenerationBody(Lenient):
    model: str
    prompt: str
    negative_prompt: str | None = None
    size: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    image_url: str | None = None
    loras: Any = None  # a LoRA id or {id: weight}; checked by `loras_from_wire` with a clear message
    n: int | None = None
    response_format: Literal["url", "b64_json"] | None = None

    def to_internal(self) -> ImageRequest:
        request = ImageRequest(
            model=self.model,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            size=parse_size(self.size) if self.size is not None else None,
            seed=self.seed,
            steps=self.steps,
            guidance=self.guidance,
            image_url=self.image_url,
            loras=loras_from_wire(self.loras),
            n=self.n if self.n is not None else 1,
        )
        check_request(request)
        return request


def flag(value: str | None, header: str) -> bool:
    """A true/false header (absent: false)."""
    if value is None or value.strip().lower() in ("false", "0", ""):
        return False
    if value.strip().lower() in ("true", "1"):
        return True
    raise InvalidRequest(f"{header} must be true or false, not {value!r}.", param=header)


def check_task_type(value: str | None) -> None:
    if value is not None and value.strip() != IMAGE_GENERATION:
        raise InvalidRequest(
            f"X-ModelScope-Task-Type {value!r} is not a task type served here (use {IMAGE_GENERATION}).",
            param="X-ModelScope-Task-Type",
        )


def _timestamp(task: TaskRecord, which: Literal["created_at", "updated_at"]) -> str:
    return getattr(task, which).isoformat(timespec="seconds").replace("+00:00", "Z")


def task_body(task: TaskRecord, urls: list[str], request_id: str) -> dict[str, Any]:
    """`GET /v1/tasks/{id}`: SPEC 2.5, plus `progress` (0-1), `model` and `task_type`."""
    body: dict[str, Any] = {
        "task_id": task.id,
        "task_status": task.status.value,
        "task_type": task.kind,
        "model": task.model,
        "output_images": urls,
        "progress": round(task.progress, 4),
        "request_id": request_id,
        "created_at": _timestamp(task, "created_at"),
        "updated_at": _timestamp(task, "updated_at"),
    }
    if task.status is TaskStatus.FAILED and task.error is not None:
        body["errors"] = {"code": task.error.code, "message": task.error.message}
    return body


def task_input(task: TaskRecord) -> dict[str, Any]:
    """What the task was asked to make (in task listings, so a client can show or repeat it)."""
    params = task.params
    return {
        "prompt": params.get("prompt"),
        "negative_prompt": params.get("negative_prompt"),
        "size": f"{params.get('width')}x{params.get('height')}",
        "seed": params.get("seed"),
        "steps": params.get("steps"),
        "guidance": params.get("guidance"),
        "n": params.get("n"),
        "loras": {str(lora): float(weight) for lora, weight in params.get("loras", ())},
        "edit": task.input_key is not None,
    }
