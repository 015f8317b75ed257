"""The loaded embedding model: tokenizes inputs, and encodes batches of token ids into vectors.

Everything here blocks (torch); the engine calls it from worker threads. Text inputs get the model's
prompt and special tokens; token-id inputs get the same prompt and special tokens around them, so the
ids of a text (its tokenizer's output without special tokens) embed exactly as the text does. Batches
are padded on the right to their longest input, run through the transformer, pooled (see `layout.py`),
projected by any `Dense` modules and normalised if the model does; vectors come back as float32 numpy.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from openmaas.domain.embeddings import EmbeddingInput
from openmaas.engines.embeddings.layout import Layout, LayoutError
from openmaas.engines.embeddings.options import EmbeddingOptions, PoolingMode

log = logging.getLogger(__name__)

_ACTIVATIONS = ("Identity", "Tanh", "ReLU", "GELU", "Sigmoid", "SiLU")


@dataclass
class SentenceEncoder:
    tokenizer: Any
    model: Any
    layout: Layout
    dense: list[torch.nn.Sequential]
    device: torch.device
    max_input_tokens: int
    vocab_size: int
    pad_id: int
    dimension: int
    prefix: list[int]  # special tokens and prompt before a token-id input
    suffix: list[int]

    def tokenize(self, inputs: Sequence[EmbeddingInput]) -> list[list[int]]:
        """Token ids with special tokens for each input, unchecked (see the engine for the limits)."""
        texts = [self._prepared(x) for x in inputs if isinstance(x, str)]
        encoded = iter(self._ids(texts, special=True) if texts else [])
        return [next(encoded) if isinstance(x, str) else [*self.prefix, *x, *self.suffix] for x in inputs]

    def _prepared(self, text: str) -> str:
        text = self.layout.prompt + text
        return text.lower() if self.layout.lower_case else text

    def _ids(self, texts: list[str], *, special: bool) -> list[list[int]]:
        batch = self.tokenizer(
            texts,
            add_special_tokens=special,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [list(ids) for ids in batch["input_ids"]]

    def encode(self, batch: Sequence[Sequence[int]]) -> NDArray[np.float32]:
        """One forward pass: a `(len(batch), dimension)` float32 matrix."""
        lengths = [len(ids) for ids in batch]
        ids = np.full((len(batch), max(lengths)), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, sequence in enumerate(batch):
            ids[row, : lengths[row]] = sequence
            mask[row, : lengths[row]] = 1
        input_ids = torch.from_numpy(ids).to(self.device)
        attention = torch.from_numpy(mask).to(self.device)
        with torch.inference_mode():
            states = self.model(input_ids=input_ids, attention_mask=attention)[0]
            vectors = pool(states.float(), attention, self.layout.pooling)
            for layer in self.dense:
                vectors = layer(vectors)
            if self.layout.normalize:
                vectors = functional.normalize(vectors, p=2, dim=-1)
            return np.ascontiguousarray(vectors.float().cpu().numpy())


def pool(states: torch.Tensor, mask: torch.Tensor, modes: Sequence[PoolingMode]) -> torch.Tensor:
    """Token states `(batch, tokens, hidden)` → sentence vectors, modes concatenated in order."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    counts = torch.clamp(weights.sum(dim=1), min=1e-9)
    pooled = []
    for mode in modes:
        if mode == "cls":
            pooled.append(states[:, 0])
        elif mode == "max":
            pooled.append(states.masked_fill(weights == 0, float("-inf")).max(dim=1).values)
        elif mode == "mean":
            pooled.append((states * weights).sum(dim=1) / counts)
        elif mode == "mean_sqrt_len_tokens":
            pooled.append((states * weights).sum(dim=1) / torch.sqrt(counts))
        else:  # lasttoken, with right padding
            last = mask.sum(dim=1).clamp(min=1) - 1
            pooled.append(states[torch.arange(states.shape[0], device=states.device), last])
    return torch.cat(pooled, dim=-1)


def load_encoder(layout: Layout, options: EmbeddingOptions, context_length: int | None) -> SentenceEncoder:
    """Blocking: load the tokenizer, the transformer and any `Dense` modules of `layout`."""
    from transformers import AutoModel, AutoTokenizer

    if options.threads:
        torch.set_num_threads(options.threads)
    device = _device(options.device)
    folder = layout.transformer_dir
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, dtype=getattr(torch, options.dtype), local_files_only=True)
    model = model.to(device).eval()
    config = model.config.get_text_config()
    max_tokens = context_length or layout.max_seq_length or _model_limit(config, tokenizer)
    # We enforce the limit ourselves (a clear 400); the tokenizer's own warning would only add noise.
    tokenizer.model_max_length = sys.maxsize
    dense = [_dense(path, device) for path in layout.dense_dirs]
    hidden = int(config.hidden_size) * len(layout.pooling)
    dimension = cast(torch.nn.Linear, dense[-1][0]).out_features if dense else hidden
    specials, core = _special_tokens(tokenizer)
    prompt_ids = _prompt_ids(tokenizer, layout)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return SentenceEncoder(
        tokenizer=tokenizer,
        model=model,
        layout=layout,
        dense=dense,
        device=device,
        max_input_tokens=max_tokens,
        vocab_size=int(config.vocab_size),
        pad_id=int(pad_id),
        dimension=dimension,
        prefix=[*specials[:core], *prompt_ids],
        suffix=specials[core:],
    )


def _special_tokens(tokenizer: Any) -> tuple[list[int], int]:
    """The special tokens the tokenizer wraps a text in, and where the text goes among them."""
    bare = list(tokenizer("hello", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("hello", add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start] + full[start + len(bare) :], start
    log.warning("cannot tell where the tokenizer puts special tokens; token-id inputs get none")
    return [], 0


def _prompt_ids(tokenizer: Any, layout: Layout) -> list[int]:
    if not layout.prompt:
        return []
    prompt = layout.prompt.lower() if layout.lower_case else layout.prompt
    return list(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def _model_limit(config: Any, tokenizer: Any) -> int:
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    usable = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    return min(usable) if usable else 512


def _dense(folder: Path, device: torch.device) -> torch.nn.Sequential:
    import json

    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("use_residual"):
        raise LayoutError(f"{folder}: Dense modules with a residual connection are not supported")
    activation = str(config.get("activation_function", "torch.nn.modules.activation.Tanh")).rsplit(".", 1)[-1]
    if activation not in _ACTIVATIONS:
        raise LayoutError(f"{folder}: Dense activation {activation!r} is not supported ({_ACTIVATIONS})")
    linear = torch.nn.Linear(
        int(config["in_features"]), int(config["out_features"]), bias=config.get("bias", True)
    )
    weights_file = folder / "model.safetensors"
    if weights_file.is_file():
        state = load_file(weights_file)
    else:
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    linear.load_state_dict({key.removeprefix("linear."): value for key, value in state.items()})
    return torch.nn.Sequential(linear, getattr(torch.nn, activation)()).to(device).eval()


def _device(choice: str) -> torch.device:
    if choice != "auto":
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
