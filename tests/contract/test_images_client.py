"""Image tasks against a real `openmaas serve` process: ModelScope's reference client (the AIGC sample
of the seed document, unchanged but for base_url and token), the OpenAI SDK's `images.generate`, and
durability across `kill -9`."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

from openmaas.cli.chat import images
from openmaas.cli.chat.endpoint import Endpoint
from tests.servers import ServerProcess, cli, server_process

HERE = Path(__file__).parent
DEMO = "openmaas/tiny-sd-demo"

# The demo model (random weights, built locally) also under the id the reference client asks for.
MODELS = """
include_builtin = false
""" + "".join(
    f"""
[[models]]
id = "{model_id}"
task = "image"
engine = "diffusers"
capabilities = ["edit", "size:64x64-1024x1024"]
[models.options]
build_demo = true
torch_threads = 1
default_size = "128x128"
default_steps = 4
"""
    for model_id in ("Qwen/Qwen-Image", DEMO)
)


def token_for(server: ServerProcess, name: str) -> str:
    cli(server.data_dir, "users", "add", name)
    return cli(server.data_dir, "tokens", "create", name).stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("images")
    models = root / "models.toml"
    models.write_text(MODELS)
    with server_process(root / "data", models) as running:
        yield running


def reference_client(server: ServerProcess, token: str) -> str:
    seed = (HERE / "seed_aigc_client.txt").read_text()
    return seed.replace("https://api-inference.modelscope.cn/", f"{server.base_url}/").replace(
        "<MODELSCOPE_SDK_TOKEN>", token
    )


def with_the_note_as_comments(code: str) -> str:
    """The sample with its LoRA note (a bare string literal) turned into comments, as its authors meant."""
    start = code.index('        """\n        LoRA(s)')
    end = code.index('        """\n', start + 10) + len('        """\n')
    return (
        code[:start]
        + "".join(f"        # {line.strip()}\n" for line in code[start:end].splitlines())
        + code[end:]
    )


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


# How a user sees why `raise_for_status()` failed: the body of the error response, printed (the script
# itself runs unchanged after this).
SHOW_ERROR_BODIES = """
import sys, requests
def _show_body(kind, error, trace):
    if isinstance(error, requests.HTTPError):
        print(error.response.text, file=sys.stderr)
    sys.__excepthook__(kind, error, trace)
sys.excepthook = _show_body
"""


def test_the_reference_client(server: ServerProcess, tmp_path: Path) -> None:
    code = reference_client(server, token_for(server, "modelscope-user"))
    # As printed, the sample's LoRA note is a string literal that Python joins with the next key,
    # so its body has no "prompt" field: the 400 says so, and what to do.
    verbatim = run_python(SHOW_ERROR_BODIES + code, tmp_path)
    assert verbatim.returncode != 0
    assert "400 Client Error" in verbatim.stderr
    error = json.loads(verbatim.stderr.splitlines()[0])["error"]
    assert (error["param"], error["code"]) == ("prompt", "joined_string_literal")
    assert error["message"].startswith('"prompt" is missing, but the body has a key that ends with it: "')
    assert "LoRA(s) Configuration:" in error["message"]
    assert error["message"].endswith("Turn the note into # comments.")
    # With the note turned into comments, the sample runs as its authors meant: async task, polling
    # with the task-type header until SUCCEED, then a bare GET of the image.
    result = run_python(with_the_note_as_comments(code), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Failed" not in result.stdout
    with Image.open(tmp_path / "result_image.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (128, 128))


def test_the_reference_client_with_the_openai_base_url(server: ServerProcess, tmp_path: Path) -> None:
    """The sample appends `v1/...` to its base URL itself: given the OpenAI SDK's (with /v1), it says so."""
    code = with_the_note_as_comments(reference_client(server, token_for(server, "v1-twice")))
    with_v1 = code.replace(f"{server.base_url}/", f"{server.base_url}/v1/")
    doubled = run_python(SHOW_ERROR_BODIES + with_v1, tmp_path)
    assert "404 Client Error" in doubled.stderr
    error = json.loads(doubled.stderr.splitlines()[0])["error"]
    assert error["code"] == "base_url_doubled_v1" and "Drop /v1 from the base URL" in error["message"]


def test_an_image_model_called_through_chat(server: ServerProcess) -> None:
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key=token_for(server, "chat-first"), max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="Qwen/Qwen-Image", messages=[{"role": "user", "content": "cat"}])
    expected = "is an image model, not a chat model: call it with POST /v1/images/generations"
    assert expected in str(caught.value)


def test_openai_sdk_images_generate(server: ServerProcess) -> None:
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key=token_for(server, "sdk-user"), max_retries=0)
    options: dict[str, Any] = {"model": DEMO, "prompt": "a lighthouse", "size": "64x64"}
    seeded = {"seed": 7, "steps": 2}
    as_b64 = client.images.generate(**options, response_format="b64_json", extra_body=seeded)
    assert as_b64.data is not None and as_b64.data[0].b64_json is not None
    png = base64.b64decode(as_b64.data[0].b64_json)
    assert Image.open(io.BytesIO(png)).size == (64, 64)
    as_url = client.images.generate(**options, n=2, extra_body=seeded)
    assert as_url.data is not None and len(as_url.data) == 2
    assert as_url.data[0].url is not None
    assert httpx.get(as_url.data[0].url).content == png  # bare GET; same seed, same bytes
    with pytest.raises(Exception, match="prompt must not be empty"):
        client.images.generate(model=DEMO, prompt="")


