"""LangChain on OpenMaaS's Responses API: langchain-openai's own `ChatOpenAI(use_responses_api=True)` and
`ModelScopeChatEndpoint(use_responses_api=True)`, against a real `openmaas serve` process."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from openmaas.integrations.langchain import ModelScopeChatEndpoint
from tests.integrations.conftest import LangChainServer


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """The current weather in a city."""
    return f"Sunny, 21 degrees {unit} in {city}."


def chat_openai(server: LangChainServer, model: str, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(
        model=model, base_url=server.base_url, api_key=server.token, use_responses_api=True, **kwargs
    )


def test_invoke_and_stream(lc_server: LangChainServer) -> None:
    llm = chat_openai(lc_server, "test/echo")
    answer = llm.invoke("hello")
    assert answer.text == "Hello! You said: hello"
    assert answer.response_metadata["id"].startswith("resp_")
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == 4
    chunks = [c for c in llm.stream("hello again") if isinstance(c, AIMessageChunk)]
    assert len(chunks) > 3
    full = sum(chunks[1:], chunks[0])
    assert isinstance(full, AIMessageChunk) and full.text == "Hello! You said: hello again"


def test_reasoning_effort_and_reasoning_output(lc_server: LangChainServer) -> None:
    answer = chat_openai(lc_server, "test/thinker", reasoning={"effort": "low"}).invoke("What is 2 + 2?")
    assert answer.text == "The answer is 4."
    [reasoning] = [block for block in answer.content_blocks if block["type"] == "reasoning"]
    assert reasoning.get("extras", {})["content"][0]["text"] == "Two plus two makes four."
    assert lc_server.last_request()["reasoning"]["enabled"] is True


def test_tools_round_trip(lc_server: LangChainServer) -> None:
    llm = chat_openai(lc_server, "test/tools").bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris?")
    call_message = llm.invoke([question])
    assert isinstance(call_message, AIMessage)
    [call] = call_message.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris", "unit": "celsius"}
    result = get_weather.invoke(call)
    assert isinstance(result, ToolMessage)
    final = llm.invoke([question, call_message, result])
    assert final.text == "It is sunny in Paris."
    sent = lc_server.last_request()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[2]["tool_call_id"] == call["id"]


def test_conversation_kept_on_the_server(lc_server: LangChainServer) -> None:
    llm = chat_openai(lc_server, "test/echo", use_previous_response_id=True)
    first = llm.invoke("one")
    second = llm.invoke([HumanMessage("one"), first, HumanMessage("two")])
    assert second.text == "Hello! You said: two"
    sent = lc_server.last_request()["messages"]
    assert [(m["role"], m["content"][0]["text"]) for m in sent] == [
        ("user", "one"),
        ("assistant", "Hello! You said: one"),
        ("user", "two"),
    ]


class Joke(BaseModel):
    setup: str
    punchline: str


def test_structured_output(lc_server: LangChainServer) -> None:
    joke = chat_openai(lc_server, "test/json").with_structured_output(Joke).invoke("A joke about cats.")
    assert joke == Joke(
        setup="Why did the cat sit on the keyboard?", punchline="To keep an eye on the mouse."
    )
    response_format = lc_server.last_request()["response_format"]
    assert response_format["kind"] == "json_schema"


def test_modelscope_endpoint_switches_to_the_responses_api(lc_env: LangChainServer) -> None:
    llm = ModelScopeChatEndpoint(model="test/echo", use_responses_api=True)
    answer = llm.invoke("hello")
    assert answer.text == "Hello! You said: hello"
    assert answer.response_metadata["id"].startswith("resp_")
    streamed = "".join(c.text for c in llm.stream("streamed"))
    assert streamed == "Hello! You said: streamed"
