"""`engine = "openai-compatible"`: a model served elsewhere behind an OpenAI-compatible API (vLLM,
SGLang, Ollama, another OpenMaaS, a hosted service), on one or more replicas.

    [[models]]
    id = "Qwen/Qwen3-8B"
    task = "chat"
    engine = "openai-compatible"
    capabilities = ["tools", "reasoning"]
    [models.options]
    replicas = ["http://gpu-1:8000/v1", "http://gpu-2:8000/v1"]
    api_key_env = "QWEN_UPSTREAM_KEY"   # the name of an environment variable, never the key itself
    upstream_model = "Qwen/Qwen3-8B"    # the upstream's name for it (default: the id)

Requests are balanced over the replicas by requests in flight, with circuit breakers, health checks
(`GET {replica}/models`) and one retry on another replica before the first token (see `failover.py`).
Streams are relayed chunk by chunk: the upstream's chunks become our events, formatted again by the
dialect the client called (so an Anthropic client can use an OpenAI-compatible upstream).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import orjson
from pydantic import Field

from openmaas.domain.chat import ChatEvent, ChatRequest
from openmaas.domain.errors import EngineFailure
from openmaas.engines.options import EngineOptions
from openmaas.engines.remote.failover import FailoverChatEngine, ReplicaFailed, estimate_prompt_tokens
from openmaas.engines.remote.http import HEALTH_TIMEOUT, Timeouts, lines, new_session, post
from openmaas.engines.remote.openai_wire import StreamReader, completion_events, request_body
from openmaas.engines.remote.replicas import CircuitBreaker, Replica


class UpstreamOptions(EngineOptions):
    replicas: list[str] = Field(min_length=1, description="Base URLs, e.g. http://host:8000/v1")
    api_key_env: str | None = Field(default=None, description="Environment variable with the API key.")
    upstream_model: str | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=300.0, gt=0)
    health_interval: float = Field(default=5.0, gt=0)
    breaker_threshold: int = Field(default=3, ge=1)
    breaker_cooldown: float = Field(default=2.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)


class OpenAICompatibleEngine(FailoverChatEngine):
    capabilities = frozenset({"tools", "reasoning", "vision"})

    async def start(self) -> None:
        options = UpstreamOptions.parse(self.spec.id, "openai-compatible", self.spec.options)
        headers = {"Content-Type": "application/json"}
        if options.api_key_env is not None:
            key = os.environ.get(options.api_key_env)
            if not key:
                raise EngineFailure(
                    f"the environment variable {options.api_key_env} (the API key) is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.model_name = options.upstream_model or self.spec.id
        self.health_interval = options.health_interval
        self.session = new_session(
            Timeouts(options.connect_timeout, options.read_timeout), options.max_connections
        )
        for url in options.replicas:
            breaker = CircuitBreaker(threshold=options.breaker_threshold, cooldown=options.breaker_cooldown)
            self.replicas.replicas.append(Replica(url.rstrip("/"), headers=headers, breaker=breaker))
        self.start_health_checks()

    async def close(self) -> None:
        await super().close()
        await self.session.close()

    async def _check(self, replica: Replica) -> bool:
        url = f"{replica.url}/models"
        async with self.session.get(url, headers=replica.headers, timeout=HEALTH_TIMEOUT) as response:
            return response.status == 200

    async def _open(self, replica: Replica, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        body = orjson.dumps(request_body(request, self.model_name))
        async with post(self.session, f"{replica.url}/chat/completions", body, replica.headers) as response:
            if not request.stream:
                try:
                    answer = orjson.loads(await response.read())
                except orjson.JSONDecodeError as exc:
                    raise ReplicaFailed("the answer is not JSON") from exc
                for event in completion_events(answer, estimate_prompt_tokens(request)):
                    yield event
                return
            reader = StreamReader()
            async for line in lines(response.content):
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments, `event:` lines
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                try:
                    chunk = orjson.loads(payload)
                except orjson.JSONDecodeError as exc:
                    raise ReplicaFailed("a chunk of the stream is not JSON") from exc
                if "error" in chunk and "choices" not in chunk:
                    raise ReplicaFailed(f"the stream ended with an error: {chunk['error']}")
                for event in reader.chunk(chunk):
                    yield event
            else:
                if reader.finish is None:
                    raise ReplicaFailed("the stream ended before the answer did")
            for event in reader.end(estimate_prompt_tokens(request)):
                yield event
