"""A Hugging Face model folder (config.json + safetensors) written as a GGUF file OpenVINO loads.

OpenVINO GenAI builds llama, qwen2 and qwen3 models from GGUF, so a folder of one of those families
(Mistral's is llama's) is converted the way llama.cpp's converter lays such a file out: the same tensor
names (`blk.N.attn_q.weight`, ...), the model's shape in `<arch>.*` metadata, and for the llama family
the q and k projections permuted into the rotary layout GGUF uses (OpenVINO permutes them back).
Weights are read one tensor at a time (through torch, which reads bfloat16) and written as float16
(`gguf_files.py`); the precision is applied afterwards, on OpenVINO's model (`compress.py`).

What the GGUF builder cannot express is refused with a message naming the alternative: other families,
RoPE scaling (Llama 3.1's long-context rope, YaRN), a sliding attention window shorter than the context.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from openmaas.domain.errors import EngineFailure
from openmaas.engines.openvino.gguf_files import FLOAT16_FILE, Metadata, TensorPlan, tensor_type, write_gguf
from openmaas.progress import Progress

#: Hugging Face `model_type` → GGUF architecture.
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}

_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_PARTS = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_LAYER_NAME = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_IGNORED = re.compile(r"rotary_emb\.inv_freq$")


@dataclass(frozen=True, slots=True)
class HFShape:
    """What the conversion needs of config.json."""

    architecture: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int
    rope_theta: float
    rms_eps: float
    vocab: int
    tied: bool

    @classmethod
    def read(cls, folder: Path, model_id: str) -> HFShape:
        config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        model_type = config.get("model_type", "?")
        architecture = ARCHITECTURES.get(model_type)
        if architecture is None:
            raise _unsupported(
                model_id,
                f"its family '{model_type}' is not one the openvino engine builds "
                f"({', '.join(sorted(ARCHITECTURES))})",
            )
        rope = config.get("rope_parameters") or {}
        if config.get("rope_scaling") or rope.get("rope_type", "default") != "default":
            raise _unsupported(model_id, "it scales its rotary embeddings (rope_scaling)")
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        context = int(config.get("max_position_embeddings") or 4096)
        window = config.get("sliding_window")
        if config.get("use_sliding_window", model_type == "mistral") and window and int(window) < context:
            raise _unsupported(model_id, f"it attends over a sliding window of {window} tokens")
        return cls(
            architecture=architecture,
            layers=int(config["num_hidden_layers"]),
            hidden=hidden,
            intermediate=int(config["intermediate_size"]),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            context=context,
            rope_theta=float(config.get("rope_theta") or rope.get("rope_theta") or 10000.0),
            rms_eps=float(config.get("rms_norm_eps") or 1e-6),
            vocab=int(config["vocab_size"]),
            tied=bool(config.get("tie_word_embeddings", False)),
        )

    def metadata(self, name: str) -> list[Metadata]:
        arch, u32, f32 = self.architecture, gguf.GGUFValueType.UINT32, gguf.GGUFValueType.FLOAT32
        values: list[tuple[str, Any, gguf.GGUFValueType]] = [
            ("general.name", name, gguf.GGUFValueType.STRING),
            ("general.file_type", FLOAT16_FILE, u32),
            (f"{arch}.context_length", self.context, u32),
            (f"{arch}.embedding_length", self.hidden, u32),
            (f"{arch}.block_count", self.layers, u32),
            (f"{arch}.feed_forward_length", self.intermediate, u32),
            (f"{arch}.attention.head_count", self.heads, u32),
            (f"{arch}.attention.head_count_kv", self.kv_heads, u32),
            (f"{arch}.attention.key_length", self.head_dim, u32),
            (f"{arch}.attention.value_length", self.head_dim, u32),
            (f"{arch}.rope.dimension_count", self.head_dim, u32),
            (f"{arch}.rope.freq_base", self.rope_theta, f32),
            (f"{arch}.attention.layer_norm_rms_epsilon", self.rms_eps, f32),
            (f"{arch}.vocab_size", self.vocab, u32),
        ]
        return [Metadata(key, value, kind) for key, value, kind in values]


def _unsupported(model_id: str, why: str) -> EngineFailure:
    return EngineFailure(
        f"Model '{model_id}' cannot run on the openvino engine: {why}. Serve it with the transformers "
        'engine (engine = "transformers") or vLLM.'
    )


def gguf_name(hf_name: str) -> str | None:
    """The GGUF name of a Hugging Face tensor; None for tensors the file does not keep."""
    if hf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[hf_name]
    if _IGNORED.search(hf_name):
        return None
    match = _LAYER_NAME.match(hf_name)
    if match is None or match.group(2) not in _LAYER_PARTS:
        raise ValueError(hf_name)
    return f"blk.{match.group(1)}.{_LAYER_PARTS[match.group(2)]}.{match.group(3)}"


def rotary_permute(values: np.ndarray[Any, Any], heads: int) -> np.ndarray[Any, Any]:
    """llama.cpp's layout of a q or k projection: each head's two rotary halves interleaved."""
    return (
        values.reshape(heads, 2, values.shape[0] // heads // 2, *values.shape[1:])
        .swapaxes(1, 2)
        .reshape(values.shape)
    )


def convert_hf(folder: Path, target: Path, model_id: str, progress: Progress) -> None:
    """Write the model in `folder` as a float16 GGUF file at `target`."""
    from safetensors import safe_open  # reads bfloat16 through torch

    shape = HFShape.read(folder, model_id)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise _unsupported(model_id, f"'{folder}' holds no .safetensors weights")
    handles = {path: safe_open(str(path), framework="pt") for path in files}
    where: dict[str, tuple[Path, str]] = {}
    for path, handle in handles.items():
        for hf_name in handle.keys():  # noqa: SIM118 - safetensors handles are not mappings
            try:
                name = gguf_name(hf_name)
            except ValueError:
                why = f"it has a tensor this converter does not know: {hf_name}"
                raise _unsupported(model_id, why) from None
            if name is not None and not (shape.tied and name == "output.weight"):
                where[name] = (path, hf_name)
    plans = [_plan(name, handles[path], hf_name) for name, (path, hf_name) in where.items()]

    def produce(plan: TensorPlan) -> np.ndarray[Any, Any]:
        path, hf_name = where[plan.name]
        values = handles[path].get_tensor(hf_name).float().numpy()
        if shape.architecture == "llama" and ".attn_q." in plan.name:
            return rotary_permute(values, shape.heads)
        if shape.architecture == "llama" and ".attn_k." in plan.name:
            return rotary_permute(values, shape.kv_heads)
        return values

    write_gguf(target, shape.architecture, shape.metadata(model_id), plans, produce, progress)


def _plan(name: str, handle: Any, hf_name: str) -> TensorPlan:
    dims = tuple(int(size) for size in handle.get_slice(hf_name).get_shape())
    return TensorPlan(name, dims, tensor_type(dims))
