"""`DiffusersImageEngine`: text-to-image and image editing with any diffusers pipeline.

The weights load once (`pipeline` option, default `AutoPipelineForText2Image`, which picks the class from
the folder's `model_index.json`: Stable Diffusion, SDXL, FLUX, Qwen-Image, ...). Edits use the
`edit_pipeline` class made with `from_pipe`, which shares the loaded modules, so an edit costs no memory.
LoRAs listed in the registry load at start as named adapters and are mixed per job (`AdapterGate`).

Generation runs on the engine's own threads (`max_concurrency`), so the event loop stays free. Each thread
has its own pipeline objects over the shared modules, because a pipeline call keeps per-call state
(scheduler timesteps, guidance) on the pipeline object. Image i of a job is made by its own pipeline call with
a CPU generator seeded with `seed + i`, so it is the same bytes whatever `n` the job asked for (a batched
call would change the arithmetic, and with it the pixels, with the batch size).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import math
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from transformers.utils import logging as transformers_logging

from openmaas.domain.errors import EngineFailure
from openmaas.domain.images import ImageJob, JobCancelled, ProgressCallback
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineStats, ImageEngine
from openmaas.engines.diffusers.adapters import AdapterGate, Mix
from openmaas.engines.diffusers.demo import ensure_demo
from openmaas.engines.diffusers.options import DiffusersOptions

log = logging.getLogger(__name__)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEMO_LORA = "demo"


def pipeline_class(name: str) -> Any:
    found = getattr(diffusers, name, None)
    if found is None or not hasattr(found, "from_pretrained"):
        raise ValueError(f"diffusers has no pipeline class {name!r}")
    return found


def _call_parameters(pipeline: Any) -> frozenset[str]:
    return frozenset(inspect.signature(pipeline.__call__).parameters)


def _step_reporter(job: ImageJob, index: int, progress: ProgressCallback) -> Callable[..., dict[str, Any]]:
    """The step callback of image `index`: progress counts the denoising steps of the whole job."""

    def on_step_end(pipe: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        per_image = getattr(pipe, "num_timesteps", None) or job.steps
        progress(index * per_image + step + 1, job.n * per_image)
        return tensors

    return on_step_end


def _fresh_scheduler(scheduler: Any) -> Any:
    return type(scheduler).from_config(scheduler.config)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _input_image(data: bytes, width: int, height: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    return image if image.size == (width, height) else image.resize((width, height), Image.Resampling.LANCZOS)


@dataclass
class _Views:
    """One thread's pipeline objects over the shared modules."""

    text: Any
    edit: Any | None


