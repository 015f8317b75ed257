"""Generation defaults: what a chat request gets for the settings it leaves open.

The registry entry's `default_max_tokens` and `sampling_defaults` win over the model's own
(`generation_config.json`, as its engine reports them), which win over the server-wide
`default_max_tokens`; a request's own values win over all. `GET /v1/models` shows the result.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.domain.chat import Sampling
from openmaas.domain.generation import GenerationDefaults, read_generation_config
from openmaas.settings import Settings
from tests.conftest import Harness
from tests.fakes import ScriptedChatEngine
from tests.servers import add_user_with_token, asgi_client

MODELS = """
include_builtin = false

[[models]]
id = "test/plain"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"

[[models]]
id = "test/own-defaults"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options.model_defaults]
max_tokens = 300
temperature = 0.6
top_k = 20
repetition_penalty = 1.05

[[models]]
id = "test/operator-says"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
default_max_tokens = 7
sampling_defaults = { temperature = 0.2, top_p = 0.9 }
[models.options.model_defaults]
max_tokens = 300
temperature = 0.6
top_k = 20
"""


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    settings = Settings(data_dir=tmp_path / "data", models_file=models, default_max_tokens=64)
    app = create_app(settings, catalog=load_catalog(models))
    async with asgi_client(app) as (client, services):
        await services.engines.wait_ready()
        yield Harness(client, services, await add_user_with_token(services, "alice"))


async def sampling_seen(harness: Harness, model: str, **body: object) -> Sampling:
    reply = await harness.chat({"model": model, "messages": [{"role": "user", "content": "hi"}], **body})
    assert reply.status_code == 200, reply.text
    engine = harness.services.engines.loaded(model)
    assert isinstance(engine, ScriptedChatEngine)
    return engine.received[-1].sampling


async def test_each_layer_fills_what_the_ones_above_leave_open(harness: Harness) -> None:
    plain = await sampling_seen(harness, "test/plain")
    assert (plain.max_tokens, plain.temperature, plain.top_p, plain.top_k) == (64, None, None, 0)
    own = await sampling_seen(harness, "test/own-defaults")
    assert (own.max_tokens, own.temperature, own.top_k, own.repetition_penalty) == (300, 0.6, 20, 1.05)
    operator = await sampling_seen(harness, "test/operator-says")
    assert (operator.max_tokens, operator.temperature, operator.top_p, operator.top_k) == (7, 0.2, 0.9, 20)


async def test_the_request_wins(harness: Harness) -> None:
    mine = await sampling_seen(
        harness, "test/operator-says", max_tokens=3, temperature=1.1, top_k=5, repetition_penalty=1.3
    )
    assert (mine.max_tokens, mine.temperature, mine.top_k, mine.repetition_penalty) == (3, 1.1, 5, 1.3)


async def test_models_list_shows_the_defaults(harness: Harness) -> None:
    await sampling_seen(harness, "test/own-defaults")
    listed = {m["id"]: m for m in (await harness.client.get("/v1/models")).json()["data"]}
    assert listed["test/plain"]["generation_defaults"] == {"max_tokens": 64}
    assert listed["test/own-defaults"]["generation_defaults"] == {
        "max_tokens": 300,
        "temperature": 0.6,
        "top_k": 20,
        "repetition_penalty": 1.05,
    }
    one = (await harness.client.get("/v1/models/test/operator-says")).json()
    assert one["generation_defaults"] == {"max_tokens": 7, "temperature": 0.2, "top_p": 0.9, "top_k": 20}


async def test_a_bad_repetition_penalty_is_a_400(harness: Harness) -> None:
    reply = await harness.chat(
        {"model": "test/plain", "messages": [{"role": "user", "content": "hi"}], "repetition_penalty": 0}
    )
    assert reply.status_code == 400 and "repetition_penalty" in reply.text


def test_generation_config_json_is_read_with_care(tmp_path: Path) -> None:
    assert read_generation_config(tmp_path) == GenerationDefaults()
    (tmp_path / "generation_config.json").write_text(
        json.dumps(
            {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05, "do_sample": True}
        )
    )
    assert read_generation_config(tmp_path) == GenerationDefaults(
        temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05
    )
    (tmp_path / "generation_config.json").write_text(
        json.dumps(
            {"temperature": 9, "top_p": 0, "top_k": 2.5, "max_new_tokens": 512, "eos_token_id": [1, 2]}
        )
    )
    assert read_generation_config(tmp_path) == GenerationDefaults(max_tokens=512)
    (tmp_path / "generation_config.json").write_text("{not json")
    assert read_generation_config(tmp_path) == GenerationDefaults()
