"""`VLLMChatEngine`: chat and vision models on vLLM's async engine (`AsyncLLM`), on GPUs or CPUs.

The server builds it with `VLLMChatEngine(spec, context)` and awaits `start()`, which starts vLLM (see
`runtime.py`; vLLM and torch are imported there, never at package import). `stream()` checks a request at
once, raising `InvalidRequest` (a prompt that does not fit the context, a bad `max_tokens`, an image that
was not fetched or does not decode, images for a text model; the checks of `engines/checks.py`) or
`ModelNotReady` (still loading) before any event; the returned iterator then runs the request in vLLM and
relays its outputs as events (`events.py`). Closing the iterator early (the client left) aborts the
request in vLLM at once, which frees its slot and KV cache. vLLM batches requests itself (continuous
batching, paged KV cache), so the engine keeps no queue of its own.

The prompt is rendered with the model's chat template by our own renderer (the same rules as the
transformers engine), so both engines see the same prompt for the same request.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

from PIL import Image, UnidentifiedImageError

from openmaas.domain.chat import ChatEvent, ChatRequest, ImagePart
from openmaas.domain.errors import InvalidRequest, ModelNotReady
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import ChatEngine, EngineContext, EngineStats
from openmaas.engines.checks import answer_budget, image_bytes
from openmaas.engines.vllm.events import OutputEvents
from openmaas.engines.vllm.options import VLLMOptions
from openmaas.engines.vllm.sampling import sampling_kwargs
from openmaas.grammars import lark_for

if TYPE_CHECKING:
    from vllm import SamplingParams

    from openmaas.engines.vllm.runtime import VLLMRuntime


class VLLMChatEngine(ChatEngine):
    capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "reasoning", "vision"})
    requires: ClassVar[tuple[str, ...]] = ("vllm",)
    applies_grammars: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec, context: EngineContext) -> None:
        super().__init__(spec, context)
        self.options = VLLMOptions.parse(spec.id, "vllm", spec.options)
        self._runtime: VLLMRuntime | None = None
        self._start_lock = asyncio.Lock()

    @property
    def context_length(self) -> int | None:
        """The context in tokens, once started."""
        return self._runtime.context_length if self._runtime else None

    @property
    def model_defaults(self) -> GenerationDefaults:
        """What vLLM read from the model's generation_config.json."""
        if self._runtime is None:
            return GenerationDefaults()
        found = self._runtime.model_defaults
        max_tokens = found.get("max_tokens", found.get("max_new_tokens"))
        return GenerationDefaults(
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            temperature=found.get("temperature"),
            top_p=found.get("top_p"),
            top_k=found.get("top_k"),
            repetition_penalty=found.get("repetition_penalty"),
        )

    async def start(self) -> None:
        async with self._start_lock:
            if self._runtime is None:
                from openmaas.engines.vllm.runtime import start_runtime

                self._runtime = await start_runtime(self.spec, self.context, self.options)

    async def close(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await asyncio.to_thread(runtime.close)

    def stats(self) -> EngineStats:
        return self._runtime.stats() if self._runtime else EngineStats()

    def count_tokens(self, request: ChatRequest) -> int:
        return len(self._ready().renderer.render(request))

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Check the request now (raising `InvalidRequest` / `Overloaded`), then generate lazily."""
        runtime = self._ready()
        prompt = runtime.renderer.render(request)
        sampling = sampling_kwargs(
            request,
            max_tokens=answer_budget(
                self.spec.id, runtime.context_length, len(prompt), request.sampling.max_tokens
            ),
            model_defaults=runtime.model_defaults,
            thinking_budget=self._thinking_budget(request),
        )
        params = runtime.sampling_params(sampling, self._grammar(request), whole=not request.stream)
        images = [_image(part) for message in request.messages for part in message.images]
        return self._events(runtime, prompt, images, params)

    async def _events(
        self, runtime: VLLMRuntime, prompt: list[int], images: list[Image.Image], params: SamplingParams
    ) -> AsyncIterator[ChatEvent]:
        request_id = uuid.uuid4().hex
        events = OutputEvents(self.spec.id, len(prompt))
        outputs = runtime.generate(request_id, prompt, images, params)
        try:
            async for output in outputs:
                for event in events.feed(output):
                    yield event
        finally:
            if not events.finished:
                await runtime.abort(request_id)
            await outputs.aclose()

    def _grammar(self, request: ChatRequest) -> str | None:
        """The Lark grammar of a constrained answer. The chat service has validated the request's
        grammar (`request.grammar`, llguidance's serialized form); vLLM takes the Lark text, which it
        compiles with llguidance too (its `guidance` structured-output backend)."""
        return lark_for(self.spec, request) if request.grammar is not None else None

    def _thinking_budget(self, request: ChatRequest) -> int | None:
        """The thinking budget vLLM enforces (it forces `</think>` once the budget is spent)."""
        reasoning = request.reasoning
        if self.spec.reasoning_parser is None or reasoning.enabled is False:
            return None
        return reasoning.budget_tokens

    def _ready(self) -> VLLMRuntime:
        if self._runtime is None:
            raise ModelNotReady(self.spec.id)
        return self._runtime


def _image(part: ImagePart) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(image_bytes(part)))
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidRequest("An image in the messages could not be decoded.", param="messages") from error
    return image.convert("RGB")