class DiffusersImageEngine(ImageEngine):
    capabilities = frozenset({"edit", "loras"})

    @classmethod
    def reads_weights(cls, spec: ModelSpec) -> bool:
        return not DiffusersOptions.parse(spec.id, "diffusers", spec.options).build_demo

    async def start(self) -> None:
        self.options = DiffusersOptions.parse(self.spec.id, "diffusers", self.spec.options)
        self._executor = ThreadPoolExecutor(self.options.max_concurrency, thread_name_prefix="diffusers")
        self._local = threading.local()
        self._views_lock = threading.Lock()
        self._in_flight = 0
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    # ---- loading (on an engine thread) ------------------------------------------------------------

    def _load(self) -> None:
        options = self.options
        if options.torch_threads is not None:
            torch.set_num_threads(options.torch_threads)
        for library in (diffusers_logging, transformers_logging):  # no progress bars or chatter on stderr
            library.disable_progress_bar()
            library.set_verbosity_error()
        demo_loras = [i for i, where in options.loras.items() if where == DEMO_LORA]
        if options.build_demo:
            folder, built_loras = ensure_demo(self.context.cache_dir, demo_loras)
        elif demo_loras:
            raise ValueError(f"model {self.spec.id}: demo LoRAs need build_demo = true")
        else:
            folder, built_loras = self.context.resolve_weights(self.spec), {}
        pipeline = pipeline_class(options.pipeline).from_pretrained(folder, dtype=_DTYPES[options.dtype])
        pipeline.to(options.device)
        pipeline.set_progress_bar_config(disable=True)
        self._adapters: dict[str, str] = {}
        for index, (lora_id, where) in enumerate(options.loras.items()):
            path = built_loras.get(lora_id) or self._lora_path(lora_id, where)
            self._adapters[lora_id] = f"lora{index}"
            self._load_lora(pipeline, path, f"lora{index}")
        if self._adapters:
            pipeline.disable_lora()
        self._edit_class = pipeline_class(options.edit_pipeline) if "edit" in self.spec.capabilities else None
        self._pipeline = pipeline
        self._gate = AdapterGate(self._apply_mix)

    def _lora_path(self, lora_id: str, where: str) -> Path:
        path = Path(where).expanduser()
        if path.exists():
            return path
        lora = ModelSpec(id=lora_id, task="image", engine=self.spec.engine, weights=where, preload=False)
        return self.context.resolve_weights(lora)

    @staticmethod
    def _load_lora(pipeline: Any, path: Path, name: str) -> None:
        warnings.filterwarnings("ignore", message="Already found a `peft_config`", category=UserWarning)
        if path.is_file():
            pipeline.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
        else:
            pipeline.load_lora_weights(str(path), adapter_name=name)

    def _apply_mix(self, mix: Mix) -> None:
        if not mix:
            self._pipeline.disable_lora()
            return
        self._pipeline.enable_lora()
        self._pipeline.set_adapters(
            [self._adapters[lora.id] for lora in mix], adapter_weights=[lora.weight for lora in mix]
        )

    # ---- generating -------------------------------------------------------------------------------

    def stats(self) -> EngineStats:
        running = min(self._in_flight, self.options.max_concurrency)
        return EngineStats(queued=self._in_flight - running, running=running)

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._generate, job, progress
            )
        except (JobCancelled, EngineFailure):
            raise
        except Exception as exc:
            log.exception("image generation failed", extra={"model": self.spec.id})
            raise EngineFailure(f"Image generation failed ({type(exc).__name__}).") from exc
        finally:
            self._in_flight -= 1

    def _generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        progress(0, job.steps)  # a job cancelled while it waited for a thread stops here
        views = self._views()
        pipeline = views.text if job.init_image is None else views.edit
        if pipeline is None:
            raise EngineFailure(f"The model {self.spec.id} cannot edit images.")
        arguments = self._arguments(pipeline, job)
        pictures: list[bytes] = []
        with (
            self._gate.using(job.loras, while_waiting=lambda: progress(0, job.steps * job.n)),
            torch.inference_mode(),
        ):
            for index in range(job.n):
                (image,) = pipeline(
                    **arguments,
                    generator=torch.Generator("cpu").manual_seed(job.seed + index),
                    callback_on_step_end=_step_reporter(job, index, progress),
                ).images
                pictures.append(_png(image))
        return pictures

    def _views(self) -> _Views:
        views: _Views | None = getattr(self._local, "views", None)
        if views is None:
            with self._views_lock:
                base = self._pipeline
                text = type(base).from_pipe(base, scheduler=_fresh_scheduler(base.scheduler))
                edit = None
                if self._edit_class is not None:
                    edit = self._edit_class.from_pipe(base, scheduler=_fresh_scheduler(base.scheduler))
                for view in (text, edit):
                    if view is not None:
                        view.set_progress_bar_config(disable=True)
                views = self._local.views = _Views(text, edit)
        return views

    def _arguments(self, pipeline: Any, job: ImageJob) -> dict[str, Any]:
        """The pipeline arguments every image of `job` shares (all but its generator and progress)."""
        accepted = _call_parameters(pipeline)
        guidance = self.options.guidance_parameter
        if guidance not in accepted:
            raise EngineFailure(
                f"{type(pipeline).__name__} has no argument {guidance!r} (guidance_parameter)."
            )
        arguments: dict[str, Any] = {
            "prompt": job.prompt,
            "height": job.height,
            "width": job.width,
            "num_inference_steps": job.steps,
            "num_images_per_prompt": 1,
            guidance: job.guidance,
        }
        if job.negative_prompt and "negative_prompt" in accepted:
            arguments["negative_prompt"] = job.negative_prompt
        if job.init_image is not None:
            arguments["image"] = _input_image(job.init_image, job.width, job.height)
            if "strength" in accepted:
                # The pipeline runs strength x num_inference_steps steps: ask for enough that `steps` run.
                strength = self.options.edit_strength
                arguments["strength"] = strength
                arguments["num_inference_steps"] = math.ceil(job.steps / strength)
        return arguments

    async def close(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._pipeline = None
