"""The batched KV cache's bookkeeping under random joins, decode steps and leaves (no model)."""

from __future__ import annotations

import random

import torch

from openmaas.engines.transformers.kvcache import BatchKVCache

MAX_COLUMNS = 700


class Harness:
    """Writes a distinct number per token through the cache's `update` and tracks what each row holds."""

    def __init__(self, rows: int = 4) -> None:
        self.cache = BatchKVCache(
            layers=2,
            kv_heads=1,
            head_dim=1,
            max_rows=rows,
            max_columns=MAX_COLUMNS,
            dtype=torch.float32,
            device=torch.device("cpu"),
        )
        self.expected: list[list[float]] = []
        self.counter = 0.0

    def fresh(self, count: int) -> list[float]:
        values = [self.counter + i for i in range(count)]
        self.counter += count
        return values

    def join(self, lengths: list[int]) -> None:
        width = max(lengths)
        first = self.cache.prepare_prefill(lengths)
        assert first == len(self.expected)
        keys = torch.full((len(lengths), 1, width, 1), -1.0)
        for index, length in enumerate(lengths):
            values = self.fresh(length)
            keys[index, 0, width - length :, 0] = torch.tensor(values)
            self.expected.append(values)
        for layer in range(2):
            self.cache.update(keys, keys * 10, layer)

    def step(self) -> None:
        self.cache.prepare_decode()
        values = self.fresh(len(self.expected))
        keys = torch.tensor(values).view(-1, 1, 1, 1)
        for layer in range(2):
            seen, _ = self.cache.update(keys, keys * 10, layer)
            assert seen.shape[2] == self.cache.end + 1 - self.cache.start
        self.cache.finish_decode()
        for row, value in zip(self.expected, values, strict=True):
            row.append(value)

    def leave(self, row: int) -> None:
        self.cache.remove_row(row)
        self.expected[row] = self.expected[-1]
        self.expected.pop()

    def check(self) -> None:
        cache = self.cache
        assert cache.rows == len(self.expected)
        for row, values in enumerate(self.expected):
            columns = cache.mask[row].nonzero().flatten()
            assert columns.tolist() == list(range(cache.end - len(values), cache.end))
            for layer in range(2):
                assert cache.keys[layer][row, 0, columns, 0].tolist() == values
                assert cache.values[layer][row, 0, columns, 0].tolist() == [v * 10 for v in values]
        if self.expected:
            assert cache.start == cache.end - max(len(v) for v in self.expected)
        assert cache.end <= cache.capacity <= MAX_COLUMNS + 1


def test_joining_shifts_the_rows_already_there() -> None:
    harness = Harness()
    harness.join([3])
    harness.step()
    harness.join([10, 2])  # longer than what is cached: everything moves right
    harness.check()
    harness.step()
    harness.check()


def test_leaving_moves_the_last_row_and_trims_padding() -> None:
    harness = Harness()
    harness.join([40])
    harness.join([5, 6])
    harness.step()
    harness.leave(0)  # the longest goes: the view starts later
    harness.check()
    assert harness.cache.end - harness.cache.start == 7


def test_random_traffic_keeps_every_row_intact() -> None:
    rng = random.Random(0)
    harness = Harness()
    for _ in range(1500):
        free = harness.cache.max_rows - len(harness.expected)
        action = rng.random()
        if free and action < 0.08:
            harness.join([rng.randint(1, 120) for _ in range(rng.randint(1, free))])
        elif harness.expected and action < 0.12:
            harness.leave(rng.randrange(len(harness.expected)))
        elif harness.expected:
            for row in range(len(harness.expected) - 1, -1, -1):  # rows at the context limit must end
                if len(harness.expected[row]) >= MAX_COLUMNS:
                    harness.leave(row)
            if harness.expected:
                harness.step()
        harness.check()
    assert harness.counter > 5000


def test_an_idle_cache_gives_back_long_buffers() -> None:
    harness = Harness(rows=1)
    harness.cache.max_columns = 10_000
    harness.join([5000])
    assert harness.cache.capacity > 5000
    harness.leave(0)
    harness.cache.reset()
    assert harness.cache.capacity == 256
