"""The chat service: from an authenticated, parsed request to a metered stream of events.

`ChatService.start` admits the call (`admission.py`: 404 unknown model, 400 not a chat model, 403 token
scope, 400 images the model does not take (see `vision.py`), 503 while its engine loads), fetches the
images (400 with the reason), reserves one call of quota (429), and returns a `ChatCall`. Iterating the
call yields `(choice_index, event)` pairs from the engine; when the iteration ends the call settles
itself:

- the answer completed, or the client went away (mid-stream, or before a non-streamed answer) →
  counted, tokens written to the ledger;
- the engine failed, or found the input invalid → the call is given back (not counted);
- the server's shutdown grace ended before the answer did → the call ends with `ShuttingDown` (503)
  and is given back (see `openmaas.draining`).

Every dialect (OpenAI chat completions, OpenAI Responses, Anthropic) runs through here; they only differ
in how they format the events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field, replace

from openmaas.access.metering import Ticket
from openmaas.domain.accounts import Caller
from openmaas.domain.chat import (
    ChatEvent,
    ChatRequest,
    Finish,
    FinishReason,
    Reasoning,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from openmaas.domain.errors import ShuttingDown
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.models import ModelSpec
from openmaas.draining import SHUTDOWN, Drain, cancelled_by
from openmaas.engines.base import ChatEngine
from openmaas.engines.manager import EngineManager
from openmaas.grammars import grammar_for
from openmaas.metrics import Metrics
from openmaas.parsers import parsed, pipeline_for
from openmaas.services.admission import CHAT, Admission, Admitted, counts_as_answered
from openmaas.services.vision import ChatImages

Choice = tuple[int, ChatEvent]


@dataclass
class ChoiceResult:
    """One choice of a finished answer, accumulated from its events."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, arguments...]
    finish: Finish = field(default_factory=lambda: Finish("stop"))

    def add(self, event: ChatEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
        elif isinstance(event, ToolCallDelta):
            parts = self.tool_calls.setdefault(event.index, [event.id or "", event.name or ""])
            parts.append(event.arguments)
        elif isinstance(event, Finish):
            self.finish = event

    @property
    def content(self) -> str:
        return "".join(self.text)

    @property
    def reasoning_content(self) -> str | None:
        return "".join(self.reasoning) if self.reasoning else None

    @property
    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=parts[0], name=parts[1], arguments="".join(parts[2:]))
            for _, parts in sorted(self.tool_calls.items())
        ]

    @property
    def finish_reason(self) -> FinishReason:
        return self.finish.reason


@dataclass
class ChatResult:
    choices: list[ChoiceResult]
    usage: Usage


class ChatCall:
    """A running, metered chat call. Iterate it once (streaming) or `collect()` it."""

    def __init__(
        self,
        spec: ModelSpec,
        request: ChatRequest,
        engine: ChatEngine,
        ticket: Ticket,
        metrics: Metrics,
        started: float,
        drain: Drain,
    ) -> None:
        self.spec = spec
        self.request = request
        self.engine = engine
        self.ticket = ticket
        self.metrics = metrics
        self.started = started
        self.drain = drain
        self.created = int(time.time())
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._usage_seen = 0
        self._deltas = 0

    @property
    def headers(self) -> dict[str, str]:
        return self.ticket.headers

    async def __aiter__(self) -> AsyncIterator[Choice]:
        finished = False
        first = True
        choices = self._choices()
        # The drain cancels this call's task only while it waits for the engine; in between it flags it.
        work = self.drain.track(None)
        try:
            while True:
                if work.stopping:
                    raise ShuttingDown()
                work.task = asyncio.current_task()
                try:
                    index, event = await anext(choices)
                except StopAsyncIteration:
                    break
                finally:
                    work.task = None
                if first and not isinstance(event, Usage):
                    first = False
                    self.metrics.ttft.labels(self.spec.id).observe(time.perf_counter() - self.started)
                if isinstance(event, Usage):
                    self._usage_seen += 1
                    self.prompt_tokens = max(self.prompt_tokens, event.prompt_tokens)
                    self.completion_tokens += event.completion_tokens
                    continue
                if not isinstance(event, Finish):
                    self._deltas += 1
                yield index, event
            finished = True
        except BaseException as exc:
            await self._ended_early(exc)
            task = asyncio.current_task()
            if cancelled_by(exc, SHUTDOWN) and task is not None:
                task.uncancel()  # the shutdown's cancellation ends here, as an error of the call
                raise ShuttingDown() from None
            raise
        finally:
            self.drain.untrack(work)
            await _close(choices)
            if finished:
                self._settle()

    async def _ended_early(self, exc: BaseException) -> None:
        if counts_as_answered(exc):
            await self._settle_partial()
        else:
            await self.ticket.refund()

    def _stream(self) -> AsyncIterator[ChatEvent]:
        stream = self.engine.stream(self.request)
        pipeline = pipeline_for(self.spec, self.request)
        return stream if pipeline is None else parsed(stream, pipeline)

    def _choices(self) -> AsyncIterator[Choice]:
        streams = [self._stream() for _ in range(self.request.n)]
        if len(streams) == 1:
            return _tagged(0, streams[0])
        return _merged(streams)

    async def _settle_partial(self) -> None:
        if self._usage_seen < self.request.n:
            # The client left before the engine's final usage: count what was streamed.
            if self.prompt_tokens == 0:
                self.prompt_tokens = await self.count_prompt_tokens()
            self.completion_tokens += self._deltas
        self._settle()

    async def count_prompt_tokens(self) -> int:
        """The request's prompt tokens; images are processed to count theirs (off the event loop)."""
        if self.request.has_images:
            return await asyncio.to_thread(self.engine.count_tokens, self.request)
        return self.engine.count_tokens(self.request)

    def _settle(self) -> None:
        usage = Usage(self.prompt_tokens, self.completion_tokens)
        self.metrics.observe_tokens(self.spec.id, usage.prompt_tokens, usage.completion_tokens)
        self.ticket.settle(usage)

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)

    async def collect(self) -> ChatResult:
        choices = [ChoiceResult() for _ in range(self.request.n)]
        async for index, event in self:
            choices[index].add(event)
        return ChatResult(choices, self.usage)


