"""The real `openai` SDK against a real `openmaas serve` process on 127.0.0.1 (scripted engines)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.contract.conftest import client_for
from tests.servers import ServerProcess, cli

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> OpenAI:
    return client_for(server, "sdk-user")


def test_models(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "test/scripted" in ids
    assert client.models.retrieve("test/scripted").owned_by == "test"


def test_chat_non_streaming(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="test/scripted", messages=USER)
    assert completion.choices[0].message.content == "Hello! You said: hello"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 4


def test_chat_streaming_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test/scripted",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "Hello! You said: hello"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 4 and usage.total_tokens > 4


def test_max_tokens(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="test/scripted", messages=USER, max_tokens=1)
    assert completion.choices[0].finish_reason == "length"


def test_rate_limit_headers(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="test/scripted", messages=USER)
    assert raw.headers["modelscope-ratelimit-requests-limit"] == "2000"
    assert int(raw.headers["modelscope-ratelimit-requests-remaining"]) < 2000
    assert raw.headers["x-request-id"].startswith("req-")
    assert raw.parse().choices[0].message.content


def test_errors_surface_as_sdk_exceptions(server: ServerProcess, client: OpenAI) -> None:
    bad_key = OpenAI(base_url=f"{server.base_url}/v1", api_key="ms-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.chat.completions.create(model="test/scripted", messages=USER)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no/such-model", messages=USER)
    assert "no/such-model" in str(missing.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="test/scripted", messages=USER, temperature=7)
    assert bad.value.body is not None and bad.value.body["param"] == "temperature"  # type: ignore[index]
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="test/broken", messages=USER)

    limited = client_for(server, "tiny-quota", "--daily-limit", "1")
    limited.chat.completions.create(model="test/scripted", messages=USER)
    with pytest.raises(openai.RateLimitError) as refused:
        limited.chat.completions.create(model="test/scripted", messages=USER)
    assert int(refused.value.response.headers["retry-after"]) > 0

    restricted_token = cli(
        server.data_dir,
        "tokens",
        "create",
        "sdk-user",
        "--model",
        "test/slow",
        models_file=server.models_file,
    ).stdout.strip()
    restricted = OpenAI(base_url=f"{server.base_url}/v1", api_key=restricted_token, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        restricted.chat.completions.create(model="test/scripted", messages=USER)


def test_revocation_by_cli_takes_effect_at_once(server: ServerProcess) -> None:
    client = client_for(server, "revokee")
    client.chat.completions.create(model="test/scripted", messages=USER)
    cli(server.data_dir, "tokens", "revoke", client.api_key)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="test/scripted", messages=USER)


def test_cli_limit_change_takes_effect_at_once(server: ServerProcess) -> None:
    client = client_for(server, "changing", "--daily-limit", "1")
    client.chat.completions.create(model="test/scripted", messages=USER)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="test/scripted", messages=USER)
    cli(server.data_dir, "users", "set", "changing", "--daily-limit", "5")
    client.chat.completions.create(model="test/scripted", messages=USER)


def test_stream_cut_by_the_client_stops_generation(server: ServerProcess, client: OpenAI) -> None:
    stream = client.chat.completions.create(model="test/slow", messages=USER, stream=True)
    for _ in zip(range(3), stream, strict=False):
        pass
    assert _running(server, "test/slow") == 1.0
    stream.close()
    for _ in range(50):
        if _running(server, "test/slow") == 0.0:
            break
        time.sleep(0.05)
    assert _running(server, "test/slow") == 0.0


def _running(server: ServerProcess, model: str) -> float:
    metrics = httpx.get(f"{server.base_url}/metrics").text
    for line in metrics.splitlines():
        if line.startswith(f'openmaas_engine_running{{model="{model}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no running gauge for {model}")


def test_log_has_no_tokens_or_prompts(server: ServerProcess, client: OpenAI) -> None:
    secret_prompt = "my-secret-prompt-text-1234"
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": secret_prompt}]
    client.chat.completions.create(model="test/scripted", messages=messages)
    log = Path(server.log_path).read_text()
    assert '"msg": "request"' in log or '"msg":"request"' in log
    assert secret_prompt not in log
    assert client.api_key not in log
