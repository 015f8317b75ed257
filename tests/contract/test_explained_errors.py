"""The seed snippets' common mistakes, made with the real clients against a real server: what the user
reads in the exception the SDK raises says what to do."""

from __future__ import annotations

import anthropic
import openai
import pytest
from pydantic import SecretStr

from openmaas.integrations.langchain import ModelScopeChatEndpoint
from tests.contract.conftest import new_token
from tests.servers import ServerProcess

QUESTION = [{"role": "user", "content": "用python写一下快排"}]


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    return new_token(server, "newcomer")


def test_openai_base_url_without_v1(server: ServerProcess, token: str) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key=token, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="test/scripted", messages=QUESTION)  # type: ignore[arg-type]
    assert f"Add /v1 to the base URL: use {server.base_url}/v1" in str(caught.value)
    assert caught.value.code == "base_url_missing_v1"


def test_langchain_base_url_without_v1(server: ServerProcess, token: str) -> None:
    llm = ModelScopeChatEndpoint(
        model="test/scripted", base_url=server.base_url, api_key=SecretStr(token), max_retries=0
    )
    with pytest.raises(openai.NotFoundError, match=f"use {server.base_url}/v1"):
        llm.invoke("I love programming.")


def test_anthropic_base_url_with_v1(server: ServerProcess, token: str) -> None:
    client = anthropic.Anthropic(base_url=f"{server.base_url}/v1", api_key=token, max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="test/scripted", max_tokens=1024, messages=[QUESTION[0]])  # type: ignore[list-item]
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert f"Drop /v1 from the base URL (the Anthropic SDK's base_url is {server.base_url})" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("api_key", "says"),
    [
        ("MODELSCOPE_ACCESS_TOKEN", "placeholder from an example"),  # the seed's chat snippet, as printed
        ("ms-3c1f9e2a-7b4d-4c6e-8f0a-1b2c3d4e5f60", "A ModelScope access token (from modelscope.cn)"),
    ],
)
def test_a_token_that_is_not_this_servers(server: ServerProcess, api_key: str, says: str) -> None:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=api_key, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="test/scripted", messages=QUESTION)  # type: ignore[arg-type]
    assert says in str(caught.value) and "openmaas tokens create NAME" in str(caught.value)
