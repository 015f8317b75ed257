"""`ModelScopeChatEndpoint` against a real `openmaas serve` process on scripted engines."""

from __future__ import annotations

import getpass
import os

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from openmaas.integrations.langchain import MODELSCOPE_BASE_URL, ModelScopeChatEndpoint
from tests.integrations.conftest import LangChainServer


def test_the_seed_example_runs_unchanged(lc_env: LangChainServer) -> None:
    # The LangChain page's code, but for the import: base_url and token come from the environment.
    if not os.getenv("MODELSCOPE_SDK_TOKEN"):
        os.environ["MODELSCOPE_SDK_TOKEN"] = getpass.getpass("Enter your ModelScope SDK token: ")

    llm = ModelScopeChatEndpoint(
        model="Qwen/Qwen2.5-Coder-32B-Instruct",
        temperature=0,
        max_tokens=1024,
        timeout=60,
        max_retries=2,
        # other params...
    )
    messages = [
        (
            "system",
            "You are a helpful assistant that translates English to Chinese. Translate the user sentence.",
        ),
        ("human", "I love programming."),
    ]
    ai_msg = llm.invoke(messages)

    assert ai_msg.content == "我喜欢编程。"
    metadata = ai_msg.response_metadata
    assert metadata["model_name"] == "Qwen/Qwen2.5-Coder-32B-Instruct"
    assert metadata["finish_reason"] == "stop"
    usage = metadata["token_usage"]
    assert usage["completion_tokens"] == 1 and usage["total_tokens"] == usage["prompt_tokens"] + 1
    assert ai_msg.usage_metadata is not None
    assert ai_msg.usage_metadata["input_tokens"] == usage["prompt_tokens"]
    assert ai_msg.usage_metadata["output_tokens"] == 1
    sent = lc_env.last_request()
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == [{"text": "I love programming."}]
    assert sent["sampling"]["temperature"] == 0 and sent["sampling"]["max_tokens"] == 1024


def test_defaults_to_modelscope_without_openmaas_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENMAAS_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_BASE", "http://elsewhere.invalid/v1")  # never read
    llm = ModelScopeChatEndpoint(model="m", api_key="ms-test")
    assert llm.openai_api_base == MODELSCOPE_BASE_URL
    assert ModelScopeChatEndpoint(model="m", api_key="k", base_url="http://x/v1").openai_api_base == (
        "http://x/v1"
    )


def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODELSCOPE_SDK_TOKEN", "OPENMAAS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-ours")
    with pytest.raises(ValueError, match="MODELSCOPE_SDK_TOKEN"):
        ModelScopeChatEndpoint(model="m")
    assert ModelScopeChatEndpoint(model="m", modelscope_sdk_token="ms-old-name").openai_api_key is not None


def test_stream_arrives_in_chunks_with_usage(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/echo")
    chunks = list(llm.stream("one two three"))
    text_chunks = [c for c in chunks if c.content]
    assert [c.content for c in text_chunks] == ["Hello!", " You", " said:", " one", " two", " three"]
    full = sum(chunks[1:], chunks[0])
    assert isinstance(full, AIMessageChunk)
    assert full.content == "Hello! You said: one two three"
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.response_metadata["model_name"] == "test/echo"
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] == 6
    assert sum(1 for c in chunks if c.usage_metadata) == 1


