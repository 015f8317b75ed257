"""The vLLM engine's pure parts, without vLLM: registry options → engine arguments (tensor/pipeline
parallel, Ray, KV cache, free-form engine_args), our sampling → vLLM's, vLLM's outputs → our events.
The engine itself runs against real vLLM in tests/vllm."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from openmaas.domain.chat import (
    ChatRequest,
    Finish,
    Message,
    Sampling,
    TextDelta,
    TextPart,
    Usage,
)
from openmaas.domain.errors import EngineFailure
from openmaas.engines.factories import default_factories
from openmaas.engines.vllm.events import OutputEvents
from openmaas.engines.vllm.options import VLLMOptions
from openmaas.engines.vllm.sampling import sampling_kwargs

FOLDER = Path("/models/qwen")


def test_the_engine_is_registered_and_imports_without_vllm() -> None:
    factory = default_factories().factory("vllm")
    assert factory.__name__ == "VLLMChatEngine"
    assert ("vllm" not in sys.modules and "torch" not in sys.modules) or "vllm" not in sys.modules


def test_defaults_leave_vllm_its_own() -> None:
    kwargs = VLLMOptions.parse("m", "vllm", {}).engine_kwargs(FOLDER, "Org/Model", None)
    assert kwargs == {
        "model": str(FOLDER),
        "tokenizer": str(FOLDER),
        "served_model_name": "Org/Model",
        "disable_log_stats": True,
        "dtype": "auto",
        "enforce_eager": False,
        "tensor_parallel_size": 1,
        "pipeline_parallel_size": 1,
    }


def test_parallelism_ray_and_memory_settings_pass_through() -> None:
    options = VLLMOptions.parse(
        "m",
        "vllm",
        {
            "tensor_parallel_size": 8,
            "pipeline_parallel_size": 2,
            "distributed_executor_backend": "ray",
            "gpu_memory_utilization": 0.85,
            "max_num_seqs": 128,
            "dtype": "bfloat16",
            "enforce_eager": True,
            "kv_cache_space_gb": 1.5,
            "engine_args": {"quantization": "fp8", "enable_prefix_caching": True},
        },
    )
    kwargs = options.engine_kwargs(FOLDER, "Org/Model", 32768)
    expected = {
        "tensor_parallel_size": 8,
        "pipeline_parallel_size": 2,
        "distributed_executor_backend": "ray",
        "gpu_memory_utilization": 0.85,
        "max_num_seqs": 128,
        "dtype": "bfloat16",
        "enforce_eager": True,
        "kv_cache_memory_bytes": 3 << 29,
        "max_model_len": 32768,  # the entry's context_length
        "quantization": "fp8",
        "enable_prefix_caching": True,
    }
    assert {key: kwargs[key] for key in expected} == expected


def test_max_model_len_wins_over_the_context_length() -> None:
    options = VLLMOptions.parse("m", "vllm", {"max_model_len": 4096})
    assert options.engine_kwargs(FOLDER, "m", 32768)["max_model_len"] == 4096


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"tensor_parallel": 2}, "tensor_parallel"),
        ({"distributed_executor_backend": "slurm"}, "distributed_executor_backend"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"engine_args": {"model": "/elsewhere"}}, "engine_args.model is set by OpenMaaS"),
        ({"engine_args": {"max_num_seqs": 4}}, "set it as the option `max_num_seqs`"),
    ],
)
def test_bad_options_are_errors_naming_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match="invalid options for model 'Org/M' \\(vllm engine\\)") as error:
        VLLMOptions.parse("Org/M", "vllm", options)
    assert named in str(error.value)


def request(**settings: Any) -> ChatRequest:
    return ChatRequest("m", (Message("user", (TextPart("hi"),)),), sampling=Sampling(**settings))


def test_open_sampling_settings_take_the_models_defaults() -> None:
    defaults = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "repetition_penalty": 1.05}
    kwargs = sampling_kwargs(request(), max_tokens=100, model_defaults=defaults)
    assert kwargs == {
        "n": 1,
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 20,
        "seed": None,
        "max_tokens": 100,
        "stop": None,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "repetition_penalty": 1.05,
    }
    bare = sampling_kwargs(request(), max_tokens=5, model_defaults={})
    assert (bare["temperature"], bare["top_p"], bare["top_k"]) == (1.0, 1.0, 0)


def test_a_thinking_budget_is_passed_on() -> None:
    kwargs = sampling_kwargs(request(), max_tokens=9, model_defaults={}, thinking_budget=256)
    assert kwargs["thinking_token_budget"] == 256
    assert "thinking_token_budget" not in sampling_kwargs(request(), max_tokens=9, model_defaults={})


def test_request_settings_win() -> None:
    settings = request(
        temperature=0.0,
        top_p=0.5,
        top_k=3,
        seed=42,
        stop=("###",),
        presence_penalty=0.5,
        frequency_penalty=-1,
    )
    kwargs = sampling_kwargs(settings, max_tokens=7, model_defaults={"temperature": 0.6, "top_k": 20})
    assert {key: kwargs[key] for key in ("temperature", "top_p", "top_k", "seed", "stop")} == {
        "temperature": 0.0,
        "top_p": 0.5,
        "top_k": 3,
        "seed": 42,
        "stop": ["###"],
    }
    assert (kwargs["presence_penalty"], kwargs["frequency_penalty"]) == (0.5, -1)


def output(
    text: str, tokens: int, finished: bool = False, reason: str | None = None, stop: Any = None
) -> Any:
    completion = SimpleNamespace(
        text=text, token_ids=list(range(tokens)), finish_reason=reason, stop_reason=stop
    )
    return SimpleNamespace(outputs=[completion], finished=finished, prompt_token_ids=None)


def test_deltas_then_finish_and_usage() -> None:
    events = OutputEvents("m", prompt_tokens=9)
    first = SimpleNamespace(**{**vars(output("Hel", 1)), "prompt_token_ids": list(range(12))})
    assert events.feed(first) == [TextDelta("Hel")]
    assert events.feed(output("", 1)) == []  # a token that completes no character yet
    assert events.feed(output("lo", 1, True, "stop", "###")) == [
        TextDelta("lo"),
        Finish("stop", stop_sequence="###"),
        Usage(prompt_tokens=12, completion_tokens=3),  # vLLM's prompt count (images expanded)
    ]


@pytest.mark.parametrize(
    ("reason", "stop", "finish"),
    [("stop", None, Finish("stop")), ("stop", 151645, Finish("stop")), ("length", None, Finish("length"))],
)
def test_finish_reasons(reason: str, stop: Any, finish: Finish) -> None:
    assert OutputEvents("m", 3).feed(output("x", 2, True, reason, stop))[1:] == [finish, Usage(3, 2)]


def test_an_answer_vllm_gave_up_on_is_an_engine_failure() -> None:
    with pytest.raises(EngineFailure, match="early \\(abort\\)"):
        OutputEvents("m", 3).feed(output("", 0, True, "abort"))
