"""`/image PROMPT`: generate an image as an asynchronous task, show its progress, save the result.

The protocol of ModelScope's API-Inference (and OpenMaaS): `POST /v1/images/generations` with the header
`X-ModelScope-Async-Mode: true` answers a `task_id` at once; `GET /v1/tasks/{id}` (header
`X-ModelScope-Task-Type: image_generation`) reports `task_status` PENDING|RUNNING|SUCCEED|FAILED, a
`progress` from 0 to 1 where the server tracks it, and the `output_images` URLs once done. Those URLs are
fetched with a bare GET, without the token, as the reference client does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from openmaas.cli.chat.endpoint import ChatFailure, Endpoint, StatusError

ASYNC_HEADER = {"X-ModelScope-Async-Mode": "true"}
TASK_HEADER = {"X-ModelScope-Task-Type": "image_generation"}
IMAGE_TASKS = ("image",)
SIGNATURES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp"}

Progress = Callable[[float | None, str], None]


def default_image_model(endpoint: Endpoint) -> str:
    for model_id, task in endpoint.models():
        if task in IMAGE_TASKS:
            return model_id
    raise ChatFailure(f"{endpoint.base_url} lists no image model: choose one with --image-model")


def submit(endpoint: Endpoint, model: str, prompt: str) -> str:
    body = endpoint.request_json(
        "POST", "images/generations", json={"model": model, "prompt": prompt}, headers=ASYNC_HEADER
    )
    task_id = body.get("task_id") if isinstance(body, dict) else None
    if not isinstance(task_id, str) or not task_id:
        raise ChatFailure("the server did not answer with a task_id (does it support asynchronous images?)")
    return task_id


def wait(endpoint: Endpoint, task_id: str, on_progress: Progress, poll_seconds: float) -> str:
    """Poll the task until it ends; the URL of its first image."""
    while True:
        task = endpoint.request_json("GET", f"tasks/{task_id}", headers=TASK_HEADER)
        if not isinstance(task, dict):
            raise ChatFailure(f"task {task_id}: the server's answer is not an object")
        status = str(task.get("task_status", "UNKNOWN"))
        progress = task.get("progress")
        fraction = float(progress) if isinstance(progress, int | float) else None
        if status == "SUCCEED":
            on_progress(1.0, status)
            return _first_image(task, task_id)
        on_progress(fraction, status)
        if status == "FAILED":
            raise ChatFailure(f"image task {task_id} failed: {_failure_reason(task)}")
        time.sleep(poll_seconds)


def download(endpoint: Endpoint, url: str, prompt: str, task_id: str, folder: Path) -> Path:
    """Fetch the image with a bare GET (no token) and save it; its path."""
    absolute = urljoin(endpoint.base_url + "/", url)
    response = httpx.get(absolute, timeout=60, follow_redirects=True)
    if response.status_code >= 400:
        raise StatusError(response.status_code, f"downloading the image: {response.reason_phrase}", {})
    data = response.content
    suffix = next((ext for sig, ext in SIGNATURES.items() if data.startswith(sig)), None)
    if suffix is None:
        raise ChatFailure(f"the image at {absolute} is not a PNG, JPEG or WebP file")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{_slug(prompt)}-{task_id[:8]}{suffix}"
    path.write_bytes(data)
    return path.resolve()


def generate(
    endpoint: Endpoint,
    model: str,
    prompt: str,
    folder: Path,
    on_progress: Progress,
    poll_seconds: float = 0.5,
) -> Path:
    task_id = submit(endpoint, model, prompt)
    on_progress(0.0, f"PENDING (task {task_id})")
    url = wait(endpoint, task_id, on_progress, poll_seconds)
    return download(endpoint, url, prompt, task_id, folder)


def _first_image(task: dict[str, Any], task_id: str) -> str:
    images = task.get("output_images")
    if not isinstance(images, list) or not images or not isinstance(images[0], str):
        raise ChatFailure(f"image task {task_id} succeeded without output_images")
    return images[0]


def _failure_reason(task: dict[str, Any]) -> str:
    errors = task.get("errors")
    if isinstance(errors, dict) and errors.get("message"):
        return str(errors["message"])
    return "no reason given"


def _slug(prompt: str) -> str:
    words = re.findall(r"\w+", prompt.lower())
    return "-".join(words)[:40].strip("-") or "image"
