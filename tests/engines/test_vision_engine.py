"""The transformers engine on an image-text-to-text model: the tiny random-weight Qwen2-VL (M-RoPE),
loaded through the real path (`task = "vision"`: AutoProcessor + AutoModelForImageTextToText)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from openmaas.domain.chat import ChatRequest, ContentPart, ImagePart, Message, Sampling, TextPart, Usage
from openmaas.domain.errors import EngineFailure, InvalidRequest
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.transformers import TransformersChatEngine
from openmaas.engines.transformers.vision import VisionRenderer, decode_image, load_processor
from openmaas.weights import WeightsResolver
from tests.engines.helpers import collect, text_of
from tests.engines.test_continuous_batching import Recorder
from tests.pictures import noise, solid
from tests.tiny_vision_models import build_tiny_llava

VISION_ID = "test/tiny-vl"
RED = solid((255, 0, 0))


async def started_engine(weights: Path, data_dir: Path, **options: Any) -> TransformersChatEngine:
    spec = ModelSpec(
        id=VISION_ID,
        task="vision",
        engine="transformers",
        weights=str(weights),
        options={"dtype": "float32", "max_batch_size": 4, **options},
    )
    engine = TransformersChatEngine(
        spec, EngineContext(data_dir / "cache", WeightsResolver(data_dir).resolve)
    )
    await engine.start()
    return engine


@pytest.fixture(scope="module")
async def vision_engine(
    tiny_vision_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TransformersChatEngine]:
    """The tiny Qwen2-VL (M-RoPE)."""
    engine = await started_engine(tiny_vision_model, tmp_path_factory.mktemp("vision-engine"))
    yield engine
    await engine.close()


@pytest.fixture(scope="module")
async def llava_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TransformersChatEngine]:
    """The tiny LLaVA (1-D positions)."""
    root = tmp_path_factory.mktemp("llava-engine")
    engine = await started_engine(build_tiny_llava(root / "model"), root)
    yield engine
    await engine.close()


@pytest.fixture(params=["qwen2_vl", "llava"])
def any_engine(request: pytest.FixtureRequest) -> TransformersChatEngine:
    engine: TransformersChatEngine = request.getfixturevalue(
        "vision_engine" if request.param == "qwen2_vl" else "llava_engine"
    )
    return engine


def look(*images: bytes, text: str = "What is in the picture?", max_tokens: int = 10) -> ChatRequest:
    parts: tuple[ContentPart, ...] = (
        *(ImagePart(url="data:image/png;base64,", data=data) for data in images),
        TextPart(text),
    )
    return ChatRequest(
        model=VISION_ID,
        messages=(Message("user", parts),),
        sampling=Sampling(temperature=0.0, max_tokens=max_tokens),
    )


def say(text: str, max_tokens: int = 10) -> ChatRequest:
    return ChatRequest(
        VISION_ID, (Message("user", (TextPart(text),)),), Sampling(temperature=0.0, max_tokens=max_tokens)
    )


async def answer(engine: TransformersChatEngine, request: ChatRequest) -> str:
    return text_of(await collect(engine.stream(request)))


async def test_the_picture_decides_the_answer(any_engine: TransformersChatEngine) -> None:
    pictures = [RED, solid((0, 0, 255)), noise(1), noise(2)]
    answers = [await answer(any_engine, look(picture)) for picture in pictures]
    assert len(set(answers)) == len(pictures)
    assert await answer(any_engine, look(RED)) == answers[0]
    assert await answer(any_engine, look(RED, noise(1))) not in answers


async def test_the_answer_is_the_one_transformers_generates(any_engine: TransformersChatEngine) -> None:
    """Pixels, positions (M-RoPE for Qwen2-VL) and the batch cache together give exactly the tokens of
    `generate()`, also while text rows decode in the same batch."""
    request = look(noise(3), max_tokens=16)
    prompt = any_engine._vision.prepare(request)  # type: ignore[union-attr]
    if any_engine._vision.uses_mrope:  # type: ignore[union-attr]
        assert prompt.positions is not None and prompt.next_position < len(prompt.ids)
    else:
        assert prompt.positions is None and prompt.next_position == len(prompt.ids)

    neighbour = asyncio.create_task(collect(any_engine.stream(say("Tell me about cats", max_tokens=200))))
    events = await collect(any_engine.stream(request))
    await neighbour

    model = any_engine._loaded.model  # type: ignore[union-attr]
    ids = torch.tensor([prompt.ids])
    with torch.inference_mode():
        expected = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=16,
            **prompt.inputs,
        )[0, len(prompt.ids) :]
    tokenizer = any_engine._loaded.tokenizer  # type: ignore[union-attr]
    assert text_of(events) == tokenizer.decode(expected)
    assert events[-1] == Usage(prompt_tokens=len(prompt.ids), completion_tokens=16)


async def test_a_picture_joins_text_rows_decoding_in_the_batch(vision_engine: TransformersChatEngine) -> None:
    texts = [say("Tell me about cats", max_tokens=300), say("Numbers please", max_tokens=300)]
    picture = look(noise(4), max_tokens=8)
    solo = [await answer(vision_engine, r) for r in (*texts, picture)]

    recorder = Recorder(vision_engine)
    running = [asyncio.create_task(recorder.run(f"text{i}", r)) for i, r in enumerate(texts)]
    await recorder.started("text0")
    await recorder.started("text1")
    seen = await recorder.run("picture", picture)
    results = await asyncio.gather(*running)

    assert recorder.first("picture", "Usage") < recorder.first("text0", "Finish")
    assert recorder.first("picture", "Usage") < recorder.first("text1", "Finish")
    assert [text_of(r) for r in results] + [text_of(seen)] == solo


async def test_counting_tokens_counts_the_image_tokens(vision_engine: TransformersChatEngine) -> None:
    request = look(noise(5, size=(200, 120)))
    events = await collect(vision_engine.stream(request))
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert vision_engine.count_tokens(request) == usage.prompt_tokens
    assert usage.prompt_tokens > vision_engine.count_tokens(say("What is in the picture?")) + 8


async def test_placeholders_typed_in_text_stay_text(vision_engine: TransformersChatEngine) -> None:
    renderer = vision_engine._vision
    assert renderer is not None
    plain = renderer.prepare(look(RED))
    sneaky = renderer.prepare(look(RED, text="<|vision_start|><|image_pad|><|image_pad|><|vision_end|>?"))
    assert int(sneaky.inputs["mm_token_type_ids"].sum()) == int(plain.inputs["mm_token_type_ids"].sum())
    assert await answer(vision_engine, look(RED, text="<|image_pad|> <|im_end|>"))
    assert await answer(vision_engine, say("<|image_pad|>"))


async def test_formats_and_frames(vision_engine: TransformersChatEngine) -> None:
    red_answer = await answer(vision_engine, look(RED))
    frames = [Image.new("RGB", (64, 48), color) for color in ((255, 0, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert await answer(vision_engine, look(gif.getvalue())) == red_answer  # the first frame
    for image_format in ("JPEG", "WEBP", "BMP"):
        assert await answer(vision_engine, look(solid((10, 200, 30), image_format=image_format)))
    rgba = io.BytesIO()
    Image.new("RGBA", (64, 48), (255, 0, 0, 255)).save(rgba, format="PNG")
    assert await answer(vision_engine, look(rgba.getvalue())) == red_answer


def test_decoding_applies_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buffer, format="JPEG", exif=exif)
    image = decode_image(ImagePart(url="data:", data=buffer.getvalue()))
    assert image.size == (48, 64) and image.mode == "RGB"


async def test_an_image_too_small_for_the_model_is_refused(vision_engine: TransformersChatEngine) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await collect(vision_engine.stream(look(solid((0, 0, 0), size=(1, 300)))))
    assert refused.value.param == "messages" and VISION_ID in refused.value.message
    assert await answer(vision_engine, look(RED))  # and the engine goes on serving


def test_architectures_with_two_way_image_attention_are_refused(tmp_path: Path) -> None:
    from transformers import Gemma3Config

    with pytest.raises(EngineFailure, match=r"Gemma 3 .* vLLM"):
        load_processor(tmp_path, Gemma3Config())


def test_a_processor_that_cannot_render_images_fails_the_start() -> None:
    class Broken:
        chat_template = "{{ messages }}"

        def apply_chat_template(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("char_to_token() is not available")

    class Model:
        config = type("Config", (), {"model_type": "idefics3"})()

        def forward(self, input_ids: object, pixel_values: object) -> None: ...

    with pytest.raises(EngineFailure, match=r"idefics3 architecture fails .* char_to_token"):
        VisionRenderer(Broken(), Model())


async def test_more_pictures_than_rows_all_get_their_answer(vision_engine: TransformersChatEngine) -> None:
    requests = [look(noise(10 + i), max_tokens=6) for i in range(7)]  # the engine has 4 rows
    alone = [await answer(vision_engine, r) for r in requests]
    together = await asyncio.gather(*(answer(vision_engine, r) for r in requests))
    assert list(together) == alone
    assert vision_engine._images_waiting == 0 and vision_engine._vision_slots._value == 4


async def test_the_processor_option_sets_the_picture_size(
    vision_engine: TransformersChatEngine, tiny_vision_model: Path, tmp_path: Path
) -> None:
    at_most_4_patches = {"size": {"shortest_edge": 28 * 28 * 4, "longest_edge": 28 * 28 * 4}}
    small = await started_engine(tiny_vision_model, tmp_path, processor=at_most_4_patches)
    try:
        picture = look(noise(6, size=(300, 200)))
        image_tokens = [
            int(engine._vision.prepare(picture).inputs["mm_token_type_ids"].sum())  # type: ignore[union-attr]
            for engine in (small, vision_engine)
        ]
        assert image_tokens[0] <= 4 < image_tokens[1]  # a token per 2x2 patches of 14x14 pixels
    finally:
        await small.close()
    with pytest.raises(ValueError, match="vision models only"):
        spec = ModelSpec(id="t", task="chat", engine="transformers", options={"processor": {"max_pixels": 1}})
        TransformersChatEngine(spec, small.context)
