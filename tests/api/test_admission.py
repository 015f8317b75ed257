"""Admission answers alike whatever the modality: a model on an engine of another kind is the same 400
at the chat and the image endpoints (not a 500 at one of them)."""

from __future__ import annotations

from pathlib import Path

from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from tests.conftest import Harness
from tests.fakes import ScriptedChatEngine


async def test_an_image_model_on_a_chat_engine_is_a_400(harness: Harness, tmp_path: Path) -> None:
    spec = ModelSpec(id="test/mislabelled", task="image", engine="tests.fakes:ScriptedChatEngine")
    engine = ScriptedChatEngine(spec, EngineContext(cache_dir=tmp_path, resolve_weights=lambda s: tmp_path))
    await engine.start()
    harness.services.engines.attach(spec, engine)
    picture = {"model": spec.id, "prompt": "a cat"}
    response = await harness.client.post("/v1/images/generations", json=picture, headers=harness.auth)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "model"
    assert "runs on an engine that is not for an image model" in error["message"]
    assert (await harness.client.get("/v1/usage", headers=harness.auth)).json()["used"] == 0
