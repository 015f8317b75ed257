"""Quantizing the weights of OpenVINO's model, as the entry's `precision` asks.

OpenVINO builds its model from the float16 GGUF file (`export.py`); every linear layer's weight is a
float16 constant feeding a `MatMul` (and the token embeddings one feeding a `Gather`). Each is replaced
by the pattern OpenVINO's CPU plugin runs as compressed weights: integer constant → `Convert` to float16
→ `Multiply` by a float16 scale (→ `Reshape` for groups) → the layer. The plugin reads the integers and
computes in `inference_precision`.

- `int8`: symmetric, one scale per output channel (the weight's row): measured here 30-40% faster than
  GGUF's Q8_0 blocks of 32, within 3% of the bf16 model's perplexity (`bench/chat_quality.py`).
- `int4`: symmetric per group of 32 inputs, as llama.cpp's Q4_0; the output layer and the token
  embeddings (the tensors that hurt quality most when coarse) stay `int8`.
- `fp16`: left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from openmaas.engines.openvino.options import Precision
from openmaas.progress import Progress

INT4_GROUP = 32


def compress_weights(model: Any, precision: Precision, progress: Progress) -> None:
    """Quantize `model`'s weights in place (an `openvino.Model` read from the exported IR)."""
    if precision == "fp16":
        return
    weights = list(_weights(model))
    # The token embeddings' rows are the vocabulary; so are the output layer's.
    vocabulary = {values.shape[0] for layer, _, _, values in weights if layer.get_type_name() == "Gather"}
    progress.stage(f"compressing the weights to {precision}", len(weights))
    for layer, index, convert, values in weights:
        linear = layer.get_type_name() == "MatMul" and values.shape[0] not in vocabulary
        grouped = precision == "int4" and linear and values.shape[1] % INT4_GROUP == 0
        fed = _int4(values) if grouped else _int8(values)
        cast = _opset().convert(fed, convert.get_output_element_type(0))
        layer.input(index).replace_source_output(cast.output(0))
        progress.advance()


def _weights(model: Any) -> Iterator[tuple[Any, int, Any, np.ndarray[Any, Any]]]:
    """(layer, its weight input, the Convert feeding it, the float weights [out, in]) of each layer."""
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "MatMul" and op.get_attributes().get("transpose_b"):
            index = 1
        elif kind == "Gather":
            index = 0
        else:
            continue
        convert = op.input_value(index).get_node()
        if convert.get_type_name() != "Convert":
            continue
        constant = convert.input_value(0).get_node()
        if constant.get_type_name() == "Constant" and len(constant.get_output_shape(0)) == 2:
            yield op, index, convert, constant.get_data().astype(np.float32)


def _int8(values: np.ndarray[Any, Any]) -> Any:
    """Symmetric, one scale per row: the row's largest magnitude is ±127."""
    scale = np.abs(values).max(axis=-1, keepdims=True) / 127
    return _scaled(np.clip(np.round(values / _nonzero(scale)), -127, 127), scale, bits=8)


def _int4(values: np.ndarray[Any, Any]) -> Any:
    """Symmetric per group of 32, as llama.cpp's Q4_0: the value of largest magnitude is exactly -8."""
    rows, columns = values.shape
    groups = values.reshape(rows, columns // INT4_GROUP, INT4_GROUP)
    extreme = np.take_along_axis(groups, np.abs(groups).argmax(axis=-1)[..., None], axis=-1)
    scale = extreme / -8
    quantized = _scaled(np.clip(np.round(groups / _nonzero(scale)), -8, 7), scale, bits=4)
    return _opset().reshape(quantized, _opset().constant(np.array([rows, columns], dtype=np.int64)), False)


def _scaled(quantized: np.ndarray[Any, Any], scale: np.ndarray[Any, Any], *, bits: int) -> Any:
    """The pattern the CPU plugin runs as compressed weights: integers → float16 → × scale. (A zero
    point, `Subtract`, would fit asymmetric weights better, but the plugin runs it several times slower.)"""
    import openvino

    ops = _opset()
    kind = openvino.Type.i8 if bits == 8 else openvino.Type.i4
    integers = ops.constant(quantized.astype(np.int8), dtype=kind)
    return ops.multiply(ops.convert(integers, "f16"), ops.constant(scale.astype(np.float16)))


def _nonzero(scale: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.where(scale == 0, 1.0, scale)


def _opset() -> Any:
    from openvino import opset13

    return opset13
