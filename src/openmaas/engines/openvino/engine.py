"""`OpenVINOChatEngine`: the embedded default chat engine on CPU, OpenVINO GenAI's continuous batching.

The server builds it with `OpenVINOChatEngine(spec, context)` and awaits `start()`, which prepares the
model once (`prepare.py`), loads it (`loading.py`) and starts the driver thread (`driver.py`), all off
the event loop. `stream()` checks a request at once, raising `InvalidRequest` (images for this text-only
engine, a prompt that leaves no room in the context, a bad `max_tokens` (`engines/checks.py`), a schema
the structured-output backend refuses), `ModelNotReady` (still loading) or `Overloaded` (too many
waiting) before any event; the returned
iterator then hands the request to the driver and relays its events. Closing the iterator early (the
client left) cancels the request in the pipeline, which frees its KV blocks at the next step.

Prompts are rendered with the model's chat template by our own renderer, the same as on the other local
engines; token ids go in, token ids come out, and the text is ours too (`engines/answer.py`): stop
strings, finish reasons and usage mean the same on every engine. Sampling maps onto OpenVINO's
`GenerationConfig` (`sampling.py`); constrained answers onto its structured output (`structured.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from openmaas.domain.chat import ChatEvent, ChatRequest, Usage
from openmaas.domain.errors import ModelNotReady, Overloaded
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.models import ModelSpec
from openmaas.engines.answer import AnswerText
from openmaas.engines.base import ChatEngine, EngineContext, EngineStats
from openmaas.engines.checks import answer_budget
from openmaas.engines.openvino.options import OpenVINOOptions

if TYPE_CHECKING:
    from openmaas.engines.chat_template import PromptRenderer
    from openmaas.engines.detokenize import Decode
    from openmaas.engines.openvino.driver import PipelineDriver
    from openmaas.engines.openvino.generation import ThinkingBudget
    from openmaas.engines.openvino.loading import LoadedModel


class OpenVINOChatEngine(ChatEngine):
    # Tools go through the chat template and thinking through `enable_thinking`; the registry entry says
    # which of these a given model really supports. Images need the transformers engine.
    capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "reasoning"})
    applies_grammars: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("openvino_genai", "openvino_tokenizers", "gguf", "transformers")

    def __init__(self, spec: ModelSpec, context: EngineContext) -> None:
        super().__init__(spec, context)
        if spec.task != "chat":
            raise ValueError(
                f"model '{spec.id}': the openvino engine serves text chat models; serve {spec.task} models "
                'with the transformers engine (engine = "transformers")'
            )
        self.options = OpenVINOOptions.parse(spec.id, "openvino", spec.options)
        self._loaded: LoadedModel | None = None
        self._renderer: PromptRenderer | None = None
        self._decode: Decode | None = None
        self._driver: PipelineDriver | None = None
        self._start_lock = asyncio.Lock()

    @property
    def context_length(self) -> int | None:
        return self._loaded.context_length if self._loaded else None

    @property
    def model_defaults(self) -> GenerationDefaults:
        return self._loaded.defaults if self._loaded else GenerationDefaults()

    async def start(self) -> None:
        async with self._start_lock:
            if self._driver is not None:
                return
            from openmaas.engines.chat_template import PromptRenderer
            from openmaas.engines.detokenize import fast_decoder
            from openmaas.engines.openvino.driver import PipelineDriver
            from openmaas.engines.openvino.loading import load_model

            loaded = await asyncio.to_thread(load_model, self.spec, self.context, self.options)
            driver = PipelineDriver(
                loaded.build_pipeline,
                self.spec.id,
                max_running=self.options.max_batch_size,
                max_queue=self.options.max_queue,
            )
            await asyncio.to_thread(driver.start)
            self._renderer = PromptRenderer(loaded.tokenizer, self.options.template_text())
            self._decode = fast_decoder(loaded.tokenizer)
            self._loaded, self._driver = loaded, driver

    async def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            await asyncio.to_thread(driver.stop)
        self._loaded = self._renderer = None

    def stats(self) -> EngineStats:
        driver = self._driver
        if driver is None:
            return EngineStats()
        return EngineStats(
            queued=driver.queued,
            running=driver.running,
            batches=driver.steps,
            batched_requests=driver.stepped_requests,
            generated_tokens=driver.generated_tokens,
        )

    def count_tokens(self, request: ChatRequest) -> int:
        return len(self._ready()[1].render(request))

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Check the request now (raising `InvalidRequest` / `Overloaded`), then generate lazily."""
        from openmaas.engines.openvino.sampling import generation_config

        loaded, renderer = self._ready()
        prompt = renderer.render(request)
        max_new_tokens = answer_budget(
            self.spec.id, loaded.context_length, len(prompt), request.sampling.max_tokens
        )
        config = generation_config(self.spec, request, max_new_tokens, loaded.eos_ids)
        return self._events(prompt, config, request, max_new_tokens)

    async def _events(
        self, prompt: list[int], config: Any, request: ChatRequest, max_new_tokens: int
    ) -> AsyncIterator[ChatEvent]:
        from openmaas.engines.openvino.generation import Generation

        loaded, driver, decode = self._loaded, self._driver, self._decode
        if loaded is None or driver is None or decode is None:
            raise Overloaded(f"Model '{self.spec.id}' is not loaded.", retry_after=5)
        answer = AnswerText(
            decode,
            prompt_tokens=len(prompt),
            max_new_tokens=max_new_tokens,
            stops=request.sampling.stop,
            whole=not request.stream,
        )
        generation = Generation(
            prompt, config, answer, loaded.eos_ids, asyncio.get_running_loop(), self._budget(request)
        )
        driver.submit(generation)
        done = False
        try:
            while not done:
                outcome = await generation.outbox.get()
                if isinstance(outcome, BaseException):
                    done = True
                    raise outcome
                for event in outcome:
                    done = done or isinstance(event, Usage)  # the last event of every answer
                    yield event
                generation.sent.set()  # the consumer came back for more: what it had is on its way
        finally:
            if not done:
                driver.cancel(generation)

    def _budget(self, request: ChatRequest) -> ThinkingBudget | None:
        """A reasoning model's thinking budget, kept by the driver (see `generation.py`)."""
        from openmaas.engines.openvino.generation import ThinkingBudget

        budget, parser = request.reasoning.budget_tokens, self.spec.reasoning_parser
        if budget is None or parser is None or request.reasoning.enabled is False or self._loaded is None:
            return None
        encode = self._loaded.tokenizer.encode
        return ThinkingBudget(
            budget,
            opening=encode("<think>", add_special_tokens=False),
            closing=encode("</think>", add_special_tokens=False),
            forced=encode("\n</think>\n\n", add_special_tokens=False),
            starts_open=parser == "think-open",
        )

    def _ready(self) -> tuple[LoadedModel, PromptRenderer]:
        if self._loaded is None or self._renderer is None:
            raise ModelNotReady(self.spec.id)
        return self._loaded, self._renderer