async def _tagged(index: int, stream: AsyncIterator[ChatEvent]) -> AsyncIterator[Choice]:
    try:
        async for event in stream:
            yield index, event
    finally:
        await _close(stream)


async def _merged(streams: list[AsyncIterator[ChatEvent]]) -> AsyncIterator[Choice]:
    """Interleave several choices' streams as their events arrive."""
    queue: asyncio.Queue[tuple[int, ChatEvent | BaseException | None]] = asyncio.Queue()

    async def pump(index: int, stream: AsyncIterator[ChatEvent]) -> None:
        try:
            async for event in stream:
                await queue.put((index, event))
            await queue.put((index, None))
        except Exception as exc:
            await queue.put((index, exc))
        finally:
            await _close(stream)

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        running = len(tasks)
        while running:
            index, item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(stream: AsyncIterator[object]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def prepare_request(
    spec: ModelSpec, engine: ChatEngine, request: ChatRequest, defaults: GenerationDefaults
) -> ChatRequest:
    """The request as the engine should run it: the model's generation defaults filled in, and the
    grammar of a structured answer or forced tool call (400 if it cannot be compiled)."""
    request = replace(request, sampling=request.sampling.with_defaults(defaults))
    if engine.applies_grammars:
        grammar = grammar_for(spec, request)
        if grammar is not None:
            # The constrained answer starts right away, so a thinking model is asked not to think.
            reasoning = Reasoning(enabled=False) if spec.reasoning_parser == "think" else request.reasoning
            request = replace(request, grammar=grammar, reasoning=reasoning)
    return request


def generation_defaults(
    spec: ModelSpec, engine: ChatEngine | None, server: GenerationDefaults
) -> GenerationDefaults:
    """The registry's defaults, over the model's own (once its engine loaded), over the server's."""
    from_model = engine.model_defaults if engine is not None else GenerationDefaults()
    return spec.generation_defaults.over(from_model).over(server)


class ChatService:
    def __init__(
        self,
        engines: EngineManager,
        admission: Admission,
        metrics: Metrics,
        images: ChatImages,
        drain: Drain,
        *,
        default_max_tokens: int,
    ) -> None:
        self.engines = engines
        self.admission = admission
        self.metrics = metrics
        self.images = images
        self.server_defaults = GenerationDefaults(max_tokens=default_max_tokens)
        self.drain = drain

    async def close(self) -> None:
        await self.images.aclose()

    async def start(self, caller: Caller, request: ChatRequest) -> ChatCall:
        started = time.perf_counter()
        admitted = await self._admit(caller, request)
        spec, engine = admitted.spec, admitted.engine
        request = prepare_request(spec, engine, request, self._defaults(spec, engine))
        request = await self.images.fetch(request)
        ticket = await admitted.reserve()
        return ChatCall(spec, request, engine, ticket, self.metrics, started, self.drain)

    def _admit(self, caller: Caller, request: ChatRequest) -> Awaitable[Admitted[ChatEngine]]:
        return self.admission.admit(
            caller, request.model, CHAT, check=lambda spec: self.images.check(spec, request)
        )

    def generation_defaults(self, spec: ModelSpec) -> GenerationDefaults:
        """What a request to this chat model gets for the settings it leaves open (the model's own
        defaults are known once its engine has loaded)."""
        engine = self.engines.loaded(spec.id)
        return self._defaults(spec, engine if isinstance(engine, ChatEngine) else None)

    def _defaults(self, spec: ModelSpec, engine: ChatEngine | None) -> GenerationDefaults:
        return generation_defaults(spec, engine, self.server_defaults)

    async def count_tokens(self, caller: Caller, request: ChatRequest) -> int:
        """The request's prompt tokens: admitted like a chat call, but not metered."""
        engine = (await self._admit(caller, request)).engine
        if not request.has_images:
            return engine.count_tokens(request)
        request = await self.images.fetch(request)
        return await asyncio.to_thread(engine.count_tokens, request)
