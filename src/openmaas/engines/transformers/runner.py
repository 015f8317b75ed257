"""One forward pass of the model over the batch: prefilling newcomers, or decoding one token per row.

The runner owns the `BatchKVCache` and, per row, the position of the next token and the last token
chosen (the input of the next decode step). It hands the model explicit position ids and a ready 4-D
additive attention mask, so transformers builds no masks of its own; the logits come back as float32
`[rows, vocab]` for the sampler. Only the generation thread calls it.

A prompt with images (`prefill_vision`) is prefilled alone, with its pixel inputs and its own positions
(see `vision.py`); the row then decodes with the others.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from openmaas.engines.transformers.kvcache import BatchKVCache

if TYPE_CHECKING:
    from openmaas.engines.transformers.vision import VisionPrompt


class ModelRunner:
    def __init__(self, model: Any, *, max_rows: int, max_columns: int, pad_id: int) -> None:
        config = model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = text_config.num_attention_heads
        self.model = model
        self.device: torch.device = model.device
        self.dtype: torch.dtype = model.dtype
        self.pad_id = pad_id
        self.cache = BatchKVCache(
            layers=text_config.num_hidden_layers,
            kv_heads=getattr(text_config, "num_key_value_heads", None) or heads,
            head_dim=getattr(text_config, "head_dim", None) or text_config.hidden_size // heads,
            max_rows=max_rows,
            max_columns=max_columns,
            dtype=self.dtype,
            device=self.device,
        )
        self.positions = torch.zeros(max_rows, dtype=torch.long, device=self.device)
        self.last_tokens = torch.zeros(max_rows, dtype=torch.long, device=self.device)
        self._keeps_last = "logits_to_keep" in inspect.signature(model.forward).parameters
        self._floor = torch.finfo(self.dtype).min

    @property
    def rows(self) -> int:
        return self.cache.rows

    def prefill(self, prompts: Sequence[Sequence[int]]) -> tuple[int, torch.Tensor]:
        """Add `prompts` as new rows; return the first new row and their next-token logits."""
        lengths = [len(prompt) for prompt in prompts]
        width = max(lengths)
        first = self.cache.prepare_prefill(lengths)
        try:
            ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
            for index, prompt in enumerate(prompts):
                ids[index, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            pads = [width - length for length in lengths]
            positions = (torch.arange(width)[None, :] - torch.tensor(pads)[:, None]).clamp_(min=0)
            mask = self._prefill_mask(width, pads)
            logits = self._forward(ids.to(self.device), mask, positions.to(self.device), keep_last=True)
        except BaseException:
            self.cache.abort_prefill(first)
            raise
        self.positions[first : first + len(prompts)] = torch.tensor(lengths, device=self.device)
        return first, logits

    def prefill_vision(self, prompt: VisionPrompt) -> tuple[int, torch.Tensor]:
        """Add a prompt with images as a new row; return the row and its next-token logits."""
        length = len(prompt.ids)
        row = self.cache.prepare_prefill([length])
        try:
            ids = torch.tensor([prompt.ids], dtype=torch.long, device=self.device)
            positions = prompt.positions if prompt.positions is not None else torch.arange(length)[None, :]
            inputs = {
                name: value.to(self.device, dtype=self.dtype if value.is_floating_point() else value.dtype)
                for name, value in prompt.inputs.items()
            }
            mask = self._prefill_mask(length, [0])
            logits = self._forward(ids, mask, positions.to(self.device), keep_last=True, **inputs)
        except BaseException:
            self.cache.abort_prefill(row)
            raise
        self.positions[row] = prompt.next_position
        return row, logits

    def decode(self) -> torch.Tensor:
        """Feed every row its last token; return the logits `[rows, vocab]`."""
        rows = self.cache.rows
        allowed = self.cache.prepare_decode()
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=self.device)
        mask.masked_fill_(~allowed, self._floor)
        tokens, positions = self.last_tokens[:rows, None], self.positions[:rows, None]
        logits = self._forward(tokens, mask, positions, keep_last=False)
        self.cache.finish_decode()
        self.positions[:rows] += 1
        return logits

    def set_last_tokens(self, first_row: int, tokens: torch.Tensor) -> None:
        self.last_tokens[first_row : first_row + tokens.shape[0]] = tokens

    def remove_row(self, row: int) -> None:
        last = self.cache.rows - 1
        self.cache.remove_row(row)
        if row != last:
            self.positions[row] = self.positions[last]
            self.last_tokens[row] = self.last_tokens[last]

    def reset(self) -> None:
        self.cache.reset()

    def _prefill_mask(self, width: int, pads: list[int]) -> torch.Tensor:
        """Additive causal mask `[rows, 1, width, width]`; a row's left padding is hidden from its tokens.
        Padding positions attend to themselves only, so they stay finite (nothing attends to them)."""
        causal = torch.full((width, width), self._floor, dtype=self.dtype, device=self.device).triu_(1)
        if not any(pads):
            return causal.expand(len(pads), 1, width, width)
        mask = causal.repeat(len(pads), 1, 1)
        for row, pad in enumerate(pads):
            if pad:
                mask[row, :, :pad] = self._floor
                mask[row].diagonal()[:pad] = 0.0
        return mask[:, None]

    def _forward(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        *,
        keep_last: bool,
        **inputs: torch.Tensor,
    ) -> torch.Tensor:
        extra = {"logits_to_keep": 1} if keep_last and self._keeps_last else {}
        output = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            **inputs,
            **extra,
        )
        return output.logits[:, -1, :].float()
