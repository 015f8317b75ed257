"""Writing the GGUF file the OpenVINO engine loads, one tensor at a time.

OpenVINO GenAI builds a llama, qwen2 or qwen3 model straight from a GGUF file whose weight tensors are
Q8_0, Q4_0 or F16 (norms and biases F32). Both ways of preparing a model (`requantize.py` for a GGUF
source, `convert_hf.py` for a Hugging Face folder) describe the tensors first and then produce each one
when it is written, so memory holds one tensor at a time whatever the model's size.

Which type a tensor gets (`tensor_type`): 1-D tensors (norms, biases) stay F32; a matrix whose rows are
not a whole number of quantization blocks is F16; otherwise the precision's type, except that `int4`
keeps the token embeddings and the output layer at Q8_0, as llama.cpp's Q4_0 files do (they hurt
quality most when coarse).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from openmaas.engines.openvino.options import Precision
from openmaas.progress import Progress

#: The model families OpenVINO GenAI builds from GGUF (by `general.architecture`).
SUPPORTED_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3"})

Q = gguf.GGMLQuantizationType
_WEIGHT_TYPE = {"int8": Q.Q8_0, "int4": Q.Q4_0, "fp16": Q.F16}
#: `general.file_type` (llama.cpp's LLAMA_FTYPE) of each precision.
FILE_TYPE = {"int8": 7, "int4": 2, "fp16": 1}
_KEEP_FINER = ("token_embd.weight", "output.weight")


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


def tensor_type(name: str, shape: tuple[int, ...], precision: Precision) -> gguf.GGMLQuantizationType:
    if len(shape) < 2:
        return Q.F32
    wanted = _WEIGHT_TYPE[precision]
    if precision == "int4" and name in _KEEP_FINER:
        wanted = Q.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[wanted]
    return wanted if shape[-1] % block == 0 else Q.F16


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
