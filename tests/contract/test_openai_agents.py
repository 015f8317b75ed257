"""The OpenAI Agents SDK (`openai-agents`) against a real `openmaas serve` process: an agent with one
function tool, on the Responses API (`OpenAIResponsesModel` with an `AsyncOpenAI` client pointed at the
server), run whole and streamed. Tracing is off: its exporter would call OpenAI's own servers.

`test/tool-user` (see `tiny_registry`) calls the tool it is offered, then answers from the tool's result:
"It is sunny: <the user's question>".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.contract.conftest import new_token
from tests.servers import ServerProcess

QUESTION = "What is the weather in Paris?"


@pytest.fixture(autouse=True)
def no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield
    set_tracing_disabled(False)


calls: list[tuple[str, int]] = []  # what the tool was called with


@function_tool
def get_weather(city: str, days: int) -> str:
    """The weather forecast for a city."""
    calls.append((city, days))
    return f"sunny in {city} for {days} days"


def weather_agent(server: ServerProcess, token: str) -> Agent:
    client = AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=token, max_retries=0)
    return Agent(
        name="Weather",
        instructions="Answer questions about the weather with the get_weather tool.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="test/tool-user", openai_client=client),
    )


async def test_agent_with_a_function_tool(tiny_server: ServerProcess) -> None:
    calls.clear()
    agent = weather_agent(tiny_server, new_token(tiny_server, "agent-user"))
    result = await Runner.run(agent, QUESTION)
    assert calls == [("Paris", 1)]
    assert result.final_output == f"It is sunny: {QUESTION}"
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert sum(r.usage.requests for r in result.raw_responses) == 2


async def test_agent_streamed(tiny_server: ServerProcess) -> None:
    calls.clear()
    agent = weather_agent(tiny_server, new_token(tiny_server, "agent-user"))
    result = Runner.run_streamed(agent, QUESTION)
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    assert calls == [("Paris", 1)]
    assert "".join(deltas) == result.final_output == f"It is sunny: {QUESTION}"
