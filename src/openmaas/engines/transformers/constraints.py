"""Per-request logits hooks: constrained decoding (a grammar) and the thinking budget.

Both run in the generation thread as a row's `logits_hook(history, logits)`, where `history` is the
tokens the row generated so far and `logits` the row's scores for the next token, changed in place.

- `GrammarHook` feeds each new token to an llguidance matcher and masks every token the grammar does
  not allow next; once the grammar is complete only an end-of-turn token is allowed.
- `BudgetHook` lets a reasoning model think for `budget` tokens, then forces the tokens that close the
  thinking (`</think>` and a blank line), after which the model writes its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import llguidance
import llguidance.hf
import llguidance.torch as llg_torch
import numpy as np
import torch

LogitsHook = Callable[[Sequence[int], torch.Tensor], None]


class GrammarHook:
    def __init__(self, tokenizer: llguidance.LLTokenizer, grammar: str) -> None:
        self._matcher = llguidance.LLMatcher(tokenizer, grammar)
        self._mask = llg_torch.allocate_token_bitmask(1, tokenizer.vocab_size)
        self._consumed = 0

    def __call__(self, history: Sequence[int], logits: torch.Tensor) -> None:
        for token in history[self._consumed :]:
            self._matcher.consume_token(token)
        self._consumed = len(history)
        if self._matcher.is_error():
            return  # cannot happen while the mask is applied; leave the row unconstrained rather than stall
        llg_torch.fill_next_token_bitmask(self._matcher, self._mask, 0)
        # Unpack the bitmask ourselves: llguidance's own kernel is a torch.compile function, which
        # would compile for minutes on a CPU.
        bits = np.unpackbits(self._mask.numpy().view(np.uint8), bitorder="little")
        allowed = torch.from_numpy(bits[: logits.shape[0]].astype(bool))
        if allowed.shape[0] < logits.shape[0]:
            allowed = torch.cat([allowed, torch.zeros(logits.shape[0] - allowed.shape[0], dtype=torch.bool)])
        logits.masked_fill_(~allowed.to(logits.device), float("-inf"))


class BudgetHook:
    """Forces `closing` (token ids) once `budget` tokens were spent inside the thinking."""

    def __init__(
        self, budget: int, closing: Sequence[int], opening: Sequence[int], starts_open: bool
    ) -> None:
        self._budget = budget
        self._closing = list(closing)
        self._opening = list(opening)
        self._starts_open = starts_open

    def _thinking_start(self, history: Sequence[int]) -> int | None:
        if self._starts_open:
            return 0
        size = len(self._opening)
        for start in range(min(len(history) - size + 1, 8)):  # the tag opens the answer, if at all
            if list(history[start : start + size]) == self._opening:
                return start + size
        return None

    def _closed_at(self, history: Sequence[int], start: int) -> bool:
        size = len(self._closing)
        window = list(history[start:])
        return any(window[i : i + size] == self._closing for i in range(len(window) - size + 1))

    def __call__(self, history: Sequence[int], logits: torch.Tensor) -> None:
        start = self._thinking_start(history)
        if start is None or self._closed_at(history, start):
            return
        spent = len(history) - start
        if spent < self._budget:
            return
        # Inside the forced closing: which of its tokens comes next?
        written = 0
        for size in range(min(len(self._closing), spent), 0, -1):
            if list(history[-size:]) == self._closing[:size]:
                written = size
                break
        forced = self._closing[written]
        keep = logits[forced].clone()
        logits.fill_(float("-inf"))
        logits[forced] = keep if torch.isfinite(keep) else 0.0


def chain(hooks: list[LogitsHook]) -> LogitsHook | None:
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def run_all(history: Sequence[int], logits: torch.Tensor) -> None:
        for hook in hooks:
            hook(history, logits)

    return run_all


class Constraints:
    """What one loaded model needs to build hooks: its tokenizer as llguidance sees it (built on first
    use, about a second), and the token ids of its thinking tags."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: frozenset[int]) -> None:
        self._tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._eos_ids = sorted(eos_ids)
        self._llg: llguidance.LLTokenizer | None = None

    def _llg_tokenizer(self) -> llguidance.LLTokenizer:
        if self._llg is None:
            self._llg = llguidance.hf.from_tokenizer(
                self._tokenizer, n_vocab=self._vocab_size, eos_token=self._eos_ids
            )
        return self._llg

    def grammar(self, grammar: str) -> GrammarHook:
        return GrammarHook(self._llg_tokenizer(), grammar)

    def budget(self, budget: int, *, starts_open: bool) -> BudgetHook:
        encode = self._tokenizer.encode
        return BudgetHook(
            budget,
            closing=encode("\n</think>\n\n", add_special_tokens=False),
            opening=encode("<think>", add_special_tokens=False),
            starts_open=starts_open,
        )
