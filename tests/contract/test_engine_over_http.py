"""The real local engines (tiny random-weight model; each test runs on transformers and on OpenVINO)
through the real OpenAI SDK and a real server: stop sequences, max_tokens, seeds, usage, concurrent
requests, and a stream cut by the client."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.contract.conftest import new_token
from tests.servers import ServerProcess

ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about cats."}]
MODEL = "test/tiny"


@pytest.fixture(scope="module")
def client(tiny_server: ServerProcess) -> OpenAI:
    return OpenAI(
        base_url=f"{tiny_server.base_url}/v1", api_key=new_token(tiny_server, "engine-user"), max_retries=0
    )


def greedy(client: OpenAI, max_tokens: int = 24) -> str:
    completion = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=max_tokens
    )
    return completion.choices[0].message.content or ""


def test_max_tokens_and_usage(client: OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_tokens=7)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 7 and completion.usage.prompt_tokens > 5


def test_stop_sequence_is_not_emitted(client: OpenAI) -> None:
    full = greedy(client, 32)
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip(), full
    cut = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_tokens=32, stop=[stop])
    text = cut.choices[0].message.content or ""
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in text and full.startswith(text) and len(text) < len(full)
    streamed = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=32, stop=stop, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text


def test_seed_determinism(client: OpenAI) -> None:
    def sample(seed: int) -> str:
        completion = client.chat.completions.create(
            model=MODEL, messages=ASK, temperature=1.0, max_tokens=24, seed=seed
        )
        return completion.choices[0].message.content or ""

    assert sample(11) == sample(11)
    assert sample(11) != sample(12)


def test_several_choices_each_generate_and_count(client: OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=ASK, temperature=0, max_tokens=8, n=3)
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert len({choice.message.content for choice in completion.choices}) == 1  # greedy: the same answer
    assert completion.usage is not None and completion.usage.completion_tokens == 3 * 8


def test_streamed_equals_whole(client: OpenAI) -> None:
    whole = greedy(client, 20)
    stream = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=20, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == whole


def test_concurrent_requests_share_the_model(client: OpenAI) -> None:
    solo = greedy(client, 16)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: greedy(client, 16), range(6)))
    assert results == [solo] * 6


LONG = "test/tiny-long"


def running(server: ServerProcess) -> float:
    for line in httpx.get(f"{server.base_url}/metrics").text.splitlines():
        if line.startswith(f'openmaas_engine_running{{model="{LONG}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no running gauge")


def test_an_answer_without_max_tokens_ends_at_the_default(client: OpenAI) -> None:
    # Greedy: a sampled answer of the random model could draw its end token early.
    completion = client.chat.completions.create(model=LONG, messages=ASK, temperature=0)  # room: 4000
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 100
    listed = {model.id: model for model in client.models.list()}
    assert (listed[LONG].model_extra or {})["generation_defaults"]["max_tokens"] == 100


def test_stream_cut_by_the_client_frees_the_engine(tiny_server: ServerProcess, client: OpenAI) -> None:
    # 4000 tokens: long enough that the answer outlasts the client on the fastest engine.
    stream = client.chat.completions.create(
        model=LONG, messages=ASK, temperature=0, max_tokens=4000, stream=True
    )
    for _ in zip(range(3), stream, strict=False):
        pass
    assert running(tiny_server) == 1.0
    stream.close()
    deadline = time.monotonic() + 5
    while running(tiny_server) != 0.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(tiny_server) == 0.0
