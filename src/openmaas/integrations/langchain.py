"""LangChain chat model and embeddings for OpenMaaS and ModelScope's API-Inference service.

`ModelScopeChatEndpoint` keeps the constructor of the `langchain-modelscope-integration` package (`model`,
`temperature`, `max_tokens`, `timeout`, `max_retries`, `base_url`, `api_key`) on the current
`langchain-openai` `ChatOpenAI`, so `invoke`, `stream`, `batch`, their async forms, `bind_tools` and
`with_structured_output` all come from there. What it adds is what an OpenAI-compatible MaaS returns beyond
the OpenAI spec: a thinking model's `reasoning_content`, kept in `additional_kwargs["reasoning_content"]`
both for whole answers and for streamed chunks (where it concatenates as chunks are added up), and so
also a `reasoning` block in `content_blocks` (and in `content` with `output_version="v1"`).

`ModelScopeEmbeddings` embeds over `POST /v1/embeddings`, sending the texts themselves (an OpenAI
embeddings client would otherwise send tiktoken token ids, which only OpenAI's own models understand).

Both find their server and token the same way, never from the `OPENAI_*` variables:

- base URL: the `base_url` argument, else `$OPENMAAS_BASE_URL`, else `https://api-inference.modelscope.cn/v1`;
- token: the `api_key` argument (or the original package's `modelscope_sdk_token`), else
  `$MODELSCOPE_SDK_TOKEN`, else `$OPENMAAS_API_KEY`.

Needs the `langchain` extra: `pip install 'openmaas[langchain]'`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import LangSmithParams
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import Field, model_validator

MODELSCOPE_BASE_URL = "https://api-inference.modelscope.cn/v1"
BASE_URL_ENV = "OPENMAAS_BASE_URL"
TOKEN_ENVS = ("MODELSCOPE_SDK_TOKEN", "OPENMAAS_API_KEY")
# Not "openai": LangChain then reads `content_blocks` generically, which includes `reasoning_content`.
PROVIDER = "modelscope"

__all__ = ["MODELSCOPE_BASE_URL", "ModelScopeChatEndpoint", "ModelScopeEmbeddings", "default_base_url"]


def default_base_url() -> str:
    """Where a client connects when no `base_url` is given."""
    return os.environ.get(BASE_URL_ENV) or MODELSCOPE_BASE_URL


def _connection_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """Fill in `base_url` and `api_key` before the OpenAI classes would read `OPENAI_*` variables."""
    values = dict(values)
    token = values.pop("modelscope_sdk_token", None)
    if not (values.get("api_key") or values.get("openai_api_key")):
        token = token or next((os.environ[name] for name in TOKEN_ENVS if os.environ.get(name)), None)
        if not token:
            raise ValueError(
                "No access token: pass api_key=... or set MODELSCOPE_SDK_TOKEN (or OPENMAAS_API_KEY)."
            )
        values["api_key"] = token
    if not (values.get("base_url") or values.get("openai_api_base")):
        values["base_url"] = default_base_url()
    return values


def _field(obj: Any, name: str) -> Any:
    """A field of a wire object, whether the SDK parsed it into a model (extras as attributes) or a dict."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _choices(response: Any) -> Sequence[Any]:
    return _field(response, "choices") or ()


class ModelScopeChatEndpoint(ChatOpenAI):
    """A chat model on OpenMaaS or ModelScope's API-Inference, with the `langchain-modelscope` constructor.

    ```python
    from openmaas.integrations.langchain import ModelScopeChatEndpoint

    llm = ModelScopeChatEndpoint(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        temperature=0,
        max_tokens=1024,
        timeout=60,
        max_retries=2,
        base_url="http://127.0.0.1:8000/v1",  # else $OPENMAAS_BASE_URL, else ModelScope
    )
    llm.invoke([("system", "Translate the user sentence to Chinese."), ("human", "I love programming.")])
    ```

    Thinking models: pass `extra_body={"enable_thinking": True}` (or False) and read
    `message.additional_kwargs["reasoning_content"]`.
    """

    model_name: str = Field(alias="model")
    """The model id, e.g. `Qwen/Qwen2.5-0.5B-Instruct` (required: there is no sensible default)."""

    stream_usage: bool | None = True
    """OpenMaaS and ModelScope both send token usage in a last chunk when asked, so streams ask."""

    use_responses_api: bool | None = False
    """Chat Completions by default, which both OpenMaaS and ModelScope speak. `use_responses_api=True`
    switches to OpenAI's Responses API, which OpenMaaS also speaks (ModelScope's service does not); the
    thinking text is then a `reasoning` content block, as `ChatOpenAI` reads it there."""

    @model_validator(mode="before")
    @classmethod
    def _modelscope_connection(cls, values: Any) -> Any:
        return _connection_defaults(values) if isinstance(values, dict) else values

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"openai_api_key": "MODELSCOPE_SDK_TOKEN"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return False

    @property
    def _llm_type(self) -> str:
        return "modelscope-chat-endpoint"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = PROVIDER
        return params

    def _create_chat_result(self, response: Any, generation_info: dict[str, Any] | None = None) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        if result.llm_output is not None:
            result.llm_output["model_provider"] = PROVIDER
        for generation, choice in zip(result.generations, _choices(response), strict=False):
            reasoning = _field(_field(choice, "message"), "reasoning_content")
            if isinstance(reasoning, str):
                generation.message.additional_kwargs["reasoning_content"] = reasoning
        return result

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type,
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        generation = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if generation is None:
            return None
        generation.message.response_metadata["model_provider"] = PROVIDER
        choices = chunk.get("choices") or chunk.get("chunk", {}).get("choices") or []
        if choices:
            reasoning = _field(choices[0].get("delta"), "reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                generation.message.additional_kwargs["reasoning_content"] = reasoning
        return generation


class ModelScopeEmbeddings(OpenAIEmbeddings):
    """Embeddings over `POST /v1/embeddings` of OpenMaaS (or any OpenAI-compatible embeddings endpoint).

    ```python
    embeddings = ModelScopeEmbeddings(model="sentence-transformers/all-MiniLM-L6-v2")
    embeddings.embed_query("What is the meaning of life?")
    ```

    `model_id=` (the original package's name for it) is accepted for `model=`.
    """

    model: str
    """The embedding model id (required)."""

    check_embedding_ctx_length: bool = False
    """Send the texts themselves; the server tokenizes them for its own model."""

    @model_validator(mode="before")
    @classmethod
    def _modelscope_connection(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = _connection_defaults(values)
        if "model_id" in values and "model" not in values:
            values["model"] = values.pop("model_id")
        # Floats, not the OpenAI SDK's default base64: every OpenAI-compatible server returns floats.
        values["model_kwargs"] = {"encoding_format": "float", **values.get("model_kwargs", {})}
        return values
