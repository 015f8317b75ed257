"""The `options` a registry entry may give the vLLM engine, and how they become vLLM's engine arguments.

| option | default | meaning |
|---|---|---|
| `tensor_parallel_size` | 1 | GPUs each layer is split over (one node, or across nodes with Ray) |
| `pipeline_parallel_size` | 1 | stages the layers are split into (one per node across nodes) |
| `distributed_executor_backend` | vLLM's | `mp` (processes on one node; vLLM's default for several |
|  |  | GPUs), `ray` (a Ray cluster: the way across nodes), `uni` (in-process, one device) |
| `max_model_len` | the entry's | the context in tokens: the entry's `context_length`, else the model's |
| `gpu_memory_utilization` | vLLM's (0.9) | the share of each GPU's memory vLLM takes (weights + KV cache) |
| `dtype` | `auto` | `auto`, `bfloat16`, `float16`, `float32` |
| `enforce_eager` | false | no CUDA graphs / compilation: a faster start, a slower decode |
| `kv_cache_space_gb` | vLLM's | the KV cache size in GiB (on CPUs, what `VLLM_CPU_KVCACHE_SPACE` sets) |
| `max_num_seqs` | vLLM's | requests decoded together in one step |
| `chat_template` | the model's | a Jinja chat template, inline or as the path of a `.jinja` file |
| `engine_args` | {} | any other `vllm.AsyncEngineArgs` field, e.g. `{ quantization = "fp8" }` |

Unknown options are an error naming the option; so is an `engine_args` key that is not an engine
argument (checked when the engine starts, where vLLM is importable) or that one of the options above
already sets. This module does not import vLLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from openmaas.engines.chat_template import ChatTemplateOptions

GIB = 1 << 30

#: Engine arguments the engine sets itself from the spec and the weights; `engine_args` may not set them.
_RESERVED_ENGINE_ARGS = frozenset({"model", "tokenizer", "served_model_name"})


class VLLMOptions(ChatTemplateOptions):
    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    distributed_executor_backend: Literal["mp", "ray", "uni"] | None = None
    max_model_len: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    enforce_eager: bool = False
    kv_cache_space_gb: float | None = Field(default=None, gt=0)
    max_num_seqs: int | None = Field(default=None, ge=1)
    engine_args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _engine_args_do_not_shadow(self) -> VLLMOptions:
        for key in self.engine_args:
            if key in _RESERVED_ENGINE_ARGS:
                raise ValueError(f"engine_args.{key} is set by OpenMaaS itself and cannot be given")
            if key in VLLMOptions.model_fields and key != "engine_args":
                raise ValueError(f"engine_args.{key}: set it as the option `{key}` instead")
        return self

    def engine_kwargs(
        self, model_folder: Path, served_name: str, context_length: int | None
    ) -> dict[str, Any]:
        """Keyword arguments of `vllm.AsyncEngineArgs`: the options that were set, then `engine_args`.

        Options left at None are left out, so vLLM's own defaults apply."""
        kwargs: dict[str, Any] = {
            "model": str(model_folder),
            "tokenizer": str(model_folder),
            "served_model_name": served_name,
            # vLLM's own periodic log lines and Prometheus metrics are off (`engine_args` may turn them on);
            # the engine's stats come from a stat logger of its own either way.
            "disable_log_stats": True,
            "dtype": self.dtype,
            "enforce_eager": self.enforce_eager,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
        }
        optional = {
            "distributed_executor_backend": self.distributed_executor_backend,
            "max_model_len": self.max_model_len or context_length,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_num_seqs": self.max_num_seqs,
            "kv_cache_memory_bytes": None
            if self.kv_cache_space_gb is None
            else int(self.kv_cache_space_gb * GIB),
        }
        kwargs.update({key: value for key, value in optional.items() if value is not None})
        kwargs.update(self.engine_args)
        return kwargs
