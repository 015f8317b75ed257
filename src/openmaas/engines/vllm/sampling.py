"""From our `Sampling` (and a request's response format) to the arguments of vLLM's `SamplingParams`.

Temperature, top-p and top-k the request and the registry left open take the model's own defaults (what
vLLM reads from the model's `generation_config.json`), else vLLM's (1.0, 1.0, all tokens); the model's
repetition penalty (unless the request or the registry sets one) and min-p, which our API does not
expose, come along the same way. (Structured output
and forced tool calls are a grammar: see `VLLMChatEngine._grammar`.) This module does not import vLLM:
it returns plain keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openmaas.domain.chat import ChatRequest

#: Model defaults passed through although the API has no field for them.
_MODEL_ONLY_DEFAULTS = ("repetition_penalty", "min_p")


def sampling_kwargs(
    request: ChatRequest,
    *,
    max_tokens: int,
    model_defaults: Mapping[str, Any],
    thinking_budget: int | None = None,
) -> dict[str, Any]:
    """Keyword arguments of `SamplingParams` for one request (without `output_kind`); `thinking_budget`
    is the most tokens a reasoning model may think before vLLM makes it close its thinking."""
    sampling = request.sampling
    kwargs: dict[str, Any] = {
        "n": 1,
        "temperature": _first(sampling.temperature, model_defaults.get("temperature"), 1.0),
        "top_p": _first(sampling.top_p, model_defaults.get("top_p"), 1.0),
        "top_k": sampling.top_k or int(model_defaults.get("top_k") or 0),
        "seed": sampling.seed,
        "max_tokens": max_tokens,
        "stop": list(sampling.stop) or None,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
    }
    kwargs.update({key: model_defaults[key] for key in _MODEL_ONLY_DEFAULTS if key in model_defaults})
    if sampling.repetition_penalty is not None:
        kwargs["repetition_penalty"] = sampling.repetition_penalty
    if thinking_budget is not None:
        kwargs["thinking_token_budget"] = thinking_budget
    return kwargs


def _first(*values: float | None) -> float:
    return float(next(value for value in values if value is not None))
