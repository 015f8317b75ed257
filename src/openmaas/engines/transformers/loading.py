"""Loading a causal language model and its tokenizer for the transformers engine (or, for a registry
entry with `task = "vision"`, an image-text-to-text model and its processor: see `vision.py`).

`context.resolve_weights(spec)` gives either a folder in the usual Hugging Face layout or a `.gguf`
file (a folder holding exactly one `.gguf` file and no `config.json` counts as that file). A GGUF file is
converted once: transformers dequantizes it into a plain model, which is saved with its tokenizer and
chat template as bfloat16 safetensors under `context.cache_dir`, and later starts load that folder
(seconds instead of tens of seconds). The conversion is written to a temporary folder renamed into place
when complete, under a file lock, so a crash or a second process never sees half a cache. The cache key
is the file's size and a hash of its first and last MiB, so it survives the file moving. Vision models
load from a folder only.

Device, dtype, threads and the opt-in int8 quantization come from the engine's options (see
`options.py`). The context length is `spec.context_length`, else the model's maximum positions (capped
by a sliding attention window, which this engine attends over in full).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from openmaas.domain.errors import EngineFailure
from openmaas.domain.generation import GenerationDefaults, read_generation_config
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.transformers.options import TransformersOptions
from openmaas.engines.transformers.quantize import quantize_linear_layers
from openmaas.weights import file_lock, fingerprint, gguf_or_folder

logger = logging.getLogger(__name__)

_DEFAULT_CONTEXT = 4096
_SUPPORTED_LAYER_TYPES = {"full_attention", "sliding_attention"}


@dataclass(frozen=True, slots=True)
class LoadedModel:
    model: Any
    tokenizer: Any
    context_length: int
    eos_ids: frozenset[int]
    pad_id: int
    vocab_size: int
    #: The processor of an image-text-to-text model (`task = "vision"`), else None.
    processor: Any = None
    #: What the model's generation_config.json recommends.
    defaults: GenerationDefaults = field(default_factory=GenerationDefaults)


def load_model(spec: ModelSpec, context: EngineContext, options: TransformersOptions) -> LoadedModel:
    """Blocking: resolve, convert if needed, and load. Run it in a worker thread."""
    source = context.resolve_weights(spec)
    if spec.task == "vision" and not (source / "config.json").exists():
        raise EngineFailure(
            f"Model '{spec.id}': a vision model loads from a Hugging Face model folder (config.json, "
            f"processor and tokenizer files); '{source}' is not one."
        )
    folder = model_folder(source, context.cache_dir)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    if spec.task == "vision":
        model, tokenizer, processor = _load_vision(spec, folder, dtype, options.processor)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
        processor = None
    model = model.to(device).eval()
    if options.quantize != "none":
        replaced = quantize_linear_layers(model, options.quantize)
        logger.info("model %s: %d linear layers quantized to %s", spec.id, replaced, options.quantize)
    config = model.config.get_text_config()
    eos_ids = _eos_ids(tokenizer, model)
    if not eos_ids:
        raise EngineFailure(f"Model '{spec.id}' declares no end-of-sequence token.")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        context_length=spec.context_length or _context_length(spec.id, config, tokenizer),
        eos_ids=eos_ids,
        pad_id=pad_id,
        vocab_size=model.get_output_embeddings().weight.shape[0]
        if hasattr(model.get_output_embeddings(), "weight")
        else config.vocab_size,
        processor=processor,
        defaults=read_generation_config(folder),
    )


def _load_vision(
    spec: ModelSpec, folder: Path, dtype: torch.dtype, settings: dict[str, Any]
) -> tuple[Any, Any, Any]:
    """An image-text-to-text model, its tokenizer and its processor (with `settings` over its own)."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    from openmaas.engines.transformers.vision import load_processor

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    processor = load_processor(folder, config, settings)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype, local_files_only=True)
    return model, processor.tokenizer, processor


def model_folder(source: Path, cache_dir: Path) -> Path:
    """The folder to load: `source` itself, or the converted cache of a GGUF file."""
    source = gguf_or_folder(source)
    return gguf_cache(source, cache_dir) if source.is_file() else source


def gguf_cache(gguf: Path, cache_dir: Path) -> Path:
    """The bfloat16 safetensors conversion of `gguf`, made on first use."""
    target = cache_dir / f"gguf-{gguf.stem}-{fingerprint(gguf)}"
    if (target / "config.json").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(cache_dir / f".{target.name}.lock"):
        if (target / "config.json").exists():  # converted by another process while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_dir))
        try:
            convert_gguf(gguf, staging)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantize `gguf` and save it, its tokenizer and chat template into `folder` (bfloat16)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    logger.info("converting %s to safetensors (once)", gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(dequantize=True),
        local_files_only=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    # transformers refuses to save a model loaded through a quantizer; the weights are plain by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EngineFailure(f"device '{name}' was asked for but no CUDA GPU is available")
    return torch.device(name)


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        dtype: torch.dtype = getattr(torch, name)
        return dtype
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _eos_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list | tuple):
            ids.update(i for i in source if isinstance(i, int))
    return frozenset(ids)


def _context_length(model_id: str, config: Any, tokenizer: Any) -> int:
    layer_types = getattr(config, "layer_types", None) or []
    unsupported = set(layer_types) - _SUPPORTED_LAYER_TYPES
    if unsupported:
        raise EngineFailure(
            f"Model '{model_id}' has {', '.join(sorted(unsupported))} layers, which the transformers engine "
            "does not serve; use the vLLM engine for it."
        )
    length = getattr(config, "max_position_embeddings", None)
    if not isinstance(length, int) or length <= 0:
        limit = getattr(tokenizer, "model_max_length", None)
        length = limit if isinstance(limit, int) and 0 < limit < 10_000_000 else _DEFAULT_CONTEXT
    window = getattr(config, "sliding_window", None)
    sliding = "sliding_attention" in layer_types or (
        not layer_types and window is not None and getattr(config, "use_sliding_window", True)
    )
    if sliding and isinstance(window, int) and 0 < window < length:
        length = window
    return int(length)
