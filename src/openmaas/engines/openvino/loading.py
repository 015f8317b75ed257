"""Loading a prepared model (`prepare.py`) for the OpenVINO engine.

`load_model` prepares the model if needed, then reads what the engine needs besides the pipeline: the
Hugging Face tokenizer (prompts through the chat template, text out), its end-of-sequence tokens, the
context length and the model's generation defaults. The pipeline itself is built by
`LoadedModel.build_pipeline`, which the driver also calls again to recover from a failed step.

OpenVINO options: `INFERENCE_NUM_THREADS` (the `threads` option, else every core this process may run
on), `INFERENCE_PRECISION_HINT` (`inference_precision`), and the scheduler's limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmaas.domain.errors import EngineFailure
from openmaas.domain.generation import GenerationDefaults, read_generation_config
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.openvino.options import OpenVINOOptions
from openmaas.engines.openvino.prepare import prepared_folder, read_manifest


@dataclass(frozen=True, slots=True)
class LoadedModel:
    folder: Path
    tokenizer: Any
    eos_ids: frozenset[int]
    context_length: int
    defaults: GenerationDefaults
    options: OpenVINOOptions

    def build_pipeline(self) -> Any:
        """A new `ContinuousBatchingPipeline` over the prepared model (blocking, a few seconds)."""
        import openvino_genai

        scheduler = openvino_genai.SchedulerConfig()
        scheduler.max_num_seqs = self.options.max_batch_size
        scheduler.max_num_batched_tokens = self.options.max_prefill_tokens
        scheduler.cache_size = self.options.kv_cache_gb
        scheduler.enable_prefix_caching = self.options.prefix_caching
        properties: dict[str, Any] = {"INFERENCE_NUM_THREADS": self.options.thread_count}
        if self.options.inference_precision != "auto":
            properties["INFERENCE_PRECISION_HINT"] = self.options.inference_precision
        tokenizer = openvino_genai.Tokenizer(str(self.folder))
        return openvino_genai.ContinuousBatchingPipeline(
            str(self.folder), tokenizer, scheduler, "CPU", **properties
        )


def load_model(spec: ModelSpec, context: EngineContext, options: OpenVINOOptions) -> LoadedModel:
    """Blocking: prepare (once) and read the model. Run it in a worker thread."""
    require_openvino(spec.id)
    from transformers import AutoTokenizer

    folder = prepared_folder(spec, context, options.precision)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    eos_ids = _eos_ids(tokenizer, folder)
    if not eos_ids:
        raise EngineFailure(f"Model '{spec.id}' declares no end-of-sequence token.")
    manifest = read_manifest(folder)
    return LoadedModel(
        folder=folder,
        tokenizer=tokenizer,
        eos_ids=eos_ids,
        context_length=spec.context_length or int(manifest["context_length"]),
        defaults=read_generation_config(folder),
        options=options,
    )


def require_openvino(model_id: str) -> None:
    try:
        import openvino_genai  # noqa: F401
    except ImportError as error:
        raise EngineFailure(
            f"Model '{model_id}' runs on the openvino engine, but openvino-genai is not installed "
            f"({error}). Install it (`pip install 'openmaas[serve]'`, or `make install`), or serve the "
            'model with the transformers engine (engine = "transformers").'
        ) from error


def _eos_ids(tokenizer: Any, folder: Path) -> frozenset[int]:
    ids: set[int] = set()
    if isinstance(tokenizer.eos_token_id, int):
        ids.add(tokenizer.eos_token_id)
    path = folder / "generation_config.json"
    if path.is_file():
        declared = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
        ids.update(
            [declared] if isinstance(declared, int) else [i for i in declared or () if isinstance(i, int)]
        )
    return frozenset(ids)
