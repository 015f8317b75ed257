"""The batched KV cache behind continuous batching: preallocated, left-padded, one shared column clock.

Per layer, keys and values live in one tensor `[max_rows, kv_heads, capacity, head_dim]`. Active requests
occupy rows `0..rows-1`. All rows write their next token into the same column, `end`; a row's tokens are
the columns `[first_col[row], end)`, and a boolean `mask[row, column]` says which columns hold its real
tokens (the rest are padding, never attended to). Attention reads the view `[start, end)`, where `start`
is the first column any row uses, so padding left behind by departed rows costs nothing.

- A request joins by prefilling into free rows: its prompt is written to the columns just before `end`,
  left-padded to the longest prompt joining with it. If `end` is smaller than the prompt, the used region
  shifts right first (a copy of what is cached, rare after the first steps).
- A request leaves by moving the last row into its row (one row's copy), so active rows stay a prefix.
- Capacity grows geometrically; when `end` reaches it and the used region is small, the region is moved
  back to column 0 instead. No per-step concatenation and no reallocation per step.

`update` is the `transformers` `Cache` hook the attention layers call; the engine passes its own 4-D mask
and position ids, so no other part of the `Cache` interface is used.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache

_MIN_CAPACITY = 256
_KEEP_CAPACITY = 4096  # columns kept allocated while idle


class BatchKVCache(Cache):
    def __init__(
        self,
        *,
        layers: int,
        kv_heads: int,
        head_dim: int,
        max_rows: int,
        max_columns: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        # Cache.__init__ is not called: it sets up per-layer objects this cache does not use. The mask
        # helpers of transformers look at `layers`, which must exist (and be empty).
        self.layers: list[Any] = []
        self._shape = (max_rows, kv_heads, head_dim)
        self._dtype, self._device = dtype, device
        self.num_layers = layers
        self.max_rows = max_rows
        self.max_columns = max_columns
        self.rows = 0
        self.start = 0
        self.end = 0
        self.first_col: list[int] = []
        self.capacity = 0
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.mask = torch.zeros(max_rows, 0, dtype=torch.bool, device=device)
        self._allocate(min(_MIN_CAPACITY, max_columns + 1))
        # What the next forward writes: rows [row_lo, row_hi), at column `write_at`, viewing from `view_from`.
        self._row_lo, self._row_hi, self._write_at, self._view_from = 0, 0, 0, 0

    # ---- the transformers hook ----------------------------------------------------------------------

    def update(
        self,
        key_states: torch.Tensor,
        value_states: torch.Tensor,
        layer_idx: int,
        *args: object,
        **kw: object,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi, at = self._row_lo, self._row_hi, self._write_at
        stop = at + key_states.shape[2]
        keys, values = self.keys[layer_idx], self.values[layer_idx]
        keys[lo:hi, :, at:stop] = key_states
        values[lo:hi, :, at:stop] = value_states
        return keys[lo:hi, :, self._view_from : stop], values[lo:hi, :, self._view_from : stop]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.end - self.start

    # ---- decode -------------------------------------------------------------------------------------

    def prepare_decode(self) -> torch.Tensor:
        """Open column `end` for every active row; return the attention mask `[rows, 1, 1, kv]`."""
        self._place(0)
        self.mask[: self.rows, self.end] = True
        self._row_lo, self._row_hi, self._write_at, self._view_from = 0, self.rows, self.end, self.start
        return self.mask[: self.rows, self.start : self.end + 1][:, None, None, :]

    def finish_decode(self) -> None:
        self.end += 1

    # ---- joining ------------------------------------------------------------------------------------

    def prepare_prefill(self, lengths: list[int]) -> int:
        """Reserve rows for prompts of `lengths`, left-padded to the longest, ending at column `end`.

        Returns the first new row; the next forward writes the prompts' keys and values there.
        """
        width = max(lengths)
        if self.rows + len(lengths) > self.max_rows:
            raise RuntimeError("no free rows in the KV cache")
        if width > self.max_columns:
            raise RuntimeError("prompt longer than the cache")
        if self.rows == 0:
            self.reset()
        self._place(width)
        lo, at = self.rows, self.end - width
        hi = lo + len(lengths)
        self.mask[lo:hi] = False
        for offset, length in enumerate(lengths):
            self.mask[lo + offset, self.end - length : self.end] = True
            self.first_col.append(self.end - length)
        self.rows = hi
        self._recompute_start()
        self._row_lo, self._row_hi, self._write_at, self._view_from = lo, hi, at, at
        return lo

    def abort_prefill(self, lo: int) -> None:
        """Give back rows reserved by a prefill that failed."""
        self.rows = lo
        del self.first_col[lo:]
        self._recompute_start()

    # ---- leaving ------------------------------------------------------------------------------------

    def remove_row(self, row: int) -> None:
        """Drop `row`; the last row moves into its place (the caller mirrors the move)."""
        last = self.rows - 1
        if row != last:
            span = slice(self.start, self.end)
            for tensor in (*self.keys, *self.values):
                tensor[row, :, span] = tensor[last, :, span]
            self.mask[row] = self.mask[last]
            self.first_col[row] = self.first_col[last]
        self.first_col.pop()
        self.rows = last
        self._recompute_start()

    def reset(self) -> None:
        """Forget every row. Buffers grown for long contexts are given back; the usual size is kept."""
        self.rows = self.start = self.end = 0
        self.first_col.clear()
        if self.capacity > _KEEP_CAPACITY:
            self._allocate(min(_MIN_CAPACITY, self.max_columns + 1))
        else:
            self.mask.zero_()

    # ---- layout -------------------------------------------------------------------------------------

    def _recompute_start(self) -> None:
        if self.rows == 0:
            self.start = self.end = 0
        else:
            self.start = min(self.first_col)

    def _place(self, min_end: int) -> None:
        """Make sure `end >= min_end` and column `end` exists, moving the used columns if needed."""
        if min_end <= self.end < self.capacity:
            return
        used = self.end - self.start
        new_start = max(0, min_end - used)
        capacity = self.capacity
        if new_start + used + 1 > capacity:
            capacity = min(max(2 * capacity, new_start + used + 1), self.max_columns + 1)
            if new_start + used + 1 > capacity:
                raise RuntimeError("the KV cache cannot hold a row longer than the context")
        self._move(new_start, capacity)

    def _move(self, new_start: int, capacity: int) -> None:
        """Place the used columns `[start, end)` at `new_start` in buffers of `capacity` columns."""
        rows, old_start, used = self.rows, self.start, self.end - self.start
        old_keys, old_values, old_mask = self.keys, self.values, self.mask
        if capacity != self.capacity:
            self._allocate(capacity)
        if rows:
            for source, target in zip((*old_keys, *old_values), (*self.keys, *self.values), strict=True):
                region = source[:rows, :, old_start : old_start + used]
                target[:rows, :, new_start : new_start + used] = (
                    region.clone() if target is source else region
                )
            region_mask = old_mask[:rows, old_start : old_start + used].clone()
            self.mask[:rows] = False
            self.mask[:rows, new_start : new_start + used] = region_mask
        delta = new_start - old_start
        self.start, self.end = new_start, new_start + used
        self.first_col = [col + delta for col in self.first_col]

    def _allocate(self, capacity: int) -> None:
        rows, heads, dim = self._shape
        shape = (rows, heads, capacity, dim)
        self.keys = [
            torch.zeros(shape, dtype=self._dtype, device=self._device) for _ in range(self.num_layers)
        ]
        self.values = [
            torch.zeros(shape, dtype=self._dtype, device=self._device) for _ in range(self.num_layers)
        ]
        self.mask = torch.zeros(rows, capacity, dtype=torch.bool, device=self._device)
        self.capacity = capacity
