"""Vision requests in the transformers engine: what preparing an image costs, and what a picture joining
the batch costs the text rows already decoding.

1. Preparing (decoding the bytes and running the processor, in a worker thread before the request
   queues) with Qwen2-VL's own image processor at the released model's limits (3,136 to 12,845,056
   pixels): time, image tokens and the size of the pixel inputs, per picture size.
2. On the tiny random-weight Qwen2-VL of the tests: the longest pause between two tokens of a text row
   while requests with pictures join its batch, next to the same rows without pictures. The tiny model
   makes the absolute figures small; the point is that a picture costs the running rows one prefill.

    .venv/bin/python -m bench.vision
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image
from tests.tiny_vision_models import build_tiny_vision_model

from openmaas.domain.chat import ChatRequest, ContentPart, ImagePart, Message, Sampling, TextDelta, TextPart
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.transformers import TransformersChatEngine
from openmaas.weights import WeightsResolver

SIZES = [(640, 480), (1024, 768), (2048, 1536)]


def photo(width: int, height: int) -> bytes:
    """A JPEG of smooth noise (compresses like a photo, unlike per-pixel noise)."""
    small = Image.frombytes(
        "RGB", (width // 16, height // 16), random.Random(width).randbytes(width * height * 3 // 256)
    )
    buffer = io.BytesIO()
    small.resize((width, height), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def request(*pictures: bytes, text: str = "Describe the picture.", max_tokens: int = 32) -> ChatRequest:
    parts: tuple[ContentPart, ...] = (*(ImagePart(url="data:", data=p) for p in pictures), TextPart(text))
    return ChatRequest(
        "bench/tiny-vl", (Message("user", parts),), Sampling(temperature=0.0, max_tokens=max_tokens)
    )


async def start(folder: Path, data: Path) -> TransformersChatEngine:
    spec = ModelSpec(
        id="bench/tiny-vl",
        task="vision",
        engine="transformers",
        weights=str(folder),
        options={"dtype": "float32", "max_batch_size": 8},
    )
    engine = TransformersChatEngine(spec, EngineContext(data / "cache", WeightsResolver(data).resolve))
    await engine.start()
    return engine


def preparation(engine: TransformersChatEngine) -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    renderer = engine._vision
    assert renderer is not None
    renderer._processor.image_processor = Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=12845056)
    print("preparing one picture, Qwen2-VL's image processor at the released limits:")
    for width, height in SIZES:
        data = photo(width, height)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            prompt = renderer.prepare(request(data))
            times.append(time.perf_counter() - started)
        pixels = sum(t.numel() * t.element_size() for t in prompt.inputs.values())
        tokens = int(prompt.inputs["mm_token_type_ids"].sum())
        print(
            f"  {width}x{height} JPEG ({len(data) // 1024} KiB): {statistics.median(times) * 1000:.0f} ms, "
            f"{tokens} image tokens, pixel inputs {pixels / 2**20:.1f} MiB"
        )


async def longest_pause(engine: TransformersChatEngine, with_pictures: bool) -> float:
    """The longest gap between two tokens of 4 text rows while 4 other requests join."""
    gaps: list[float] = []

    async def text_row(seed: int) -> None:
        last = None
        async for event in engine.stream(_text(seed)):
            if isinstance(event, TextDelta):
                now = time.perf_counter()
                if last is not None:
                    gaps.append(now - last)
                last = now

    async def joiner(seed: int) -> None:
        await asyncio.sleep(0.05 * seed)
        pictures = (photo(512, 384),) if with_pictures else ()
        async for _ in engine.stream(request(*pictures, text=f"What is it {seed}?", max_tokens=8)):
            pass

    await asyncio.gather(*(text_row(i) for i in range(4)), *(joiner(i + 1) for i in range(4)))
    return max(gaps)


def _text(seed: int) -> ChatRequest:
    return ChatRequest(
        "bench/tiny-vl",
        (Message("user", (TextPart(f"Tell me a story {seed}"),)),),
        Sampling(temperature=0.0, max_tokens=200),
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        folder = build_tiny_vision_model(Path(root) / "model")
        engine = await start(folder, Path(root))
        try:
            without = await longest_pause(engine, with_pictures=False)
            with_pictures = await longest_pause(engine, with_pictures=True)
            print("tiny Qwen2-VL, 4 text rows decoding while 4 requests join; longest pause between tokens:")
            print(f"  joiners without pictures: {without * 1000:.1f} ms")
            print(f"  joiners with a 512x384 picture each: {with_pictures * 1000:.1f} ms")
            preparation(engine)
        finally:
            await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
