"""The `options` a registry entry may give the sentence-transformers engine.

- `dtype` (`float32`): `float32`, `bfloat16` or `float16`; half precision changes the vectors slightly.
- `device` (`auto`): `cpu`, `cuda`, `cuda:N`, `mps`, or `auto` (the first GPU if there is one, else CPU).
- `threads` (torch's default): torch intra-op threads; process-wide, so set it on one model only.
- `max_batch_size` (32): inputs encoded together in one forward pass.
- `max_batch_tokens` (16384): padded tokens (inputs × the longest) in one forward pass; one input always
  fits.
- `batch_wait_ms` (2): how long the first waiting input waits for others to share its batch.
- `max_queue` (8192): inputs waiting for a batch; a request that would exceed it gets 503.
- `matryoshka` (`false`): the model was trained so that truncated vectors work; allows `dimensions`.
- `pooling` (the model's): `mean`, `cls`, `max`, `mean_sqrt_len_tokens` or `lasttoken`.
- `normalize` (the model's): L2-normalise the vectors; a folder without `modules.json` is not
  normalised unless this says so.
- `prompt` (the model's default prompt): text put before every text input (`"query: "` for E5 models).

The maximum input length is the registry entry's `context_length`, else the model's `max_seq_length`
(`sentence_bert_config.json`), else what its tokenizer or position embeddings allow. Unknown options are
an error naming the option, so a typo fails at start-up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openmaas.engines.options import EngineOptions

PoolingMode = Literal["mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken"]


class EmbeddingOptions(EngineOptions):
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    threads: int | None = Field(default=None, gt=0)
    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_batch_tokens: int = Field(default=16384, ge=1)
    batch_wait_ms: float = Field(default=2.0, ge=0, le=60_000)
    max_queue: int = Field(default=8192, ge=1)
    matryoshka: bool = False
    pooling: PoolingMode | None = None
    normalize: bool | None = None
    prompt: str | None = None
