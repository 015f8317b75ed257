"""Fixtures of the engine tests: the tiny chat model (built once) and engines loaded through the real path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.transformers import TransformersChatEngine
from openmaas.weights import WeightsResolver
from tests.engines.helpers import TINY_CONTEXT, TINY_ID
from tests.tiny_models import build_tiny_chat_model


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-model"))


EngineMaker = Callable[..., TransformersChatEngine]


@pytest.fixture(scope="session")
def make_tiny_engine(tiny_chat_model: Path, tmp_path_factory: pytest.TempPathFactory) -> EngineMaker:
    """Build (not start) an engine on the tiny model; keyword arguments become its options."""
    data_dir = tmp_path_factory.mktemp("engine-data")

    def make(context_length: int = TINY_CONTEXT, **options: Any) -> TransformersChatEngine:
        spec = ModelSpec(
            id=TINY_ID,
            task="chat",
            engine="transformers",
            weights=str(tiny_chat_model),
            context_length=context_length,
            options={"dtype": "float32", **options},
        )
        context = EngineContext(
            cache_dir=data_dir / "cache", resolve_weights=WeightsResolver(data_dir).resolve
        )
        return TransformersChatEngine(spec, context)

    return make


@pytest.fixture(scope="session")
async def tiny_engine(make_tiny_engine: EngineMaker) -> AsyncIterator[TransformersChatEngine]:
    """The shared engine: 4 rows. Tests must leave it idle."""
    engine = make_tiny_engine(max_batch_size=4)
    await engine.start()
    yield engine
    await engine.close()
