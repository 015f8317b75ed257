"""The `options` a registry entry may give the OpenVINO engine.

| option | default | meaning |
|---|---|---|
| `precision` | `int8` | the prepared weights: `int8` (Q8_0, near-lossless), `int4` (Q4_0, fastest, changes |
|  |  | answers more), `fp16` (largest); see `prepare.py` and the quality figures in the README |
| `inference_precision` | `f32` | what activations are computed in: `f32` (answers as the reference), |
|  |  | `bf16` (faster on CPUs with bf16, changes a word here and there), `auto` (OpenVINO's pick) |
| `threads` | all cores | threads OpenVINO computes with (`INFERENCE_NUM_THREADS`) |
| `max_batch_size` | 32 | sequences decoded together in one step (OpenVINO's `max_num_seqs`) |
| `max_queue` | 256 | requests waiting beyond those; one more is refused with `Overloaded` (503) |
| `max_prefill_tokens` | 2048 | prompt tokens computed in one step (`max_num_batched_tokens`): a long |
|  |  | prompt is split over several steps while other answers go on |
| `kv_cache_gb` | 0 | the paged KV cache in whole GB; 0 grows it as requests need (keeping its peak) |
| `prefix_caching` | false | keep the KV blocks of finished requests for prompts that start the same |
|  |  | (needs `kv_cache_gb` > 0, which bounds it) |
| `chat_template` | the model's | a Jinja chat template, inline or as the path of a `.jinja` file |

Unknown options are an error naming the option, so a typo fails at start-up.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, model_validator

from openmaas.engines.chat_template import ChatTemplateOptions

Precision = Literal["int8", "int4", "fp16"]


class OpenVINOOptions(ChatTemplateOptions):
    precision: Precision = "int8"
    inference_precision: Literal["f32", "bf16", "auto"] = "f32"
    threads: int | None = Field(default=None, gt=0)
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    max_queue: int = Field(default=256, ge=0)
    max_prefill_tokens: int = Field(default=2048, ge=16)
    kv_cache_gb: int = Field(default=0, ge=0)
    prefix_caching: bool = False

    @model_validator(mode="after")
    def _prefix_cache_is_bounded(self) -> OpenVINOOptions:
        if self.prefix_caching and self.kv_cache_gb == 0:
            raise ValueError("prefix_caching needs kv_cache_gb > 0 (the cache it may fill)")
        return self

    @property
    def thread_count(self) -> int:
        return self.threads or len(os.sched_getaffinity(0))
