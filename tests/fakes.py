"""Fakes for testing the layers above the engines, registered through the real engine registry.

`ScriptedChatEngine` answers from a script in its registry options, token by token:

    [[models]]
    id = "test/scripted"
    task = "chat"
    engine = "tests.fakes:ScriptedChatEngine"
    [models.options]
    reply = "Hello from {last_user}"   # {last_user}: the last user message's text
    token_delay = 0.0                  # seconds between tokens
    fail = false                       # raise EngineFailure instead of answering
    fail_after = 2                     # raise EngineFailure after this many pieces of the answer
    record_file = "/tmp/requests.jsonl" # append every request it receives (for tests of other processes)
    reasoning = "Thinking about {last_user}"  # stream this as `reasoning_content` before the answer
    tool_arguments = '{"city": "Paris"}'     # when the request offers tools, call one with these arguments

With `tool_arguments`, a request that offers tools (and does not set tool_choice "none") is answered by a
call to the forced tool, else the first one, streamed as `ToolCallDelta`s (id and name, then the arguments
in two pieces) and finished with `tool_calls`; once the last message is a tool result, it answers in text.
These let the client layers (LangChain, the terminal chat) be tested on reasoning and tool calls; the
real engines' tool calling and thinking are tested elsewhere.

`ScriptedImageEngine` and `ScriptedEmbeddingEngine` (below) do the same for the image-task and
embedding layers.

They are fakes for tests of the gateway, dialects, services and clients; never the product.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from openmaas.domain.chat import (
    ChatEvent,
    ChatRequest,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from openmaas.domain.embeddings import EmbeddingRequest, EmbeddingResult
from openmaas.domain.errors import EngineFailure
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.images import ImageJob, ProgressCallback
from openmaas.engines.base import ChatEngine, EmbeddingEngine, EngineStats, ImageEngine


def split_tokens(text: str) -> list[str]:
    """Words with their leading space, like a BPE tokenizer would cut them."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


class ScriptedChatEngine(ChatEngine):
    capabilities = frozenset({"tools", "reasoning"})

    async def start(self) -> None:
        options = self.spec.options
        self.reply_template = str(options.get("reply", "Hello! You said: {last_user}"))
        self.token_delay = float(options.get("token_delay", 0.0))
        self.fail = bool(options.get("fail", False))
        fail_after = options.get("fail_after")
        self.fail_after = int(fail_after) if fail_after is not None else None
        record = options.get("record_file")
        self.record_file = Path(record) if record else None
        reasoning = options.get("reasoning")
        self.reasoning_template = str(reasoning) if reasoning else None
        arguments = options.get("tool_arguments")
        self.tool_arguments = str(arguments) if arguments is not None else None
        self.received: list[ChatRequest] = []
        self.running = 0
        self.cancelled = 0
        # What the model's own files would recommend (generation_config.json), as a real engine reads it.
        self._model_defaults = GenerationDefaults(**options.get("model_defaults", {}))

    @property
    def model_defaults(self) -> GenerationDefaults:
        return self._model_defaults

    def count_tokens(self, request: ChatRequest) -> int:
        return sum(len(split_tokens(m.text)) + 3 for m in request.messages)

    def stats(self) -> EngineStats:
        return EngineStats(queued=0, running=self.running)

    def _record(self, request: ChatRequest) -> None:
        self.received.append(request)
        if self.record_file is not None:
            with self.record_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(request), default=str) + "\n")

    def _tool_to_call(self, request: ChatRequest) -> str | None:
        if self.tool_arguments is None or not request.tools or request.tool_choice.mode == "none":
            return None
        if request.messages and request.messages[-1].role == "tool":
            return None
        return request.tool_choice.name or request.tools[0].name

    def _events(self, request: ChatRequest) -> list[ChatEvent]:
        """The whole scripted answer, before `max_tokens` cuts it."""
        last_user = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        events: list[ChatEvent] = []
        if self.reasoning_template is not None:
            thought = self.reasoning_template.format(last_user=last_user)
            events += [ReasoningDelta(piece) for piece in split_tokens(thought)]
        tool = self._tool_to_call(request)
        if tool is not None:
            arguments = self.tool_arguments or ""
            half = len(arguments) // 2
            events += [
                ToolCallDelta(0, arguments[:half], id=f"call_{len(self.received)}", name=tool),
                ToolCallDelta(0, arguments[half:]),
            ]
        else:
            pieces = split_tokens(self.reply_template.format(last_user=last_user))
            events += [TextDelta(piece) for piece in pieces]
        return events

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        self._record(request)
        if self.fail:
            raise EngineFailure("scripted failure")
        events = self._events(request)
        limit = request.sampling.max_tokens
        self.running += 1
        produced = 0
        try:
            for event in events:
                if limit is not None and produced >= limit:
                    break
                if produced == self.fail_after:
                    raise EngineFailure("scripted failure mid-answer")
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                produced += 1
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        if limit is not None and produced < len(events):
            yield Finish("length")
        else:
            yield Finish("tool_calls" if self._tool_to_call(request) else "stop")
        yield Usage(self.count_tokens(request), produced)


class ScriptedImageEngine(ImageEngine):
    """Solid-colour PNGs of the job's size (the colour from prompt and seed), one progress report per
    step from a worker thread, like a real engine. Options: `step_delay` (seconds per step), `fail`
    (raise EngineFailure), `crash` (raise an unexpected error)."""

    capabilities = frozenset({"edit", "loras"})

    async def start(self) -> None:
        self.step_delay = float(self.spec.options.get("step_delay", 0.0))
        self.fail = bool(self.spec.options.get("fail", False))
        self.crash = bool(self.spec.options.get("crash", False))
        self.jobs: list[ImageJob] = []

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        self.jobs.append(job)
        return await asyncio.to_thread(self._run, job, progress)

    def _run(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        for step in range(job.steps):
            if self.step_delay:
                time.sleep(self.step_delay)
            progress(step + 1, job.steps)
        if self.fail:
            raise EngineFailure("scripted image failure", code="scripted_failure")
        if self.crash:
            raise RuntimeError("scripted crash")
        images = []
        for index in range(job.n):
            digest = hashlib.sha256(f"{job.prompt}|{job.seed + index}".encode()).digest()
            buffer = io.BytesIO()
            Image.new("RGB", (job.width, job.height), tuple(digest[:3])).save(buffer, format="PNG")
            images.append(buffer.getvalue())
        return images


class ScriptedEmbeddingEngine(EmbeddingEngine):
    """Unit vectors of `dimension` (default 8) from a hash of each input's UTF-8 bytes, as a tokenizer
    reads them; `delay` seconds before answering (a busy model). Counts the requests it is running."""

    async def start(self) -> None:
        self.delay = float(self.spec.options.get("delay", 0.0))
        self._dimension = int(self.spec.options.get("dimension", 8))
        self.running = 0
        self.cancelled = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return 256

    @property
    def supports_dimensions(self) -> bool:
        return False

    def stats(self) -> EngineStats:
        return EngineStats(running=self.running)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        import numpy as np

        raw = [
            text.encode() if isinstance(text, str) else bytes(str(text), "ascii") for text in request.inputs
        ]
        self.running += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        rows = [
            np.frombuffer(hashlib.sha256(data).digest()[: self._dimension], dtype=np.uint8) for data in raw
        ]
        vectors = np.asarray(rows, dtype=np.float32) + 1
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return EmbeddingResult(vectors=vectors, prompt_tokens=sum(len(data.split()) + 2 for data in raw))
