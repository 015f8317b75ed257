"""The vLLM side of the engine: building vLLM's `AsyncLLM` and running requests on it.

This is the only module that imports vLLM (and, through it, torch). `start_runtime` resolves the weights
(a GGUF file is converted once to a safetensors folder, as for the transformers engine), loads the
tokenizer (and, for a vision model, its processor's chat template) for our own prompt rendering, and
builds the `AsyncLLM` from the registry options (`options.py`). vLLM starts its engine core in a child
process; that blocking start runs in a worker thread so the event loop keeps serving.

A stat logger handed to vLLM keeps the numbers `EngineStats` reports: requests waiting in vLLM's
scheduler and tokens generated (from vLLM's per-step stats); requests in flight come from vLLM's own
count of unfinished requests, which drops the moment a request is aborted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image
from vllm import AsyncEngineArgs, SamplingParams
from vllm.config import ReasoningConfig, StructuredOutputsConfig
from vllm.exceptions import GracefulHTTPError, VLLMClientError
from vllm.inputs import TokensPrompt
from vllm.outputs import RequestOutput
from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
from vllm.v1.engine.async_llm import AsyncLLM
from vllm.v1.engine.exceptions import EngineDeadError
from vllm.v1.metrics.loggers import StatLoggerBase

from openmaas.domain.errors import EngineFailure, InvalidRequest, Overloaded
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext, EngineStats
from openmaas.engines.chat_template import PromptRenderer
from openmaas.engines.transformers.loading import model_folder
from openmaas.engines.vllm.options import VLLMOptions

log = logging.getLogger(__name__)


class StatsRecorder(StatLoggerBase):
    """Keeps the latest scheduler queue length and counts generated tokens (vLLM calls `record`)."""

    def __init__(self, vllm_config: Any = None, engine_index: int = 0) -> None:
        self.waiting = 0
        self.generated_tokens = 0

    def record(
        self,
        scheduler_stats: Any,
        iteration_stats: Any,
        mm_cache_stats: Any = None,
        engine_idx: int = 0,
    ) -> None:
        if scheduler_stats is not None:
            self.waiting = scheduler_stats.num_waiting_reqs
        if iteration_stats is not None:
            self.generated_tokens += iteration_stats.num_generation_tokens

    def log_engine_initialized(self) -> None:
        pass


@dataclass
class VLLMRuntime:
    llm: AsyncLLM
    renderer: PromptRenderer
    context_length: int
    model_defaults: Mapping[str, Any]
    recorder: StatsRecorder

    def stats(self) -> EngineStats:
        unfinished = self.llm.get_num_unfinished_requests()
        queued = min(self.recorder.waiting, unfinished)
        return EngineStats(
            queued=queued, running=unfinished - queued, generated_tokens=self.recorder.generated_tokens
        )

    def sampling_params(
        self, sampling: dict[str, Any], grammar: str | None, *, whole: bool
    ) -> SamplingParams:
        """vLLM's sampling parameters (`grammar`: a Lark grammar the answer must follow); settings vLLM
        refuses are `InvalidRequest`."""
        try:
            return SamplingParams(
                **sampling,
                output_kind=RequestOutputKind.FINAL_ONLY if whole else RequestOutputKind.DELTA,
                structured_outputs=StructuredOutputsParams(grammar=grammar) if grammar else None,
            )
        except (VLLMClientError, ValueError) as error:
            raise InvalidRequest(f"vLLM refused the request's settings: {error}") from error

    async def generate(
        self, request_id: str, prompt_ids: list[int], images: list[Image.Image], params: SamplingParams
    ) -> AsyncGenerator[RequestOutput, None]:
        """vLLM's outputs for one request, its errors translated to ours."""
        prompt = TokensPrompt(prompt_token_ids=prompt_ids)
        if images:
            prompt["multi_modal_data"] = {"image": images}
        outputs = self.llm.generate(prompt, params, request_id)
        try:
            async for output in outputs:
                yield output
        except VLLMClientError as error:  # a JSON schema it cannot compile, an image it cannot take
            raise InvalidRequest(f"vLLM refused the request: {error}") from error
        except GracefulHTTPError as error:
            raise Overloaded(f"vLLM is busy: {error.message}", retry_after=1) from error
        except EngineDeadError as error:
            raise EngineFailure("The vLLM engine died; see the worker's log.") from error
        finally:
            await outputs.aclose()

    async def abort(self, request_id: str) -> None:
        await self.llm.abort(request_id)

    def close(self) -> None:
        self.llm.shutdown()


async def start_runtime(spec: ModelSpec, context: EngineContext, options: VLLMOptions) -> VLLMRuntime:
    folder = await asyncio.to_thread(model_folder, context.resolve_weights(spec), context.cache_dir)
    vision = spec.task == "vision"
    renderer = await asyncio.to_thread(_renderer, folder, options, vision)
    recorder = StatsRecorder()
    args = _engine_args(spec, options, folder)
    llm = await asyncio.to_thread(
        AsyncLLM.from_engine_args, args, stat_loggers=[lambda config, index: recorder]
    )
    model_config = llm.model_config
    return VLLMRuntime(
        llm=llm,
        renderer=renderer,
        context_length=model_config.max_model_len,
        model_defaults=model_config.get_diff_sampling_param(),
        recorder=recorder,
    )


def _engine_args(spec: ModelSpec, options: VLLMOptions, folder: Any) -> AsyncEngineArgs:
    kwargs = options.engine_kwargs(folder, spec.id, spec.context_length)
    known = set(AsyncEngineArgs.__dataclass_fields__)
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise EngineFailure(
            f"invalid options for model '{spec.id}' (vllm engine): engine_args.{unknown[0]} is not an "
            f"argument of this vLLM's engine"
        )
    # Our grammars (`openmaas.grammars`) are written for llguidance: vLLM's `guidance` backend compiles
    # them as written, where its automatic choice would first try xgrammar, which drops their settings
    # (compact JSON without runs of whitespace).
    structured = kwargs.get("structured_outputs_config", {"backend": "guidance"})
    if isinstance(structured, dict):
        kwargs["structured_outputs_config"] = StructuredOutputsConfig(**structured)
    # A thinking budget needs the strings that open and close the thinking.
    reasoning = kwargs.get("reasoning_config")
    if reasoning is None and spec.reasoning_parser is not None:
        reasoning = {"reasoning_start_str": "<think>", "reasoning_end_str": "</think>"}
    if isinstance(reasoning, dict):
        kwargs["reasoning_config"] = ReasoningConfig(**reasoning)
    log.info("starting vLLM", extra={"model": spec.id})
    return AsyncEngineArgs(**kwargs)


def _renderer(folder: Any, options: VLLMOptions, vision: bool) -> PromptRenderer:
    from transformers import AutoProcessor, AutoTokenizer

    template = options.template_text()
    if vision:
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        tokenizer = processor.tokenizer
        template = template or getattr(processor, "chat_template", None)
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return PromptRenderer(tokenizer, template, accepts_images=vision)
