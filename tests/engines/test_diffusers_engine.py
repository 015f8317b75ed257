"""The diffusers engine on its own: loading a saved pipeline folder through the weights resolver,
progress and cancellation, concurrent jobs with different LoRA mixes, option checking, and a demo build
that is the same on every machine."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from openmaas.domain.images import ImageJob, JobCancelled, LoraWeight
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.diffusers import DiffusersImageEngine
from openmaas.engines.diffusers.demo import build_demo_lora, build_demo_pipeline, lora_seed

JOB = ImageJob(
    model="test/sd",
    prompt="a cat",
    negative_prompt=None,
    width=64,
    height=64,
    seed=9,
    steps=4,
    guidance=5.0,
    n=1,
)


def _spec(folder: Path, **options: Any) -> ModelSpec:
    return ModelSpec(
        id="test/sd",
        task="image",
        engine="diffusers",
        weights=str(folder),
        capabilities=("edit", "loras"),
        options={"torch_threads": 1, **options},
    )


def _context(root: Path, resolved: list[str]) -> EngineContext:
    def resolve(spec: ModelSpec) -> Path:
        resolved.append(spec.weights_location)
        return Path(spec.weights_location)

    return EngineContext(cache_dir=root / "cache", resolve_weights=resolve)


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sd") / "pipeline"
    build_demo_pipeline(folder)
    for name in ("a", "b"):
        build_demo_lora(folder.parent / f"lora-{name}", folder / "unet", seed=lora_seed(name))
    return folder


@pytest.fixture(scope="module")
async def engine(pipeline_folder: Path) -> AsyncIterator[DiffusersImageEngine]:
    loras = {name: str(pipeline_folder.parent / f"lora-{name}") for name in ("a", "b")}
    resolved: list[str] = []
    spec = _spec(pipeline_folder, pipeline="StableDiffusionPipeline", loras=loras, max_concurrency=2)
    loaded = DiffusersImageEngine(spec, _context(pipeline_folder.parent, resolved))
    await loaded.start()
    assert resolved == [str(pipeline_folder)]  # local LoRA paths need no resolving
    yield loaded
    await loaded.close()


async def test_progress_per_step(engine: DiffusersImageEngine) -> None:
    reports: list[tuple[int, int]] = []
    images = await engine.generate(JOB, lambda done, total: reports.append((done, total)))
    assert len(images) == 1 and images[0].startswith(b"\x89PNG")
    assert reports == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


async def test_cancelling_through_the_progress_callback(engine: DiffusersImageEngine) -> None:
    reports: list[int] = []

    def stop_after_two(done: int, _total: int) -> None:
        reports.append(done)
        if done == 2:
            raise JobCancelled("test")

    with pytest.raises(JobCancelled):
        await engine.generate(replace(JOB, steps=50), stop_after_two)
    assert reports == [0, 1, 2]


async def test_concurrent_jobs_with_different_loras_match_serial_ones(engine: DiffusersImageEngine) -> None:
    mixes: list[tuple[LoraWeight, ...]] = [
        (),
        (LoraWeight("a", 1.0),),
        (LoraWeight("a", 0.5), LoraWeight("b", 0.5)),
        (LoraWeight("b", 1.0),),
    ]
    jobs = [replace(JOB, loras=mix) for mix in mixes]
    serial = [await engine.generate(job, _ignore) for job in jobs]
    together = await asyncio.gather(*(engine.generate(job, _ignore) for job in jobs))
    assert together == serial
    assert len({images[0] for images in serial}) == 4


async def test_options_are_checked(pipeline_folder: Path, tmp_path: Path) -> None:
    for options, says in (
        ({"pipelin": "StableDiffusionPipeline"}, "pipelin: Extra inputs"),
        ({"pipeline": "NoSuchPipeline"}, "NoSuchPipeline"),
        ({"loras": {"x": "demo"}}, "build_demo"),
        ({"max_concurrency": 0}, "max_concurrency: Input should be greater"),
    ):
        broken = DiffusersImageEngine(_spec(pipeline_folder, **options), _context(tmp_path, []))
        with pytest.raises(ValueError, match=says):
            await broken.start()
        await broken.close()


def test_the_demo_build_is_the_same_everywhere(tmp_path: Path) -> None:
    def digest(folder: Path) -> str:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        content = b"".join(p.relative_to(folder).as_posix().encode() + p.read_bytes() for p in files)
        return hashlib.sha256(content).hexdigest()

    build_demo_pipeline(tmp_path / "one")
    build_demo_pipeline(tmp_path / "two")
    assert digest(tmp_path / "one" / "unet") == digest(tmp_path / "two" / "unet")
    assert digest(tmp_path / "one" / "text_encoder") == digest(tmp_path / "two" / "text_encoder")


def _ignore(_done: int, _total: int) -> None:
    return None
