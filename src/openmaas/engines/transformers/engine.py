"""`TransformersChatEngine`: the embedded default chat engine, on CPU or one GPU.

The server builds it with `TransformersChatEngine(spec, context)` and awaits `start()`, which loads the
model in a worker thread (see `loading.py`) and starts the generation thread (`batcher.py`). `stream()`
checks a request at once, on the caller's side, raising `InvalidRequest` (images for a text model, a
prompt that does not fit the context, a bad `max_tokens`: `engines/checks.py`), `ModelNotReady` (still
loading) or `Overloaded` (queue full) before any event; the returned iterator then submits the request,
relays the generation thread's events, and cancels the request if the consumer stops early. A prompt plus
`max_tokens` beyond the context is not an error: the answer ends with finish reason `length` when the
context is full.

A `vision` registry entry serves an image-text-to-text model (see `vision.py`). A request with images is
prepared in a worker thread first (decoding and processing its images; its checks then raise from the
iterator, before any event), and prefilled on its own; text requests to the same model batch as usual.
At most `max_batch_size` requests with images are prepared or running at once (their pixel inputs are
large); more wait before being prepared.

This module imports no torch itself, so importing the engine class is cheap; the model-side modules are
imported by `start()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

from openmaas.domain.chat import ChatEvent, ChatRequest, Usage
from openmaas.domain.errors import ModelNotReady, Overloaded
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import ChatEngine, EngineContext, EngineStats
from openmaas.engines.checks import answer_budget
from openmaas.engines.transformers.options import TransformersOptions

if TYPE_CHECKING:
    from openmaas.engines.chat_template import PromptRenderer
    from openmaas.engines.transformers.batcher import Batcher
    from openmaas.engines.transformers.constraints import Constraints, LogitsHook
    from openmaas.engines.transformers.job import Job
    from openmaas.engines.transformers.loading import LoadedModel
    from openmaas.engines.transformers.vision import VisionPrompt, VisionRenderer


class TransformersChatEngine(ChatEngine):
    # Tools are rendered through the chat template and thinking is switched with `enable_thinking`; the
    # registry entry says which of these a given model really supports.
    capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "reasoning", "vision"})
    applies_grammars: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec, context: EngineContext) -> None:
        super().__init__(spec, context)
        self.options = TransformersOptions.parse(spec.id, "transformers", spec.options)
        if self.options.processor and spec.task != "vision":
            raise ValueError(f"model '{spec.id}': the `processor` option is for vision models only")
        self._loaded: LoadedModel | None = None
        self._renderer: PromptRenderer | VisionRenderer | None = None
        self._vision: VisionRenderer | None = None  # set for image-text-to-text models
        self._batcher: Batcher | None = None
        self._constraints: Constraints | None = None
        self._start_lock = asyncio.Lock()
        # Requests with images prepared at once: each holds its pixel inputs (tens of MiB for a large
        # picture) until its prefill, so more than a batch of them would only wait in memory.
        self._vision_slots = asyncio.Semaphore(self.options.max_batch_size)
        self._images_waiting = 0  # requests with images waiting for a slot (they count as queued)

    @property
    def context_length(self) -> int | None:
        """The context in tokens, once started."""
        return self._loaded.context_length if self._loaded else None

    @property
    def model_defaults(self) -> GenerationDefaults:
        return self._loaded.defaults if self._loaded else GenerationDefaults()

    async def start(self) -> None:
        async with self._start_lock:
            if self._batcher is not None:
                return
            from openmaas.engines.chat_template import PromptRenderer
            from openmaas.engines.transformers.constraints import Constraints
            from openmaas.engines.transformers.loading import load_model

            loaded = await asyncio.to_thread(load_model, self.spec, self.context, self.options)
            template = self.options.template_text()
            if loaded.processor is not None:
                from openmaas.engines.transformers.vision import VisionRenderer

                self._renderer = self._vision = await asyncio.to_thread(
                    VisionRenderer, loaded.processor, loaded.model, template
                )
            else:
                self._renderer = PromptRenderer(loaded.tokenizer, template)
            self._loaded = loaded
            self._constraints = Constraints(loaded.tokenizer, loaded.vocab_size, loaded.eos_ids)
            self._batcher = self._build_batcher(loaded)
            self._batcher.start()

    def _build_batcher(self, loaded: LoadedModel) -> Batcher:
        from openmaas.engines.detokenize import fast_decoder
        from openmaas.engines.transformers.batcher import Batcher
        from openmaas.engines.transformers.runner import ModelRunner
        from openmaas.engines.transformers.sampling import BatchSampler

        rows = self.options.max_batch_size
        runner = ModelRunner(
            loaded.model, max_rows=rows, max_columns=loaded.context_length, pad_id=loaded.pad_id
        )
        return Batcher(
            runner,
            BatchSampler(loaded.vocab_size, rows, runner.device),
            decode=fast_decoder(loaded.tokenizer),
            eos_ids=loaded.eos_ids,
            max_batch_size=rows,
            max_queue=self.options.max_queue,
            max_prefill_tokens=self.options.max_prefill_tokens,
            name=self.spec.id,
        )

    async def close(self) -> None:
        batcher, self._batcher = self._batcher, None
        if batcher is not None:
            await asyncio.to_thread(batcher.stop)
        self._loaded = None
        self._renderer = self._vision = None

    def stats(self) -> EngineStats:
        batcher = self._batcher
        if batcher is None:
            return EngineStats()
        return EngineStats(queued=batcher.queued, running=batcher.running)

    def count_tokens(self, request: ChatRequest) -> int:
        """Blocking for a request with images (they are processed): call it off the event loop then."""
        return len(self._ready_renderer().render(request))

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Check the request now (raising `InvalidRequest` / `Overloaded`), then generate lazily."""
        renderer = self._ready_renderer()
        if request.has_images and self._vision is not None:
            self._check_room()
            return self._events_with_images(request, self._vision)
        job = self._job(request, renderer.render(request))
        self._check_room()
        return self._events(job)

    def _check_room(self) -> None:
        batcher = self._batcher
        if batcher is None:
            return
        room = self.options.max_batch_size + self.options.max_queue
        if batcher.full or batcher.queued + batcher.running + self._images_waiting >= room:
            raise Overloaded(f"Model '{self.spec.id}' is busy: too many requests are waiting; retry shortly.")

    async def _events_with_images(
        self, request: ChatRequest, renderer: VisionRenderer
    ) -> AsyncIterator[ChatEvent]:
        self._images_waiting += 1
        try:
            await self._vision_slots.acquire()
        finally:
            self._images_waiting -= 1
        try:
            prompt = await asyncio.to_thread(renderer.prepare, request)
            job = self._job(request, prompt.ids, prompt)
            del prompt  # the job lets go of the pixel inputs once prefilled
            events = self._events(job)
            try:
                async for event in events:
                    yield event
            finally:
                await events.aclose()  # type: ignore[attr-defined]  # cancels the job at once
        finally:
            self._vision_slots.release()

    def _job(self, request: ChatRequest, prompt: list[int], vision: VisionPrompt | None = None) -> Job:
        from openmaas.engines.transformers.job import Job
        from openmaas.engines.transformers.sampling import RowSampling

        assert self._loaded is not None and self._batcher is not None
        sampling = request.sampling
        budget = answer_budget(self.spec.id, self._loaded.context_length, len(prompt), sampling.max_tokens)
        return Job(
            prompt_ids=prompt,
            sampling=RowSampling(
                temperature=1.0 if sampling.temperature is None else sampling.temperature,
                top_p=1.0 if sampling.top_p is None else sampling.top_p,
                top_k=sampling.top_k,
                presence_penalty=sampling.presence_penalty,
                frequency_penalty=sampling.frequency_penalty,
                repetition_penalty=sampling.repetition_penalty or 1.0,
                logits_hook=self._hooks(request),
            ),
            max_new_tokens=budget,
            stops=sampling.stop,
            seed=sampling.seed,
            whole=not request.stream,
            vision=vision,
        )

    def _hooks(self, request: ChatRequest) -> LogitsHook | None:
        """The grammar of a constrained answer, and the thinking budget of a reasoning model."""
        from openmaas.engines.transformers.constraints import chain

        constraints = self._constraints
        assert constraints is not None
        hooks: list[LogitsHook] = []
        if request.grammar is not None:
            hooks.append(constraints.grammar(request.grammar))
        budget = request.reasoning.budget_tokens
        if (
            budget is not None
            and self.spec.reasoning_parser is not None
            and request.reasoning.enabled is not False
        ):
            hooks.append(constraints.budget(budget, starts_open=self.spec.reasoning_parser == "think-open"))
        return chain(hooks)

    async def _events(self, job: Job) -> AsyncIterator[ChatEvent]:
        batcher = self._batcher
        if batcher is None:
            raise Overloaded(f"Model '{self.spec.id}' is not loaded.", retry_after=5)
        job.loop = asyncio.get_running_loop()
        batcher.submit(job)
        done = False
        try:
            while not done:
                outcome = await job.outbox.get()
                if isinstance(outcome, BaseException):
                    done = True
                    raise outcome
                for event in outcome:
                    done = done or isinstance(event, Usage)
                    yield event
        finally:
            if not done:
                batcher.cancel(job)

    def _ready_renderer(self) -> PromptRenderer | VisionRenderer:
        if self._renderer is None:
            raise ModelNotReady(self.spec.id)
        return self._renderer
