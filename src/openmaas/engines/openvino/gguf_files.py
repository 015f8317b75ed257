"""Writing the float16 GGUF file OpenVINO builds its model from, one tensor at a time.

OpenVINO GenAI builds a llama, qwen2 or qwen3 model straight from a GGUF file. Preparing a model
(`prepare.py`) writes one with float16 weights (norms and biases float32), from a GGUF source
(`requantize.py`: dequantized, whatever its llama.cpp types) or a Hugging Face folder (`convert_hf.py`);
OpenVINO turns it into its own model, which `compress.py` then quantizes as the precision asks. Both
writers describe the tensors first and produce each one when it is written, so memory holds one tensor
at a time whatever the model's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from openmaas.progress import Progress

#: The model families OpenVINO GenAI builds from GGUF (by `general.architecture`).
SUPPORTED_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3"})

Q = gguf.GGMLQuantizationType
#: `general.file_type` (llama.cpp's LLAMA_FTYPE) of a float16 file.
FLOAT16_FILE = 1


@dataclass(frozen=True, slots=True)
class TensorPlan:
    """One tensor to write: its GGUF name, shape (numpy order: rows first) and type."""

    name: str
    shape: tuple[int, ...]
    type: gguf.GGMLQuantizationType

    @property
    def nbytes(self) -> int:
        block, size = gguf.GGML_QUANT_SIZES[self.type]
        elements = int(np.prod(self.shape))
        return elements // block * size


def tensor_type(shape: tuple[int, ...]) -> gguf.GGMLQuantizationType:
    """Float16 for matrices, float32 for vectors (norms, biases), as llama.cpp's F16 files have them."""
    return Q.F16 if len(shape) >= 2 else Q.F32


def encode(values: np.ndarray[Any, Any], plan: TensorPlan) -> np.ndarray[Any, Any]:
    """`values` (float) in the plan's type, as the bytes (or floats) GGUF stores."""
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(plan.shape)
    if plan.type == Q.F32:
        return values
    if plan.type == Q.F16:
        return values.astype(np.float16)
    return gguf.quants.quantize(values, plan.type)


@dataclass(frozen=True, slots=True)
class Metadata:
    key: str
    value: Any
    type: gguf.GGUFValueType
    item_type: gguf.GGUFValueType | None = None


def write_gguf(
    path: Path,
    architecture: str,
    metadata: Iterable[Metadata],
    plans: list[TensorPlan],
    produce: Callable[[TensorPlan], np.ndarray[Any, Any]],
    progress: Progress,
) -> None:
    """Write a GGUF file: metadata, the tensors' descriptions, then each tensor as `produce` makes it
    (float values, encoded here), one progress step each."""
    writer = gguf.GGUFWriter(path, architecture)
    try:
        for item in metadata:
            writer.add_key_value(item.key, item.value, item.type, item.item_type)
        for plan in plans:
            writer.add_tensor_info(plan.name, plan.shape, np.dtype(np.float32), plan.nbytes, plan.type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        progress.stage("writing the weights", len(plans))
        for plan in plans:
            writer.write_tensor_data(encode(produce(plan), plan))
            progress.advance()
    finally:
        writer.close()


def gguf_context_length(path: Path) -> int:
    """The context length a GGUF file declares (`<architecture>.context_length`)."""
    reader = gguf.GGUFReader(path)
    architecture = str(reader.fields["general.architecture"].contents())
    field = reader.fields.get(f"{architecture}.context_length")
    return int(field.contents()) if field is not None else 2048
