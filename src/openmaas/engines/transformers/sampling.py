"""Choosing the next token for every row of the batch at once, each row with its own settings.

Per row: presence and frequency penalties (OpenAI's, over the tokens generated so far), the repetition
penalty (multiplicative, as in Hugging Face and vLLM, over the prompt's and the answer's tokens), an optional
logits hook (the place for a token mask from constrained decoding), then greedy (temperature 0 or
top_k 1) or sampling: temperature, top-k, top-p (top-p over the top-k renormalized, as in Hugging Face
and vLLM), and inverse-CDF sampling driven by one uniform number per row per token. That number comes
from the request's own random generator, so a seed gives the same tokens whatever else is in the batch.

Sorting the whole vocabulary is slow on CPU (tens of milliseconds for a batch), so top-k / top-p work on
`topk` candidates: a few dozen first, more only for rows whose nucleus is not covered yet (exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

LogitsHook = Callable[[Sequence[int], torch.Tensor], None]
"""Called with the tokens generated so far and the row's logits (1-D, float32) to change in place."""

_FIRST_CANDIDATES = 64


@dataclass(frozen=True, slots=True)
class RowSampling:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logits_hook: LogitsHook | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0 or self.top_k == 1

    @property
    def filtered(self) -> bool:
        return not self.greedy and (self.top_k > 0 or self.top_p < 1.0)

    @property
    def penalized(self) -> bool:
        return self.presence_penalty != 0.0 or self.frequency_penalty != 0.0 or self.repeats_penalized

    @property
    def repeats_penalized(self) -> bool:
        return self.repetition_penalty != 1.0


