"""From a request's sampling settings (and its constrained answer) to OpenVINO's `GenerationConfig`.

The chat service has filled in the model's generation defaults, so the settings are the ones to use;
what is still open is the neutral choice. Greedy (temperature 0 or top-k 1) turns sampling off. OpenVINO
seeds every request's sampler with 0 unless told, so a request without a seed gets a random one: two
such requests must not give the same answer. Stop strings are not given to OpenVINO: the engine watches
for them in the text (`engines/answer.py`), as every local engine does, and ends the request itself.
The end-of-sequence tokens are the model's (`stop_token_ids`).
"""

from __future__ import annotations

import secrets
from typing import Any

from openmaas.domain.chat import ChatRequest
from openmaas.domain.models import ModelSpec
from openmaas.engines.openvino.structured import structural_tag
from openmaas.grammars import constraint_for


def generation_config(
    spec: ModelSpec, request: ChatRequest, max_new_tokens: int, eos_ids: frozenset[int]
) -> Any:
    import openvino_genai

    sampling = request.sampling
    config = openvino_genai.GenerationConfig()
    config.max_new_tokens = max_new_tokens
    config.stop_token_ids = set(eos_ids)
    config.do_sample = not sampling.greedy
    if config.do_sample:
        config.temperature = sampling.temperature if sampling.temperature is not None else 1.0
        config.top_p = sampling.top_p if sampling.top_p is not None else 1.0
        if sampling.top_k:
            config.top_k = sampling.top_k
    config.rng_seed = sampling.seed % 2**64 if sampling.seed is not None else secrets.randbits(63)
    config.presence_penalty = sampling.presence_penalty
    config.frequency_penalty = sampling.frequency_penalty
    if sampling.repetition_penalty is not None:
        config.repetition_penalty = sampling.repetition_penalty
    if request.grammar is not None:  # the service checked the request is constrained and valid
        constraint = constraint_for(spec, request)
        if constraint is not None:
            structured = openvino_genai.StructuredOutputConfig()
            structured.compound_grammar = structural_tag(constraint)
            config.structured_output_config = structured
    return config