def test_batch_and_max_tokens(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/echo", max_tokens=2)
    answers = llm.batch(["first", "second"])
    assert [a.content for a in answers] == ["Hello! You", "Hello! You"]
    assert all(a.response_metadata["finish_reason"] == "length" for a in answers)


async def test_async_invoke_stream_and_batch(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/echo")
    answer = await llm.ainvoke([SystemMessage("Be brief."), HumanMessage("hi")])
    assert answer.content == "Hello! You said: hi"
    assert answer.usage_metadata is not None and answer.usage_metadata["total_tokens"] > 0
    text = "".join([str(chunk.content) async for chunk in llm.astream("async stream")])
    assert text == "Hello! You said: async stream"
    answers = await llm.abatch(["a", "b", "c"])
    assert sorted(str(a.content) for a in answers) == [f"Hello! You said: {x}" for x in "abc"]


def test_reasoning_content_in_additional_kwargs(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/thinker", extra_body={"enable_thinking": True})
    answer = llm.invoke("What is 2 + 2?")
    assert answer.content == "The answer is 4."
    assert answer.additional_kwargs["reasoning_content"] == "Two plus two makes four."
    assert {"type": "reasoning", "reasoning": "Two plus two makes four."} in [
        {k: b.get(k) for k in ("type", "reasoning")} for b in answer.content_blocks
    ]
    assert lc_env.last_request()["reasoning"]["enabled"] is True

    chunks = list(llm.stream("What is 2 + 2?"))
    assert any(c.additional_kwargs.get("reasoning_content") and not c.content for c in chunks)
    full = sum(chunks[1:], chunks[0])
    assert full.additional_kwargs["reasoning_content"] == "Two plus two makes four."
    assert full.content == "The answer is 4."

    v1 = ModelScopeChatEndpoint(model="test/thinker", output_version="v1").invoke("What is 2 + 2?")
    assert [block["type"] for block in v1.content_blocks] == ["reasoning", "text"]


async def test_reasoning_content_when_streaming_async(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/thinker")
    full: AIMessageChunk | None = None
    async for chunk in llm.astream("think"):
        full = chunk if full is None else full + chunk
    assert full is not None and full.additional_kwargs["reasoning_content"] == "Two plus two makes four."


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """The current weather in a city."""
    return f"Sunny, 21 degrees {unit} in {city}."


def test_bind_tools_and_answer_with_the_tool_result(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/tools").bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris?")
    call_message = llm.invoke([question])
    assert isinstance(call_message, AIMessage)
    assert call_message.response_metadata["finish_reason"] == "tool_calls"
    [call] = call_message.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris", "unit": "celsius"}
    sent_tools = lc_env.last_request()["tools"]
    assert sent_tools[0]["name"] == "get_weather"
    assert set(sent_tools[0]["parameters"]["properties"]) == {"city", "unit"}

    result = get_weather.invoke(call)
    assert isinstance(result, ToolMessage)
    final = llm.invoke([question, call_message, result])
    assert final.content == "It is sunny in Paris."
    sent = lc_env.last_request()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["name"] == "get_weather"
    assert sent[2]["tool_call_id"] == call["id"]


def test_streamed_tool_call_chunks_add_up(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/tools").bind_tools([get_weather], tool_choice="get_weather")
    chunks = [c for c in llm.stream("Weather in Paris?") if isinstance(c, AIMessageChunk)]
    assert len([c for c in chunks if c.tool_call_chunks]) == 2  # the arguments came in two pieces
    full = sum(chunks[1:], chunks[0])
    assert isinstance(full, AIMessageChunk)
    assert full.tool_calls[0]["args"] == {"city": "Paris", "unit": "celsius"}
    forced = {"mode": "required", "name": "get_weather", "parallel": False}
    assert lc_env.last_request()["tool_choice"] == forced


class Joke(BaseModel):
    setup: str
    punchline: str


def test_structured_output_with_a_json_schema(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/json")
    joke = llm.with_structured_output(Joke).invoke("Tell me a joke about cats.")
    assert joke == Joke(
        setup="Why did the cat sit on the keyboard?", punchline="To keep an eye on the mouse."
    )
    response_format = lc_env.last_request()["response_format"]
    assert response_format["kind"] == "json_schema"
    assert set(response_format["schema"]["properties"]) == {"setup", "punchline"}


def test_structured_output_by_function_calling(lc_env: LangChainServer) -> None:
    class Weather(BaseModel):
        city: str
        unit: str

    llm = ModelScopeChatEndpoint(model="test/tools")
    structured = llm.with_structured_output(Weather, method="function_calling", include_raw=True)
    result = structured.invoke("Weather in Paris as a record")
    assert isinstance(result, dict)
    assert result["parsed"] == Weather(city="Paris", unit="celsius")
    assert result["parsing_error"] is None
    assert lc_env.last_request()["tool_choice"]["name"] == "Weather"


def test_server_errors_surface_as_sdk_errors(lc_env: LangChainServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        ModelScopeChatEndpoint(model="test/echo", api_key="ms-not-a-token", max_retries=0).invoke("hi")
    with pytest.raises(openai.NotFoundError, match="no/such-model"):
        ModelScopeChatEndpoint(model="no/such-model", max_retries=0).invoke("hi")
    limited = ModelScopeChatEndpoint(
        model="test/echo", api_key=lc_env.user_token("lc-limited", "--daily-limit", "1"), max_retries=0
    )
    limited.invoke("the only call")
    with pytest.raises(openai.RateLimitError, match="resets at"):
        limited.invoke("one too many")
