"""The `options` a registry entry may give the transformers engine.

| option | default | meaning |
|---|---|---|
| `dtype` | `auto` | `bfloat16`, `float16`, `float32`; `auto` is bfloat16 (float16 on GPUs without it) |
| `device` | `auto` | `cpu`, `cuda`, `cuda:N`, or `auto` (the first GPU if there is one, else the CPU) |
| `threads` | torch's default | torch intra-op threads; process-wide, so set it on one model only |
| `max_batch_size` | 8 | requests decoded together in one step (rows of the batch) |
| `max_queue` | 64 | requests waiting for a row; one more is refused with `Overloaded` |
| `max_prefill_tokens` | 4096 | padded prompt tokens prefilled in one step (at least one prompt always is) |
| `chat_template` | the model's | a Jinja chat template, inline or as the path of a `.jinja` file |
| `quantize` | `none` | `int8` or `int4`: weight-only quantized linear layers on CPU (a half or a quarter |
|  |  | of the weights read per token; changes outputs, so never on by default; see `quantize.py`) |
| `processor` | `{}` | vision models: settings for the processor, over its saved ones, e.g. |
|  |  | `{max_pixels = 1003520}` for Qwen2-VL (smaller pictures: fewer image tokens, less memory) |

Unknown options are an error naming the option, so a typo fails at start-up.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from openmaas.engines.chat_template import ChatTemplateOptions


class TransformersOptions(ChatTemplateOptions):
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    threads: int | None = Field(default=None, gt=0)
    max_batch_size: int = Field(default=8, ge=1, le=256)
    max_queue: int = Field(default=64, ge=0)
    max_prefill_tokens: int = Field(default=4096, ge=1)
    quantize: Literal["none", "int8", "int4"] = "none"
    processor: dict[str, Any] = Field(default_factory=dict)
