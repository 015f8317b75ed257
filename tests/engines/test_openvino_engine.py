"""The OpenVINO engine on tiny random-weight models built locally, prepared through the real path.

A Hugging Face folder (llama and qwen2 families) is converted to GGUF, a GGUF file is requantized, and
OpenVINO runs either: greedy answers must be the ones transformers generates from the same weights, which
checks the conversion tensor by tensor. Then what the engine promises itself: stop strings, length,
usage, seeds, cancellation, the queue limit, constrained answers, the thinking budget, and refusals
that name the alternative engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest

from openmaas.domain.chat import (
    ChatRequest,
    Finish,
    Reasoning,
    ResponseFormat,
    TextDelta,
    Usage,
)
from openmaas.domain.errors import EngineFailure, InvalidRequest, Overloaded
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.openvino import OpenVINOChatEngine
from openmaas.engines.openvino.prepare import MANIFEST
from openmaas.grammars import grammar_for
from openmaas.weights import WeightsResolver
from tests.engines.helpers import ask, collect, text_of
from tests.tiny_models import build_tiny_chat_model, build_tiny_gguf

pytest.importorskip("openvino_genai")

TINY = "test/tiny-ov"
EngineMaker = Callable[..., OpenVINOChatEngine]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ov-models")
    llama = build_tiny_chat_model(root / "llama")
    return {
        "llama": llama,
        "qwen2": build_tiny_chat_model(root / "qwen2", architecture="qwen2"),
        "gguf": build_tiny_gguf(llama, root / "tiny.gguf"),
    }


@pytest.fixture(scope="module")
def make_engine(tmp_path_factory: pytest.TempPathFactory) -> EngineMaker:
    data = tmp_path_factory.mktemp("ov-data")

    def make(
        weights: Path, *, reasoning: Literal["think", "think-open"] | None = None, **options: Any
    ) -> OpenVINOChatEngine:
        spec = ModelSpec(
            id=TINY,
            task="chat",
            engine="openvino",
            weights=str(weights),
            tool_parser="hermes",
            reasoning_parser=reasoning,
            options={"precision": "fp16", **options},
        )
        cache = data / "cache" / weights.name
        return OpenVINOChatEngine(spec, EngineContext(cache, WeightsResolver(data).resolve))

    return make


@pytest.fixture(scope="module")
async def engine(make_engine: EngineMaker, folders: dict[str, Path]) -> AsyncIterator[OpenVINOChatEngine]:
    started = make_engine(folders["llama"], max_batch_size=4, max_queue=2)
    await started.start()
    yield started
    await started.close()


def transformers_greedy(folder: Path, request: ChatRequest, tokens: int) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openmaas.engines.chat_template import PromptRenderer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    prompt = PromptRenderer(tokenizer).render(request)
    out = model.generate(torch.tensor([prompt]), max_new_tokens=tokens, do_sample=False)
    return [int(t) for t in out[0, len(prompt) :]]


@pytest.mark.parametrize("source", ["llama", "qwen2", "gguf"])
async def test_greedy_answers_are_the_ones_transformers_gives(
    source: str, folders: dict[str, Path], make_engine: EngineMaker
) -> None:
    request = ask("Hello! What is the capital of France?", max_tokens=12)
    reference_folder = folders["llama" if source == "gguf" else source]
    expected = transformers_greedy(reference_folder, request, 12)
    engine = make_engine(folders[source])
    await engine.start()
    try:
        loaded = engine._loaded
        assert loaded is not None
        events = await collect(engine.stream(request))
        assert text_of(events) == loaded.tokenizer.decode(expected, skip_special_tokens=True)
        assert events[-1] == Usage(
            prompt_tokens=len(engine._ready()[1].render(request)), completion_tokens=12
        )
    finally:
        await engine.close()


async def test_a_prepared_model_is_reused_and_a_half_prepared_one_ignored(
    make_engine: EngineMaker, folders: dict[str, Path], engine: OpenVINOChatEngine
) -> None:
    assert engine._loaded is not None
    prepared = engine._loaded.folder
    assert (prepared / MANIFEST).is_file()
    stamp = (prepared / MANIFEST).stat().st_mtime_ns
    (prepared.parent / f".{prepared.name}.crashed").mkdir()  # a staging folder a crash left behind
    again = make_engine(folders["llama"])
    await again.start()
    try:
        assert again._loaded is not None and again._loaded.folder == prepared
        assert (prepared / MANIFEST).stat().st_mtime_ns == stamp
    finally:
        await again.close()


async def test_length_stop_strings_and_usage(engine: OpenVINOChatEngine) -> None:
    full = await collect(engine.stream(ask("Tell me about cats.", max_tokens=24)))
    assert full[-2] == Finish("length") and full[-1].completion_tokens == 24  # type: ignore[union-attr]
    text = text_of(full)
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    cut = await collect(engine.stream(ask("Tell me about cats.", max_tokens=24, stop=(stop,))))
    assert cut[-2] == Finish("stop", stop_sequence=stop)
    assert text.startswith(text_of(cut)) and stop not in text_of(cut)


async def test_seeds_replay_and_differ(engine: OpenVINOChatEngine) -> None:
    async def sample(seed: int | None) -> str:
        return text_of(await collect(engine.stream(ask("Cats?", temperature=1.0, max_tokens=16, seed=seed))))

    assert await sample(7) == await sample(7)
    assert await sample(7) != await sample(8)
    assert await sample(None) != await sample(None)  # OpenVINO's own default seed is a constant


async def test_streamed_equals_whole_and_batched_equals_alone(engine: OpenVINOChatEngine) -> None:
    request = ask("Tell me about dogs.", max_tokens=16)
    alone = text_of(await collect(engine.stream(request)))
    whole = await collect(engine.stream(replace(request, stream=False)))
    assert [e for e in whole if isinstance(e, TextDelta)] == [TextDelta(alone)]
    together = await asyncio.gather(*(collect(engine.stream(request)) for _ in range(4)))
    assert [text_of(events) for events in together] == [alone] * 4


async def test_closing_the_stream_cancels_the_request(engine: OpenVINOChatEngine) -> None:
    events = engine.stream(ask("Tell me everything.", max_tokens=400))
    async for _ in events:
        break
    await events.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if engine.stats().running == 0:
            break
        await asyncio.sleep(0.02)
    assert engine.stats().running == 0
    assert text_of(await collect(engine.stream(ask("Hi", max_tokens=3))))


async def test_too_many_requests_are_refused_at_once(engine: OpenVINOChatEngine) -> None:
    # 4 running and 2 waiting fit (max_batch_size 4, max_queue 2); the seventh is refused.
    streams = [engine.stream(ask("Go on.", max_tokens=300)) for _ in range(7)]
    outcomes = await asyncio.gather(*(anext(s) for s in streams), return_exceptions=True)
    assert [type(o) for o in outcomes].count(Overloaded) == 1, outcomes
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]


async def test_json_schema_answers_follow_the_schema(engine: OpenVINOChatEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"enum": ["Paris", "Rome"]}, "days": {"type": "integer", "maximum": 9}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    request = replace(
        ask("Weather?", max_tokens=60), response_format=ResponseFormat(kind="json_schema", schema=schema)
    )
    request = replace(request, grammar=grammar_for(engine.spec, request))
    events = await collect(engine.stream(request))
    answer = json.loads(text_of(events))
    assert answer["city"] in ("Paris", "Rome") and isinstance(answer["days"], int)


async def test_a_schema_the_backend_refuses_is_a_400_naming_the_field(engine: OpenVINOChatEngine) -> None:
    schema = {"type": "string", "pattern": "\\p{L}+"}  # llguidance takes it, xgrammar does not
    request = replace(ask("n?"), response_format=ResponseFormat(kind="json_schema", schema=schema))
    request = replace(request, grammar=grammar_for(engine.spec, request))
    with pytest.raises(InvalidRequest) as refused:
        engine.stream(request)
    assert refused.value.param == "response_format"
    assert text_of(await collect(engine.stream(ask("Hi", max_tokens=3))))  # the pipeline is unharmed


async def test_the_thinking_budget_closes_the_thinking(
    make_engine: EngineMaker, folders: dict[str, Path]
) -> None:
    engine = make_engine(folders["llama"], reasoning="think-open")
    await engine.start()
    try:
        request = replace(ask("Think.", max_tokens=40), reasoning=Reasoning(budget_tokens=6))
        events = await collect(engine.stream(request))
        text = text_of(events)
        assert "\n</think>\n\n" in text
        assert events[-1].completion_tokens == 40  # type: ignore[union-attr]
    finally:
        await engine.close()


async def test_images_and_vision_models_are_refused(
    make_engine: EngineMaker, folders: dict[str, Path]
) -> None:
    with pytest.raises(ValueError, match="transformers"):
        spec = make_engine(folders["llama"]).spec.model_copy(update={"task": "vision"})
        OpenVINOChatEngine(spec, make_engine(folders["llama"]).context)


async def test_an_unsupported_family_fails_at_start_naming_the_alternative(
    make_engine: EngineMaker, folders: dict[str, Path], tmp_path: Path
) -> None:
    odd = tmp_path / "odd"
    odd.mkdir()
    for item in folders["llama"].iterdir():
        (odd / item.name).write_bytes(item.read_bytes())
    config = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**config, "model_type": "gpt_neox"}))
    with pytest.raises(EngineFailure, match='engine = "transformers"'):
        await make_engine(odd).start()
