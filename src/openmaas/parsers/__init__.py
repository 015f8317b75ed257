"""Turning a model's raw text into thinking, answer and tool calls, as it streams.

Which parsers apply is a property of the model's output format, declared in the registry
(`reasoning_parser`, `tool_parser`), not of the engine: the transformers and vLLM engines emit raw
text and share these parsers; a remote upstream that already separates them emits typed events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from openmaas.domain.chat import ChatEvent, ChatRequest, Finish, TextDelta
from openmaas.domain.models import ModelSpec
from openmaas.parsers.reasoning import ReasoningParser
from openmaas.parsers.tool_calls import TOOL_PARSERS, ToolCallParser

#: parser name → whether the output starts inside the thinking
REASONING_PARSERS = {"think": False, "think-open": True}


class OutputPipeline:
    """Raw text → reasoning parser (optional) → tool-call parser (optional) → events."""

    def __init__(self, reasoning: ReasoningParser | None, tools: ToolCallParser | None) -> None:
        self.reasoning = reasoning
        self.tools = tools

    def _content(self, events: list[ChatEvent], flush: bool = False) -> list[ChatEvent]:
        if self.tools is None:
            return events
        out: list[ChatEvent] = []
        for event in events:
            out.extend(self.tools.feed(event.text) if isinstance(event, TextDelta) else [event])
        if flush:
            out.extend(self.tools.flush())
        return out

    def feed(self, text: str) -> list[ChatEvent]:
        events: list[ChatEvent] = [TextDelta(text)] if self.reasoning is None else self.reasoning.feed(text)
        return self._content(events)

    def finish(self, finish: Finish) -> list[ChatEvent]:
        events = self.reasoning.flush() if self.reasoning is not None else []
        out = self._content(events, flush=True)
        if self.tools is not None and self.tools.calls and finish.reason == "stop":
            finish = Finish("tool_calls")
        return [*out, finish]


def pipeline_for(spec: ModelSpec, request: ChatRequest) -> OutputPipeline | None:
    reasoning = None
    if spec.reasoning_parser is not None:
        reasoning = ReasoningParser(starts_in_reasoning=REASONING_PARSERS[spec.reasoning_parser])
    tools = None
    if spec.tool_parser is not None and request.tools and request.tool_choice.mode != "none":
        tools = TOOL_PARSERS[spec.tool_parser]()
    if reasoning is None and tools is None:
        return None
    return OutputPipeline(reasoning, tools)


async def parsed(stream: AsyncIterator[ChatEvent], pipeline: OutputPipeline) -> AsyncIterator[ChatEvent]:
    try:
        async for event in stream:
            if isinstance(event, TextDelta):
                for out in pipeline.feed(event.text):
                    yield out
            elif isinstance(event, Finish):
                for out in pipeline.finish(event):
                    yield out
            else:
                yield event
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
