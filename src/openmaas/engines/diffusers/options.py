"""The registry options of a diffusers model (`[models.options]`), checked strictly at load time.

[[models]]
id = "stabilityai/stable-diffusion-xl-base-1.0"
task = "image"
engine = "diffusers"
capabilities = ["edit", "loras", "size:512x512-2048x2048"]
[models.options]
pipeline = "StableDiffusionXLPipeline"        # a diffusers class (default: AutoPipelineForText2Image)
edit_pipeline = "AutoPipelineForImage2Image"  # built from the loaded pipeline, sharing its weights
dtype = "bfloat16"
device = "cuda"
default_size = "1024x1024"
default_steps = 30
default_guidance = 5.0
[models.options.loras]
"some-org/some-style-lora" = "/srv/loras/some-style"   # or a ModelScope id
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openmaas.engines.options import EngineOptions


class DiffusersOptions(EngineOptions):
    pipeline: str = Field(
        default="AutoPipelineForText2Image", description="The diffusers class that loads the weights."
    )
    edit_pipeline: str = Field(
        default="AutoPipelineForImage2Image",
        description="The diffusers class for edits (`image_url`), made with `from_pipe` from the loaded one.",
    )
    edit_strength: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="How far an edit departs from the input (if the pipeline has it).",
    )
    guidance_parameter: str = Field(
        default="guidance_scale",
        description="The pipeline argument that `guidance` sets (Qwen-Image: true_cfg_scale).",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "cpu"
    torch_threads: int | None = Field(
        default=None, ge=1, description="torch.set_num_threads at load (process-wide); default: torch's."
    )
    max_concurrency: int = Field(
        default=2, ge=1, le=16, description="Images generated at the same time, each on its own thread."
    )
    build_demo: bool = Field(
        default=False, description="Build the random-weight demo pipeline in the data dir (the demo model)."
    )
    loras: dict[str, str] = Field(
        default_factory=dict,
        description='LoRA id -> a local file or folder, a ModelScope id, or "demo" (a random demo LoRA).',
    )
    # Read by the image service (`openmaas.domain.images.ImageProfile`), not by the engine.
    default_size: str | None = None
    default_steps: int | None = None
    default_guidance: float | None = None
    size_multiple: int | None = None
