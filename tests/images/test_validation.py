"""SPEC 2.5's validation table: each rule is a 400 in OpenAI's error shape that names the field, and a
refused request is not counted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.images.conftest import ImageHarness
from tests.servers import add_user_with_token

MODEL = "test/painter"
OK: dict[str, Any] = {"model": MODEL, "prompt": "a golden cat"}

INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"prompt": ""}, "prompt", "empty"),
    ({"prompt": "   "}, "prompt", "empty"),
    ({"prompt": "x" * 2000}, "prompt", "2000"),
    ({"prompt": None}, "prompt", ""),
    ({"negative_prompt": "x" * 2000}, "negative_prompt", "2000"),
    ({"size": "1024"}, "size", "1024x1024"),
    ({"size": "axb"}, "size", "width x height"),
    ({"size": "32x32"}, "size", "outside the range"),
    ({"size": "2048x2048"}, "size", "64x64 to 1024x1024"),
    ({"size": "64x4096"}, "size", "outside"),
    ({"size": "100x100"}, "size", "multiples of 8"),
    ({"seed": -1}, "seed", "2147483647"),
    ({"seed": 2**31}, "seed", "2147483647"),
    ({"seed": "twelve"}, "seed", "integer"),
    ({"steps": 0}, "steps", "between 1 and 100"),
    ({"steps": 101}, "steps", "between 1 and 100"),
    ({"guidance": 1.4}, "guidance", "between 1.5 and 20"),
    ({"guidance": 20.5}, "guidance", "between 1.5 and 20"),
    ({"n": 0}, "n", "between 1 and 4"),
    ({"n": 5}, "n", "between 1 and 4"),
    ({"loras": {f"test/lora-{i}": 1 / 7 for i in range(7)}}, "loras", "at most 6"),
    ({"loras": {"test/lora-a": 0.6, "test/lora-b": 0.6}}, "loras", "sum to 1.0"),
    ({"loras": {"test/lora-a": 0.5}}, "loras", "sum to 1.0"),
    ({"loras": {"test/lora-a": 1.5, "test/lora-b": -0.5}}, "loras", "above 0"),
    ({"loras": "test/unknown"}, "loras", "unknown LoRA 'test/unknown'"),
    ({"loras": {"test/lora-a": 0.5, "test/nope": 0.5}}, "loras", "unknown LoRA 'test/nope'"),
    ({"loras": ["test/lora-a"]}, "loras", ""),
    ({"response_format": "jpeg"}, "response_format", ""),
    ({"image_url": "ftp://example.com/a.png"}, "image_url", "only http(s)"),
]


@pytest.mark.parametrize(("change", "field", "says"), INVALID)
async def test_each_rule_is_a_400_naming_the_field(
    painter: ImageHarness, change: dict[str, Any], field: str, says: str
) -> None:
    response = await painter.generate({**OK, **change}, asynchronous=True)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]
    assert "modelscope-ratelimit-requests-remaining" not in response.headers


async def test_missing_fields_are_named(painter: ImageHarness) -> None:
    for missing in ("model", "prompt"):
        body = {k: v for k, v in OK.items() if k != missing}
        response = await painter.generate(body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == missing


async def test_image_url_on_a_model_that_cannot_edit(painter: ImageHarness) -> None:
    body = {"model": "test/plain-painter", "prompt": "x", "image_url": "https://example.com/cat.png"}
    response = await painter.generate(body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image_url"
    assert "cannot edit" in response.json()["error"]["message"]


async def test_loras_on_a_model_without_loras(painter: ImageHarness) -> None:
    response = await painter.generate({"model": "test/plain-painter", "prompt": "x", "loras": "test/lora-a"})
    assert response.status_code == 400
    assert "available: none" in response.json()["error"]["message"]


async def test_each_model_declares_its_own_size_range_and_multiple(painter: ImageHarness) -> None:
    plain = {"model": "test/plain-painter", "prompt": "x"}
    assert (await painter.generate({**plain, "size": "64x64"})).json()["error"]["param"] == "size"
    off_grid = await painter.generate({**plain, "size": "136x136"})
    assert "multiples of 16" in off_grid.json()["error"]["message"]
    assert (await painter.generate({**plain, "size": "144x512"})).status_code == 200


async def test_bounds_are_inclusive(painter: ImageHarness) -> None:
    edges: list[dict[str, Any]] = [
        {"prompt": "x" * 1999, "negative_prompt": "y" * 1999},
        {"seed": 0, "steps": 1, "guidance": 1.5, "n": 1, "size": "64x64"},
        {"seed": 2**31 - 1, "steps": 100, "guidance": 20, "n": 4, "size": "64x1024"},
        {"loras": {f"test/lora-{x}": w for x, w in (("a", 0.6), ("b", 0.4))}},
        {"loras": "test/lora-a"},
    ]
    for change in edges:
        response = await painter.generate({**OK, **change}, asynchronous=True)
        assert response.status_code == 200, (change, response.text)


async def test_not_an_image_model_unknown_model_and_token_scope(painter: ImageHarness) -> None:
    chat = await painter.generate({"model": "test/scripted", "prompt": "x"})
    assert chat.status_code == 400
    assert chat.json()["error"]["param"] == "model"
    unknown = await painter.generate({"model": "nobody/nothing", "prompt": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    token = await add_user_with_token(painter.services, "carol", models=("test/scripted",))
    denied = await painter.generate(OK, token=token)
    assert denied.status_code == 403


async def test_headers_are_checked(painter: ImageHarness) -> None:
    bad_mode = await painter.client.post(
        "/v1/images/generations", json=OK, headers={**painter.auth(), "X-ModelScope-Async-Mode": "maybe"}
    )
    assert bad_mode.status_code == 400
    assert bad_mode.json()["error"]["param"] == "X-ModelScope-Async-Mode"
    task_id = (await painter.generate(OK, asynchronous=True)).json()["task_id"]
    wrong_type = await painter.client.get(
        f"/v1/tasks/{task_id}", headers={**painter.auth(), "X-ModelScope-Task-Type": "video_generation"}
    )
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["param"] == "X-ModelScope-Task-Type"


async def test_no_token_is_a_401(painter: ImageHarness) -> None:
    response = await painter.client.post("/v1/images/generations", json=OK)
    assert response.status_code == 401
    assert (await painter.client.get("/v1/tasks/anything")).status_code == 401


async def test_invalid_requests_are_not_counted(painter: ImageHarness) -> None:
    for change, _, _ in INVALID[:5]:
        await painter.generate({**OK, **change})
    usage = (await painter.client.get("/v1/usage", headers=painter.auth())).json()
    assert usage["used"] == 0


async def test_lora_weights_must_be_numbers(painter: ImageHarness) -> None:
    response = await painter.generate({**OK, "loras": {"test/lora-a": "all"}})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "loras"
