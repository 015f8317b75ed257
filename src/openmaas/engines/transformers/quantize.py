"""Opt-in weight-only quantization of the linear layers (`quantize: int8` or `int4`), CPU only.

Decoding one token is bound by reading the weights from memory, so smaller weights decode faster. Both
modes keep the activations in floating point and use torch's own CPU kernels, so no extra package is
needed. Outputs change, which is why neither is ever on by default.

- `int8`: one symmetric scale per output channel (scale = max |w| / 127), `aten._weight_int8pack_mm`.
  Half the bytes of bfloat16; outputs change slightly.
- `int4`: asymmetric 4-bit groups of 32 input columns (a scale and a zero per group), the layout of
  llama.cpp's Q4_1, `aten._weight_int4pack_mm_for_cpu`. A quarter of the bytes of bfloat16, and more
  loss than int8. The output layer, the most sensitive (at 4 bits SmolLM2 no longer knows the capital
  of France), gets int8 instead. Layers whose shape the kernel cannot take (inputs not a multiple of 32,
  outputs not of 16) stay as they are.

When the output layer shares its weight with the input embeddings, the embeddings keep theirs.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

INT4_GROUP = 32
_INT4_INNER_K_TILES = 2


class Int8Linear(nn.Module):
    def __init__(self, linear: nn.Linear, dtype: torch.dtype) -> None:
        super().__init__()
        weight = linear.weight.detach().to(torch.float32)
        scales = weight.abs().amax(dim=1).clamp_(min=1e-12) / 127.0
        quantized = torch.round(weight / scales[:, None]).clamp_(-127, 127).to(torch.int8)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight_int8: torch.Tensor
        self.scales: torch.Tensor
        self.register_buffer("weight_int8", quantized.contiguous())
        self.register_buffer("scales", scales.to(dtype))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(dtype), False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat = inputs.reshape(-1, self.in_features).to(self.scales.dtype)
        output = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scales)
        if self.bias is not None:
            output = output + self.bias
        return output.reshape(*inputs.shape[:-1], self.out_features)


class Int4Linear(nn.Module):
    def __init__(self, linear: nn.Linear, dtype: torch.dtype) -> None:
        super().__init__()
        weight = linear.weight.detach().to(torch.float32)
        rows, columns = weight.shape
        groups = weight.reshape(rows, columns // INT4_GROUP, INT4_GROUP)
        low = groups.amin(dim=-1, keepdim=True)
        scale = ((groups.amax(dim=-1, keepdim=True) - low) / 15.0).clamp_(min=1e-12)
        codes = torch.round((groups - low) / scale).clamp_(0, 15).to(torch.int32).reshape(rows, columns)
        zero = low + 8.0 * scale  # the kernel computes (code - 8) * scale + zero
        scales_zeros = torch.cat([scale, zero], dim=-1).transpose(0, 1).contiguous()
        self.in_features = columns
        self.out_features = rows
        self.packed: torch.Tensor
        self.scales_zeros: torch.Tensor
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, _INT4_INNER_K_TILES)
        self.register_buffer("packed", packed)
        self.register_buffer("scales_zeros", scales_zeros.to(dtype))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(dtype), False)

    @staticmethod
    def fits(linear: nn.Linear) -> bool:
        return linear.in_features % INT4_GROUP == 0 and linear.out_features % 16 == 0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat = inputs.reshape(-1, self.in_features).to(self.scales_zeros.dtype)
        output = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.packed, INT4_GROUP, self.scales_zeros)
        if self.bias is not None:
            output = output + self.bias
        return output.reshape(*inputs.shape[:-1], self.out_features)


def quantize_linear_layers(model: Any, mode: str) -> int:
    """Replace the model's linear layers in place (`mode` int8 or int4); returns how many were replaced."""
    if model.device.type != "cpu":
        raise ValueError(f"quantize: {mode} runs on the CPU only")
    dtype = model.dtype
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    output_layer = model.get_output_embeddings()
    replaced = 0
    for parent, name, child in targets:
        if mode == "int8" or child is output_layer:
            setattr(parent, name, Int8Linear(child, dtype))
        elif Int4Linear.fits(child):
            setattr(parent, name, Int4Linear(child, dtype))
        else:
            logger.info("quantize int4: %s stays unquantized (shape %s)", name, tuple(child.weight.shape))
            continue
        replaced += 1
    return replaced
