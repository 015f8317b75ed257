"""The vLLM engine end to end: OpenAI and Anthropic SDKs → API process (PostgreSQL + Redis) → engine
worker in vLLM's virtualenv → vLLM on a tiny random-weight model. Streaming and whole answers, max_tokens,
stop strings, greedy and seeded determinism, and a client that leaves mid-stream aborting the request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.vllm_worker.conftest import MODEL, THINKING_MODEL, VLLMCluster

QUESTION: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(vllm_cluster: VLLMCluster) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{vllm_cluster.api.base_url}/v1", api_key=vllm_cluster.token, max_retries=0, timeout=120
    ) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def claude(vllm_cluster: VLLMCluster) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=vllm_cluster.api.base_url, api_key=vllm_cluster.token, max_retries=0, timeout=120
    ) as sdk:
        yield sdk


def ask(client: openai.OpenAI, **settings: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=QUESTION, **settings)


def streamed(client: openai.OpenAI, **settings: Any) -> tuple[str, str | None, Any]:
    """(text, finish reason, usage) of a streamed answer."""
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}, **settings
    )
    text, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    return "".join(text), finish, usage


def plain(text: str) -> bool:
    """ASCII letters and digits only (the tiny model also writes partial UTF-8 and spaces)."""
    return text.isascii() and text.isalnum()


def test_greedy_answers_stream_and_whole_alike(client: openai.OpenAI) -> None:
    whole = ask(client, temperature=0, max_tokens=12)
    choice = whole.choices[0]
    assert choice.finish_reason == "length" and whole.usage.completion_tokens == 12
    assert choice.message.content and whole.usage.prompt_tokens > 5
    assert ask(client, temperature=0, max_tokens=12).choices[0].message.content == choice.message.content
    text, finish, usage = streamed(client, temperature=0, max_tokens=12)
    assert (text, finish) == (choice.message.content, "length")
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, 12)


def test_stop_strings_end_the_answer_before_them(client: openai.OpenAI) -> None:
    full = ask(client, temperature=0, max_tokens=24).choices[0].message.content
    stop = next(full[i : i + 2] for i in range(3, len(full) - 2) if plain(full[i : i + 2]))
    expected = full[: full.index(stop)]
    answer = ask(client, temperature=0, max_tokens=24, stop=[stop]).choices[0]
    assert (answer.message.content, answer.finish_reason) == (expected, "stop")
    text, finish, _ = streamed(client, temperature=0, max_tokens=24, stop=[stop])
    assert (text, finish) == (expected, "stop")


def test_a_seed_makes_sampling_repeatable(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str:
        answer = ask(client, temperature=1.0, top_p=1.0, max_tokens=16, seed=seed)
        return str(answer.choices[0].message.content)

    first = sample(7)
    assert sample(7) == first
    assert {sample(8), sample(9)} != {first}  # 16 tokens drawn from a flat random model do not repeat


def test_anthropic_messages_whole_and_streamed(claude: anthropic.Anthropic, client: openai.OpenAI) -> None:
    reference = ask(client, temperature=0, max_tokens=24).choices[0].message.content
    message = claude.messages.create(
        model=MODEL,
        max_tokens=10,
        messages=QUESTION,
        extra_body={"temperature": 0},  # this SDK has no `temperature` argument; our API takes it
    )
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 10
    text = "".join(block.text for block in message.content if block.type == "text")
    assert reference.startswith(text) and text
    stop = next(
        reference[i : i + 2] for i in range(len(text), len(reference) - 2) if plain(reference[i : i + 2])
    )
    with claude.messages.stream(
        model=MODEL,
        max_tokens=24,
        messages=QUESTION,
        stop_sequences=[stop],
        extra_body={"temperature": 0},
    ) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed_text == reference[: reference.index(stop)]
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", stop)


def test_a_client_that_leaves_aborts_the_request_in_vllm(vllm_cluster: VLLMCluster) -> None:
    before = vllm_cluster.worker_engine_stats()
    assert before["running"] == 0
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 1500, "temperature": 1.0, "stream": True}
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST", f"{vllm_cluster.api.base_url}/v1/chat/completions", json=body, headers=vllm_cluster.auth
        ) as response,
    ):
        assert response.status_code == 200
        chunks = 0
        for line in response.iter_lines():
            chunks += line.startswith("data: {")
            if chunks == 5:
                assert vllm_cluster.worker_engine_stats()["running"] == 1  # vLLM is generating it
                break
    # The connection is closed: the API process closes its stream to the worker, which aborts the
    # request in vLLM. vLLM forgets it at once and generates nothing more for it.
    deadline = time.monotonic() + 20
    while (stats := vllm_cluster.worker_engine_stats())["running"] != 0:
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
    generated = stats["generated_tokens"] - before["generated_tokens"]
    time.sleep(1.0)
    assert vllm_cluster.worker_engine_stats()["generated_tokens"] - before["generated_tokens"] == generated
    assert 5 <= generated < 1500


def test_a_json_schema_is_enforced_while_decoding(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string", "enum": ["Paris", "Rome"]}},
        "required": ["capital"],
        "additionalProperties": False,
    }
    answer = ask(
        client,
        temperature=0,
        max_tokens=64,
        response_format={"type": "json_schema", "json_schema": {"name": "capital", "schema": schema}},
    ).choices[0]
    # A random-weight model writes noise; only the grammar can make this valid JSON of that schema.
    assert answer.finish_reason == "stop"
    assert json.loads(answer.message.content or "")["capital"] in {"Paris", "Rome"}


def test_a_schema_that_cannot_be_compiled_is_a_client_error(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "no-such-type"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        ask(
            client,
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    assert "schema" in str(refused.value)


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def test_a_forced_tool_call_is_decoded_by_its_grammar(
    client: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    answer = ask(
        client,
        temperature=0,
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ).choices[0]
    # Noise from a random model, but the grammar allows only a call in the model's (hermes) format,
    # which the output parser turns into a tool call.
    assert answer.finish_reason == "tool_calls" and answer.message.tool_calls
    call = answer.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] in {"Paris", "Rome"}
    message = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=QUESTION,
        tools=[{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}],
        tool_choice={"type": "tool", "name": "get_weather"},
        extra_body={"temperature": 0},
    )
    uses = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and uses and uses[0].name == "get_weather"
    assert dict(uses[0].input)["city"] in {"Paris", "Rome"}


def test_vllm_enforces_the_thinking_budget(client: openai.OpenAI) -> None:
    def think(**budget: Any) -> Any:
        return client.chat.completions.create(
            model=THINKING_MODEL, messages=QUESTION, temperature=0, max_tokens=40, extra_body=budget
        ).choices[0]

    # The template opens the thinking and a random model never closes it: all 40 tokens are thinking.
    free = think()
    assert free.message.reasoning_content and not free.message.content
    # With a budget vLLM closes the thinking after 6 tokens, and the rest of the 40 is the answer.
    bounded = think(thinking_budget=6)
    reasoning = bounded.message.reasoning_content
    assert reasoning and bounded.message.content
    assert free.message.reasoning_content.startswith(reasoning)
    assert len(reasoning) < len(free.message.reasoning_content)
