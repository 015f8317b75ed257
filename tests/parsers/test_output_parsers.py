"""The output parsers on fixed text, cut into chunks at every possible place."""

from __future__ import annotations

import json

import pytest

from openmaas.domain.chat import ChatEvent, Finish, ReasoningDelta, TextDelta, ToolCallDelta
from openmaas.parsers import OutputPipeline
from openmaas.parsers.reasoning import ReasoningParser
from openmaas.parsers.tool_calls import HermesToolParser, JsonToolParser


def run(
    pipeline: OutputPipeline, chunks: list[str]
) -> tuple[str, str, list[tuple[str, dict[str, object]]], str]:
    events: list[ChatEvent] = []
    for chunk in chunks:
        events.extend(pipeline.feed(chunk))
    events.extend(pipeline.finish(Finish("stop")))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [(e.name or "", json.loads(e.arguments)) for e in events if isinstance(e, ToolCallDelta)]
    finish = events[-1]
    assert isinstance(finish, Finish)
    return reasoning, content, calls, finish.reason


def splits(text: str) -> list[list[str]]:
    """The text whole, one character at a time, and cut in two at every position."""
    return [[text], list(text), *([text[:i], text[i:]] for i in range(1, len(text)))]


def pipeline(reasoning: str | None = None, tools: str | None = None) -> OutputPipeline:
    parser = None if reasoning is None else ReasoningParser(starts_in_reasoning=reasoning == "open")
    tool_parser = {"hermes": HermesToolParser, "json": JsonToolParser, None: None}[tools]
    return OutputPipeline(parser, tool_parser() if tool_parser else None)


THINK = "<think>\nLet me think: 2+2.\n</think>\n\nIt is 4."


@pytest.mark.parametrize("chunks", splits(THINK))
def test_thinking_split_anywhere(chunks: list[str]) -> None:
    assert run(pipeline("think"), chunks) == ("Let me think: 2+2.\n", "It is 4.", [], "stop")


def test_thinking_without_end_tag_stays_reasoning() -> None:
    assert run(pipeline("think"), ["<think>", "still ", "thinking"]) == ("still thinking", "", [], "stop")


def test_thinking_that_starts_open() -> None:
    assert run(pipeline("open"), ["ponder", "ing</th", "ink>\n\nanswer"]) == (
        "pondering",
        "answer",
        [],
        "stop",
    )


def test_no_thinking_is_plain_content() -> None:
    assert run(pipeline("think"), ["Hello ", "<think> is a tag"]) == (
        "",
        "Hello <think> is a tag",
        [],
        "stop",
    )
    assert run(pipeline("think"), ["<th", "e end>"]) == ("", "<the end>", [], "stop")


TWO_CALLS = (
    'Checking.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>\n'
)


@pytest.mark.parametrize("chunks", splits(TWO_CALLS))
def test_two_hermes_calls_split_anywhere(chunks: list[str]) -> None:
    reasoning, content, calls, finish = run(pipeline(tools="hermes"), chunks)
    assert reasoning == ""
    assert content == "Checking."
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    assert finish == "tool_calls"


def test_malformed_hermes_call_degrades_to_text() -> None:
    text = '<tool_call>{"name": "f", "arguments": {oops}</tool_call> done'
    assert run(pipeline(tools="hermes"), [text]) == ("", text, [], "stop")


def test_unclosed_hermes_call_is_parsed_when_complete_json() -> None:
    result = run(pipeline(tools="hermes"), ['<tool_call>{"name": "f", "arguments": {"a": 1}}'])
    assert result == ("", "", [("f", {"a": 1})], "tool_calls")
    broken = run(pipeline(tools="hermes"), ['<tool_call>{"name": "f", "argu'])
    assert broken == ("", '<tool_call>{"name": "f", "argu', [], "stop")


def test_arguments_as_a_json_string_and_call_ids() -> None:
    events = pipeline(tools="hermes").feed(
        '<tool_call>{"name": "f", "arguments": "{\\"x\\": 2}"}</tool_call>'
    )
    (call,) = events
    assert isinstance(call, ToolCallDelta)
    assert (
        call.arguments == '{"x":2}'
        and call.id is not None
        and call.id.startswith("call_")
        and call.index == 0
    )


def test_thinking_then_a_call() -> None:
    text = '<think>I need the weather.</think><tool_call>{"name": "w", "arguments": {}}</tool_call>'
    for chunks in splits(text):
        assert run(pipeline("think", "hermes"), chunks) == (
            "I need the weather.",
            "",
            [("w", {})],
            "tool_calls",
        )


@pytest.mark.parametrize(
    ("text", "expected_calls", "expected_content"),
    [
        ('{"name": "f", "parameters": {"a": 1}}', [("f", {"a": 1})], ""),
        (
            '[{"name": "f", "arguments": {}}, {"name": "g", "arguments": {"b": "x"}}]',
            [("f", {}), ("g", {"b": "x"})],
            "",
        ),
        ("Just words.", [], "Just words."),
        ('{"not": "a call"}', [], '{"not": "a call"}'),
        ('{"name": "f", "arguments": {', [], '{"name": "f", "arguments": {'),
    ],
)
def test_json_tool_parser(text: str, expected_calls: list[object], expected_content: str) -> None:
    for chunks in ([text], list(text)):
        _, content, calls, finish = run(pipeline(tools="json"), chunks)
        assert (calls, content) == (expected_calls, expected_content)
        assert finish == ("tool_calls" if expected_calls else "stop")
