"""`GET /v1/tasks`: the caller's own image tasks, newest first, page by page, with what each was asked to
make; and `/v1/models` describing what an image model accepts (for forms such as the console's)."""

from __future__ import annotations

from typing import Any

from tests.images.conftest import ImageHarness


async def submit(painter: ImageHarness, prompt: str, **extra: Any) -> str:
    body = {"model": "test/painter", "prompt": prompt, **extra}
    response = await painter.generate(body, asynchronous=True)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["task_id"]
    await painter.finished(task_id)
    return task_id


async def listing(painter: ImageHarness, query: str = "", token: str | None = None) -> Any:
    return await painter.client.get(f"/v1/tasks{query}", headers=painter.auth(token))


async def test_own_tasks_newest_first_page_by_page(painter: ImageHarness) -> None:
    ids = [await submit(painter, f"cat {i}", seed=i) for i in range(5)]
    first = (await listing(painter, "?limit=2")).json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [t["task_id"] for t in first["data"]] == [ids[4], ids[3]]
    assert (first["first_id"], first["last_id"]) == (ids[4], ids[3])
    second = (await listing(painter, f"?limit=2&after={first['last_id']}")).json()
    assert [t["task_id"] for t in second["data"]] == [ids[2], ids[1]]
    last = (await listing(painter, f"?limit=2&after={second['last_id']}")).json()
    assert [t["task_id"] for t in last["data"]] == [ids[0]] and last["has_more"] is False
    everything = (await listing(painter)).json()
    assert len(everything["data"]) == 5 and everything["has_more"] is False

    other = (await listing(painter, token=painter.other_token)).json()
    assert other["data"] == [] and other["first_id"] is None


async def test_each_task_says_what_it_made_and_where(painter: ImageHarness) -> None:
    await submit(
        painter,
        "a golden cat",
        seed=7,
        size="128x64",
        steps=3,
        guidance=5,
        negative_prompt="dogs",
        loras={"test/lora-a": 0.25, "test/lora-b": 0.75},
    )
    task = (await listing(painter)).json()["data"][0]
    assert task["task_status"] == "SUCCEED" and task["progress"] == 1.0 and task["model"] == "test/painter"
    assert task["input"] == {
        "prompt": "a golden cat",
        "negative_prompt": "dogs",
        "size": "128x64",
        "seed": 7,
        "steps": 3,
        "guidance": 5.0,
        "n": 1,
        "loras": {"test/lora-a": 0.25, "test/lora-b": 0.75},
        "edit": False,
    }
    assert len(task["output_images"]) == 1
    await painter.download(task["output_images"][0])


async def test_bad_listing_requests(painter: ImageHarness) -> None:
    mine = await submit(painter, "mine")
    for query, param in (
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?after=nope", "after"),
    ):
        response = await listing(painter, query)
        assert response.status_code == 400, query
        assert response.json()["error"]["param"] == param
    # Another user's task is no cursor for anyone else.
    assert (await listing(painter, f"?after={mine}", token=painter.other_token)).status_code == 400
    wrong_type = await painter.client.get(
        "/v1/tasks", headers={**painter.auth(), "X-ModelScope-Task-Type": "video_generation"}
    )
    assert wrong_type.status_code == 400
    assert (await painter.client.get("/v1/tasks")).status_code == 401


async def test_image_models_describe_their_form(painter: ImageHarness) -> None:
    models = {m["id"]: m for m in (await painter.client.get("/v1/models")).json()["data"]}
    assert models["test/painter"]["image"] == {
        "min_size": "64x64",
        "max_size": "1024x1024",
        "size_multiple": 8,
        "default_size": "64x64",
        "default_steps": 4,
        "default_guidance": 7.5,
        "edit": True,
        "loras": ["test/lora-a", "test/lora-b"],
    }
    assert models["test/plain-painter"]["image"]["edit"] is False
    assert models["test/plain-painter"]["image"]["loras"] == []
    assert "image" not in models["test/scripted"]
    one = (await painter.client.get("/v1/models/test/plain-painter")).json()
    assert one["image"]["size_multiple"] == 16