class BatchSampler:
    """Holds the per-row settings and generated-token counts of the rows of one batch."""

    def __init__(self, vocab_size: int, max_rows: int, device: torch.device) -> None:
        self.vocab_size = vocab_size
        self.device = device
        self.counts = torch.zeros(max_rows, vocab_size, dtype=torch.float32, device=device)
        #: Which tokens each row's prompt holds (for the repetition penalty).
        self.in_prompt = torch.zeros(max_rows, vocab_size, dtype=torch.bool, device=device)
        self._rows: list[RowSampling] = []
        self._penalized = False

    def configure(self, rows: Sequence[RowSampling]) -> None:
        """The settings of rows 0..len(rows)-1, after the batch changed."""
        self._rows = list(rows)
        self._penalized = any(row.penalized for row in self._rows)

    def reset_row(self, row: int, prompt_ids: Sequence[int] = ()) -> None:
        self.counts[row].zero_()
        self.in_prompt[row].zero_()
        if prompt_ids:
            ids = torch.tensor(list(prompt_ids), dtype=torch.long, device=self.device)
            self.in_prompt[row, ids.clamp_(0, self.vocab_size - 1)] = True

    def move_row(self, source: int, target: int) -> None:
        self.counts[target] = self.counts[source]
        self.in_prompt[target] = self.in_prompt[source]

    def record(self, first_row: int, tokens: torch.Tensor) -> None:
        """Count the tokens just chosen for rows first_row.. (only needed while some row is penalized)."""
        if self._penalized:
            rows = torch.arange(first_row, first_row + tokens.shape[0], device=self.device)
            self.counts.index_put_(
                (rows, tokens), torch.ones_like(tokens, dtype=torch.float32), accumulate=True
            )

    def sample(
        self,
        logits: torch.Tensor,
        first_row: int,
        uniforms: Sequence[float],
        histories: Sequence[Sequence[int]],
    ) -> torch.Tensor:
        """Next tokens for rows first_row.. given their logits `[n, vocab]` (float32, changed in place).

        `uniforms[i]` is row i's random number in [0, 1) (ignored for greedy rows); `histories[i]` its
        generated tokens, for logits hooks.
        """
        rows = self._rows[first_row : first_row + logits.shape[0]]
        if self._penalized:
            self._apply_penalties(logits, first_row, rows)
        for index, row in enumerate(rows):
            if row.logits_hook is not None:
                row.logits_hook(histories[index], logits[index])
        tokens = logits.argmax(dim=-1)
        sampled = [i for i, row in enumerate(rows) if not row.greedy]
        if not sampled:
            return tokens
        plain = [i for i in sampled if not rows[i].filtered]
        filtered = [i for i in sampled if rows[i].filtered]
        if plain:
            tokens[plain] = self._sample_plain(
                logits[plain], [rows[i] for i in plain], [uniforms[i] for i in plain]
            )
        if filtered:
            tokens[filtered] = self._sample_filtered(
                logits[filtered], [rows[i] for i in filtered], [uniforms[i] for i in filtered]
            )
        return tokens

    def _apply_penalties(self, logits: torch.Tensor, first_row: int, rows: Sequence[RowSampling]) -> None:
        counts = self.counts[first_row : first_row + logits.shape[0]]
        frequency = torch.tensor([r.frequency_penalty for r in rows], device=self.device)[:, None]
        presence = torch.tensor([r.presence_penalty for r in rows], device=self.device)[:, None]
        logits -= counts * frequency + (counts > 0).to(logits.dtype) * presence
        if any(r.repeats_penalized for r in rows):
            seen = (counts > 0) | self.in_prompt[first_row : first_row + logits.shape[0]]
            penalty = torch.tensor([r.repetition_penalty for r in rows], device=self.device)[:, None]
            penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
            logits.copy_(torch.where(seen, penalized, logits))

    def _scaled_probs(self, logits: torch.Tensor, rows: Sequence[RowSampling]) -> torch.Tensor:
        temperature = torch.tensor([r.temperature for r in rows], device=self.device)[:, None]
        return torch.softmax(logits / temperature, dim=-1)

    def _uniform(self, uniforms: Sequence[float]) -> torch.Tensor:
        return torch.tensor(uniforms, dtype=torch.float32, device=self.device)[:, None]

    def _sample_plain(
        self, logits: torch.Tensor, rows: Sequence[RowSampling], uniforms: Sequence[float]
    ) -> torch.Tensor:
        cdf = self._scaled_probs(logits, rows).cumsum_(dim=-1)
        picks = torch.searchsorted(cdf, self._uniform(uniforms) * cdf[:, -1:], right=True)
        return picks.clamp_(max=self.vocab_size - 1)[:, 0]

    def _sample_filtered(
        self, logits: torch.Tensor, rows: Sequence[RowSampling], uniforms: Sequence[float]
    ) -> torch.Tensor:
        probs = self._scaled_probs(logits, rows)
        # At least the most likely token is always kept, whatever top_p says.
        top_p = torch.tensor([r.top_p for r in rows], device=self.device)[:, None].clamp_(min=1e-6)
        top_k = torch.tensor([r.top_k for r in rows], device=self.device)[:, None]
        candidates = min(self.vocab_size, max(_FIRST_CANDIDATES, *(r.top_k for r in rows)))
        while True:
            values, indices = torch.topk(probs, candidates, dim=-1)
            uncovered = (top_k == 0) & (values.sum(dim=-1, keepdim=True) < top_p)
            if candidates == self.vocab_size or not bool(uncovered.any()):
                break
            candidates = min(self.vocab_size, candidates * 4)
        position = torch.arange(candidates, device=self.device)[None, :]
        values = values * ((top_k == 0) | (position < top_k))
        # Top-p over the top-k renormalized; without top-k the candidates' mass is measured against 1.
        total = torch.where(top_k > 0, values.sum(dim=-1, keepdim=True), torch.ones_like(top_p))
        before = (values.cumsum(dim=-1) - values) / total
        values = values * (before < top_p)
        cdf = values.cumsum_(dim=-1)
        picks = torch.searchsorted(cdf, self._uniform(uniforms) * cdf[:, -1:], right=True)
        picks = picks.clamp_(max=candidates - 1)
        return indices.gather(1, picks)[:, 0]