# ---- durability -------------------------------------------------------------------------------------


def poll(server: ServerProcess, token: str, task_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.base_url}/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


def wait_for(
    server: ServerProcess, token: str, task_id: str, check: Any, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = poll(server, token, task_id)
        if check(task):
            return task
        time.sleep(0.05)
    raise TimeoutError(f"task {task_id}: {task}")


def submit(server: ServerProcess, token: str, body: dict[str, Any], *, asynchronous: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if asynchronous:
        headers["X-ModelScope-Async-Mode"] = "true"
    response = httpx.post(
        f"{server.base_url}/v1/images/generations", json={"model": DEMO, **body}, headers=headers, timeout=120
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def running(task: dict[str, Any]) -> bool:
    return bool(task["task_status"] == "RUNNING" and task["progress"] > 0)


def finished(task: dict[str, Any]) -> bool:
    return bool(task["task_status"] in ("SUCCEED", "FAILED"))


def test_tasks_survive_kill_9(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    data = tmp_path / "data"
    long_task = {"prompt": "a long one", "size": "512x512", "steps": 100, "seed": 2}

    with server_process(data, models) as first:
        token = token_for(first, "durable")
        done = submit(first, token, {"prompt": "quick", "seed": 1, "steps": 2}, asynchronous=False)
        interrupted = submit(first, token, long_task, asynchronous=True)["task_id"]
        queued = submit(first, token, {"prompt": "queued", "seed": 3, "steps": 2}, asynchronous=True)[
            "task_id"
        ]
        wait_for(first, token, interrupted, running)
        first.kill()

    with server_process(data, models) as second:
        # The URL the first process signed (on the new port): the signing key lives in the data dir.
        old = httpx.URL(done["data"][0]["url"])
        old_url = f"{second.base_url}{old.raw_path.decode()}"
        finished_task = poll(second, token, done["task_id"])
        assert finished_task["task_status"] == "SUCCEED"
        assert httpx.get(old_url).content == httpx.get(finished_task["output_images"][0]).content
        assert poll(second, token, queued)["task_status"] == "PENDING"
        wait_for(second, token, interrupted, running)  # runs again: a second attempt
        second.kill()

    with server_process(data, models) as third:
        failed = wait_for(third, token, interrupted, finished)
        assert failed["task_status"] == "FAILED"
        assert failed["errors"]["code"] == "interrupted"
        assert "2 times" in failed["errors"]["message"]
        assert wait_for(third, token, queued, finished)["task_status"] == "SUCCEED"
        usage = httpx.get(f"{third.base_url}/v1/usage", headers={"Authorization": f"Bearer {token}"}).json()
        assert usage["used"] == 2  # the task that failed on our side gave its call back


def test_the_terminal_chat_image_command(server: ServerProcess, tmp_path: Path) -> None:
    """`openmaas chat`'s `/image` helper: async task, progress from the server, bare-GET download."""
    endpoint = Endpoint(f"{server.base_url}/v1", token_for(server, "chat-user"))
    seen: list[tuple[float | None, str]] = []
    try:
        path = images.generate(
            endpoint, DEMO, "a lighthouse", tmp_path, lambda f, s: seen.append((f, s)), poll_seconds=0.05
        )
    finally:
        endpoint.close()
    assert path.suffix == ".png"
    assert Image.open(path).size == (128, 128)
    assert seen[-1] == (1.0, "SUCCEED")
