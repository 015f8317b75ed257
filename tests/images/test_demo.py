"""The whole image flow on the real diffusers engine and the locally built demo model (random weights):
sizes, determinism, LoRAs (built-in demo ones and one this test makes), edits from a data URI."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, get_peft_model_state_dict
from PIL import Image

from openmaas.catalog import builtin_catalog
from openmaas.domain.images import ImageProfile
from openmaas.engines.diffusers.demo import build_demo_pipeline
from tests.images.conftest import DEMO, ImageHarness, demo_models, image_app

BASE: dict[str, Any] = {"model": DEMO, "prompt": "a golden cat on a red chair", "seed": 123, "steps": 3}


def make_lora_file(path: Path, unet_folder: Path) -> None:
    """A tiny LoRA for the demo UNet, saved as one .safetensors file as LoRA downloads usually are."""
    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v"]))
    generator = torch.Generator().manual_seed(5)
    weights = {
        k: torch.randn(v.shape, generator=generator) for k, v in get_peft_model_state_dict(unet).items()
    }
    StableDiffusionPipeline.save_lora_weights(
        path.parent, unet_lora_layers=convert_state_dict_to_diffusers(weights), weight_name=path.name
    )


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ImageHarness]:
    root = tmp_path_factory.mktemp("demo")
    reference = root / "reference-pipeline"
    build_demo_pipeline(reference)  # the same architecture the app builds for itself
    lora = root / "loras" / "my-style.safetensors"
    make_lora_file(lora, reference / "unet")
    async with image_app(root, demo_models(lora)) as harness:
        yield harness


async def generate(demo: ImageHarness, **change: Any) -> list[bytes]:
    response = await demo.generate({**BASE, **change, "response_format": "b64_json"})
    assert response.status_code == 200, response.text
    return [base64.b64decode(item["b64_json"]) for item in response.json()["data"]]


async def test_pngs_of_the_requested_size(demo: ImageHarness) -> None:
    first, second = await generate(demo, size="128x64", n=2)
    for png in (first, second):
        image = Image.open(io.BytesIO(png))
        assert (image.format, image.size, image.mode) == ("PNG", (128, 64), "RGB")
    assert first != second


async def test_same_seed_same_bytes(demo: ImageHarness) -> None:
    reference = await generate(demo)
    assert await generate(demo) == reference
    assert await generate(demo, seed=124) != reference
    assert await generate(demo, prompt="a blue dog") != reference
    assert await generate(demo, negative_prompt="blurry") != reference


async def test_loras(demo: ImageHarness) -> None:
    plain = await generate(demo)
    one = await generate(demo, loras="openmaas/tiny-sd-demo-lora-a")
    mixed = await generate(
        demo, loras={"openmaas/tiny-sd-demo-lora-a": 0.6, "openmaas/tiny-sd-demo-lora-b": 0.4}
    )
    made_here = await generate(demo, loras="test/local-lora")
    assert len({bytes(x[0]) for x in (plain, one, mixed, made_here)}) == 4
    assert await generate(demo, loras="openmaas/tiny-sd-demo-lora-a") == one
    assert await generate(demo) == plain  # the adapters are off again without loras


async def test_edit_from_a_data_uri(demo: ImageHarness) -> None:
    source = io.BytesIO()
    Image.linear_gradient("L").resize((96, 64)).convert("RGB").save(source, format="PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(source.getvalue()).decode()
    edited = await generate(demo, image_url=data_uri)
    assert Image.open(io.BytesIO(edited[0])).size == (96, 64)
    assert await generate(demo, image_url=data_uri) == edited
    assert await generate(demo, size="96x64") != edited
    resized = await generate(demo, image_url=data_uri, size="64x64")
    assert Image.open(io.BytesIO(resized[0])).size == (64, 64)


async def test_progress_of_a_longer_task(demo: ImageHarness) -> None:
    task_id = (await demo.generate({**BASE, "steps": 40, "size": "256x256"}, asynchronous=True)).json()[
        "task_id"
    ]
    await demo.until(task_id, lambda t: t["task_status"] == "SUCCEED" or 0 < t["progress"] < 1)
    assert (await demo.finished(task_id))["task_status"] == "SUCCEED"


async def test_listed_as_a_demo_image_model(demo: ImageHarness) -> None:
    builtin = builtin_catalog().get(DEMO)
    assert builtin is not None and builtin.options["build_demo"] is True
    assert "random weights" in (builtin.description or "")
    profile = ImageProfile.from_spec(builtin)
    assert (str(profile.min_size), str(profile.max_size), profile.can_edit) == ("64x64", "1024x1024", True)
    assert profile.loras == {"openmaas/tiny-sd-demo-lora-a", "openmaas/tiny-sd-demo-lora-b"}
    listed = {m["id"]: m for m in (await demo.client.get("/v1/models")).json()["data"]}
    assert listed[DEMO]["task"] == "image"
    assert set(listed[DEMO]["capabilities"]) == {"edit", "loras", "size:64x64-1024x1024"}
