"""The batched sampler and a job's token-to-event logic, without a model."""

from __future__ import annotations

import random
from collections import Counter

import torch

from openmaas.domain.chat import Finish, TextDelta, Usage
from openmaas.engines.transformers.job import Job
from openmaas.engines.transformers.sampling import BatchSampler, RowSampling

VOCAB = 300


def sampler_for(*rows: RowSampling) -> BatchSampler:
    sampler = BatchSampler(VOCAB, max_rows=8, device=torch.device("cpu"))
    sampler.configure(rows)
    return sampler


def peaked_logits(rows: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, VOCAB, generator=generator) * 3


def test_greedy_rows_take_the_argmax() -> None:
    logits = peaked_logits(2)
    sampler = sampler_for(RowSampling(temperature=0.0), RowSampling(temperature=0.7, top_k=1))
    tokens = sampler.sample(logits.clone(), 0, [0.5, 0.5], [[], []])
    assert tokens.tolist() == logits.argmax(-1).tolist()


def test_same_uniforms_give_the_same_tokens_and_rows_are_independent() -> None:
    logits = peaked_logits(3)
    rows = [RowSampling(temperature=1.0), RowSampling(temperature=0.5, top_p=0.9), RowSampling(top_k=5)]
    sampler = sampler_for(*rows)
    first = sampler.sample(logits.clone(), 0, [0.1, 0.2, 0.3], [[], [], []])
    again = sampler.sample(logits.clone(), 0, [0.1, 0.2, 0.3], [[], [], []])
    assert first.tolist() == again.tolist()
    alone = sampler_for(rows[1]).sample(logits[1:2].clone(), 0, [0.2], [[]])
    assert alone.tolist() == first[1:2].tolist()


def draw(row: RowSampling, logits: torch.Tensor, times: int = 3000) -> Counter[int]:
    sampler = sampler_for(row)
    rng = random.Random(5)
    return Counter(int(sampler.sample(logits.clone(), 0, [rng.random()], [[]])[0]) for _ in range(times))


def test_plain_sampling_follows_the_distribution() -> None:
    logits = torch.full((1, VOCAB), -30.0)
    logits[0, [3, 7, 11]] = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    counts = draw(RowSampling(temperature=1.0), logits)
    assert set(counts) == {3, 7, 11}
    assert abs(counts[3] / 3000 - 0.5) < 0.04 and abs(counts[11] / 3000 - 0.2) < 0.04


def test_top_k_keeps_the_k_most_likely() -> None:
    logits = peaked_logits(1, seed=3)
    allowed = set(logits[0].topk(4).indices.tolist())
    assert set(draw(RowSampling(top_k=4), logits)) <= allowed


def test_top_p_keeps_the_nucleus_even_beyond_the_first_candidates() -> None:
    # A flat distribution: the 0.5 nucleus is 150 tokens, more than the first topk candidates.
    logits = torch.zeros(1, VOCAB)
    logits[0, :150] = 0.001  # these 150 come first in the nucleus
    counts = draw(RowSampling(top_p=0.5), logits, times=2000)
    assert set(counts) <= set(range(151))
    assert len(counts) > 100


def test_top_p_is_measured_on_the_top_k_renormalized() -> None:
    logits = torch.full((1, VOCAB), -30.0)
    logits[0, [1, 2, 3]] = torch.log(torch.tensor([0.4, 0.35, 0.25]))
    # Within top-2 the renormalized masses are 0.53 and 0.47: top_p 0.5 keeps only token 1.
    assert set(draw(RowSampling(top_k=2, top_p=0.5), logits)) == {1}
    assert set(draw(RowSampling(top_k=2, top_p=0.6), logits)) == {1, 2}


def test_temperature_sharpens() -> None:
    logits = torch.full((1, VOCAB), -30.0)
    logits[0, [3, 7]] = torch.log(torch.tensor([0.6, 0.4]))
    cold = draw(RowSampling(temperature=0.1), logits)
    assert cold[3] / 3000 > 0.95


def test_penalties_apply_to_generated_tokens() -> None:
    logits = torch.zeros(2, VOCAB)
    logits[:, 10] = 1.0
    sampler = sampler_for(RowSampling(temperature=0.0, presence_penalty=2.0), RowSampling(temperature=0.0))
    sampler.reset_row(0)
    sampler.reset_row(1)
    sampler.record(0, torch.tensor([10, 10]))
    tokens = sampler.sample(logits.clone(), 0, [0.0, 0.0], [[10], [10]])
    assert tokens[0] != 10 and tokens[1] == 10
    frequency = sampler_for(RowSampling(temperature=0.0, frequency_penalty=0.4))
    frequency.reset_row(0)
    frequency.record(0, torch.tensor([10]))
    assert frequency.sample(logits[:1].clone(), 0, [0.0], [[10]])[0] == 10  # 1.0 - 0.4 still wins
    frequency.record(0, torch.tensor([10]))
    frequency.record(0, torch.tensor([10]))
    assert frequency.sample(logits[:1].clone(), 0, [0.0], [[10] * 3])[0] != 10  # 1.0 - 1.2 loses


def test_logits_hook_masks_tokens() -> None:
    def only_even(history, row_logits: torch.Tensor) -> None:
        row_logits[1::2] = float("-inf")

    logits = peaked_logits(1, seed=9)
    counts = draw(RowSampling(logits_hook=only_even), logits, times=300)
    assert all(token % 2 == 0 for token in counts)


def decode_chars(ids) -> str:
    return "".join(chr(ord("a") + i) for i in ids)


def job(**kwargs) -> Job:
    defaults = {"prompt_ids": [1, 2, 3], "sampling": RowSampling(), "max_new_tokens": 10}
    made = Job(**{**defaults, **kwargs})
    made.begin(decode_chars)
    return made


def test_end_of_sequence_finishes_with_stop_and_counts_the_token() -> None:
    current = job()
    assert current.advance(0, {25}) == [TextDelta("a")]
    assert current.advance(25, {25}) == [Finish("stop"), Usage(3, 2)]
    assert current.finished


def test_max_new_tokens_finishes_with_length() -> None:
    current = job(max_new_tokens=2)
    current.advance(0, {25})
    assert current.advance(1, {25}) == [TextDelta("b"), Finish("length"), Usage(3, 2)]


def test_stop_string_held_back_then_released_at_the_end() -> None:
    current = job(max_new_tokens=3, stops=("bcd",))
    assert current.advance(0, {25}) == [TextDelta("a")]
    assert current.advance(1, {25}) == []  # "b" could start the stop
    assert current.advance(2, {25}) == [TextDelta("bc"), Finish("length"), Usage(3, 3)]


def test_stop_string_ends_generation_and_is_reported() -> None:
    current = job(stops=("bc",))
    current.advance(0, {25})
    current.advance(1, {25})
    assert current.advance(2, {25}) == [Finish("stop", stop_sequence="bc"), Usage(3, 3)]


def test_seeded_jobs_draw_the_same_numbers() -> None:
    first, second = job(seed=4), job(seed=4)
    assert [first.uniform() for _ in range(5)] == [second.uniform() for _ in range(5)]


def test_a_whole_answer_is_kept_until_the_end() -> None:
    current = job(max_new_tokens=3, whole=True)
    assert current.advance(0, {25}) == []
    assert current.advance(1, {25}) == []
    assert current.advance(25, {25}) == [TextDelta("ab"), Finish("stop"), Usage(3, 3)]
