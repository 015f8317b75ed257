"""The `openai-compatible` engine against fake upstreams on 127.0.0.1, through our OpenAI route:
field mapping (reasoning, tool calls, usage), balancing, failover before the first token only, circuit
breaking, and errors in the client's dialect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from openmaas.app import create_app
from openmaas.catalog import Catalog
from openmaas.domain.models import ModelSpec
from openmaas.engines.remote.replicas import BreakerState
from openmaas.services.container import Services
from openmaas.settings import Settings
from tests.fake_upstream import FakeUpstream
from tests.servers import add_user_with_token, asgi_client, uvicorn_server

MODEL = "up/model"


@contextlib.asynccontextmanager
async def upstreams(count: int) -> AsyncIterator[list[tuple[FakeUpstream, str]]]:
    async with contextlib.AsyncExitStack() as stack:
        served = []
        for index in range(count):
            fake = FakeUpstream(f"upstream-{index}")
            url = await stack.enter_async_context(uvicorn_server(fake.app))  # type: ignore[arg-type]
            served.append((fake, f"{url}/v1"))
        yield served


class Gateway:
    def __init__(self, client: httpx.AsyncClient, services: Services, token: str) -> None:
        self.client = client
        self.services = services
        self.token = token

    async def chat(self, **body: Any) -> httpx.Response:
        payload = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], **body}
        headers = {"Authorization": f"Bearer {self.token}"}
        return await self.client.post("/v1/chat/completions", json=payload, headers=headers)

    @property
    def engine(self) -> Any:
        return self.services.engines._slots[MODEL].engine


@contextlib.asynccontextmanager
async def gateway(
    tmp_path: Path,
    replicas: list[str],
    *,
    over_http: bool = False,
    capabilities: tuple[str, ...] = ("tools", "reasoning"),
    **options: Any,
) -> AsyncIterator[Gateway]:
    """Our app on the remote engine: in-process, or `over_http` on uvicorn (client disconnects)."""
    spec = ModelSpec(
        id=MODEL,
        task="chat",
        engine="openai-compatible",
        capabilities=capabilities,
        options={"replicas": replicas, "upstream_model": "served-name", "health_interval": 3600, **options},
    )
    app = create_app(Settings(data_dir=tmp_path / "data"), catalog=Catalog([spec]))
    async with contextlib.AsyncExitStack() as stack:
        if over_http:
            base = await stack.enter_async_context(uvicorn_server(app))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=base))
            services: Services = app.state.services
        else:
            client, services = await stack.enter_async_context(asgi_client(app))
        await services.engines.wait_ready()
        yield Gateway(client, services, await add_user_with_token(services, "alice"))


def sse(response: httpx.Response) -> list[dict[str, Any]]:
    lines = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [orjson.loads(line) for line in lines[:-1]]


async def test_stream_maps_reasoning_and_passes_usage(tmp_path: Path) -> None:
    async with upstreams(1) as [(fake, url)], gateway(tmp_path, [url]) as gw:
        fake.reasoning = "think hard"
        response = await gw.chat(stream=True, stream_options={"include_usage": True}, temperature=0.2)
        assert response.status_code == 200
        chunks = sse(response)
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        assert "".join(d.get("reasoning_content", "") for d in deltas) == "think hard "
        assert "".join(d.get("content") or "" for d in deltas) == "Hello from the upstream"
        assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
        sent = fake.received[0]
        assert sent["model"] == "served-name" and sent["stream"] is True and sent["temperature"] == 0.2
        assert sent["stream_options"] == {"include_usage": True}


async def test_whole_answer_with_reasoning_content_and_tool_calls(tmp_path: Path) -> None:
    async with upstreams(1) as [(fake, url)], gateway(tmp_path, [url]) as gw:
        fake.reasoning, fake.reasoning_field = "because", "reasoning_content"
        fake.tool_call = ("get_weather", '{"city": "Paris"}')
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        response = await gw.chat(tools=tools)
        assert response.status_code == 200, response.text
        choice = response.json()["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["reasoning_content"] == "because"
        call = choice["message"]["tool_calls"][0]
        assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
        assert response.json()["usage"]["prompt_tokens"] == 7
        assert fake.received[0]["stream"] is False  # a whole answer is asked for whole
        assert fake.received[0]["tools"][0]["function"]["name"] == "get_weather"


async def test_streamed_tool_call_pieces_are_relayed(tmp_path: Path) -> None:
    async with upstreams(1) as [(fake, url)], gateway(tmp_path, [url]) as gw:
        fake.tool_call = ("lookup", '{"q": "x"}')
        chunks = sse(await gw.chat(stream=True))
        calls = [
            c["choices"][0]["delta"]["tool_calls"][0]
            for c in chunks
            if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
        ]
        assert calls[0]["id"] == "call_1" and calls[0]["function"]["name"] == "lookup"
        assert "".join(c["function"]["arguments"] for c in calls) == '{"q": "x"}'
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_api_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "sk-upstream-secret")
    async with upstreams(1) as [(fake, url)], gateway(tmp_path, [url], api_key_env="FAKE_UPSTREAM_KEY") as gw:
        assert (await gw.chat()).status_code == 200
        assert fake.received[0]["_headers"]["authorization"] == "Bearer sk-upstream-secret"


async def test_failure_before_the_first_token_is_retried_once_elsewhere(tmp_path: Path) -> None:
    async with (
        upstreams(2) as [(bad, bad_url), (_, good_url)],
        gateway(tmp_path, [bad_url, good_url], breaker_cooldown=0.2) as gw,
    ):
        bad.status = 500
        for _ in range(4):
            response = await gw.chat(stream=True)
            assert response.status_code == 200
            assert (
                "".join(c["choices"][0]["delta"].get("content") or "" for c in sse(response) if c["choices"])
                == "Hello from the upstream"
            )
        # Three failures in a row opened the bad replica's breaker: it gets no more requests.
        assert len(bad.received) == 3
        assert gw.engine.replicas.replicas[0].breaker.state is BreakerState.OPEN
        usage = (await gw.client.get("/v1/usage", headers={"Authorization": f"Bearer {gw.token}"})).json()
        assert usage["used"] == 4  # every answered call counted once, retries not
        # It answers again: after the cooldown the next request it gets is the probe, and brings it back.
        bad.status = None
        await asyncio.sleep(0.3)
        for _ in range(4):
            assert (await gw.chat()).status_code == 200
        assert gw.engine.replicas.replicas[0].breaker.state is BreakerState.CLOSED
        assert len(bad.received) > 3


async def test_no_retry_after_tokens_reached_the_client(tmp_path: Path) -> None:
    async with upstreams(2) as [(one, one_url), (two, two_url)], gateway(tmp_path, [one_url, two_url]) as gw:
        one.fail_after = two.fail_after = 2
        response = await gw.chat(stream=True)
        assert response.status_code == 200
        chunks = sse(response)
        assert "error" in chunks[-1]
        assert (
            "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
            == "Hello from"
        )
        assert len(one.received) + len(two.received) == 1


async def test_every_replica_failing_is_a_clean_error(tmp_path: Path) -> None:
    async with upstreams(2) as [(one, one_url), (two, two_url)], gateway(tmp_path, [one_url, two_url]) as gw:
        one.status = two.status = 429
        response = await gw.chat()
        assert response.status_code == 503 and "Retry-After" in response.headers
        assert response.json()["error"]["type"] == "server_error"
        one.status = two.status = 400
        refused = await gw.chat()
        assert refused.status_code == 400 and "says 400" in refused.json()["error"]["message"]
        assert len(one.received) + len(two.received) == 3  # 429: tried on both; 400: not retried
        usage = (await gw.client.get("/v1/usage", headers={"Authorization": f"Bearer {gw.token}"})).json()
        assert usage["used"] == 0


async def test_unreachable_replica_is_taken_out_and_probed_back(tmp_path: Path) -> None:
    async with upstreams(1) as [(good, good_url)]:
        with __import__("socket").socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # bound, not listening: refused
            async with gateway(tmp_path, [dead, good_url], breaker_cooldown=0.2) as gw:
                results = [await gw.chat() for _ in range(6)]
                assert all(r.status_code == 200 for r in results)
                dead_replica = gw.engine.replicas.replicas[0]
                assert dead_replica.breaker.state is BreakerState.OPEN
                await gw.engine.check_all()  # after the cooldown the health check probes it: still dead
                await asyncio.sleep(0.25)
                await gw.engine.check_all()
                assert dead_replica.breaker.state is BreakerState.OPEN
                good.healthy = False
                await asyncio.sleep(0.5)
                await gw.engine.check_all()
                assert gw.engine.replicas.replicas[1].breaker.failures == 1  # one failed check: still in


async def test_load_is_balanced_by_requests_in_flight(tmp_path: Path) -> None:
    async with upstreams(2) as [(one, one_url), (two, two_url)], gateway(tmp_path, [one_url, two_url]) as gw:
        one.token_delay = two.token_delay = 0.02
        results = await asyncio.gather(*(gw.chat(stream=True) for _ in range(8)))
        assert all(r.status_code == 200 for r in results)
        assert (len(one.received), len(two.received)) == (4, 4)


async def test_a_client_that_leaves_stops_the_upstream(tmp_path: Path) -> None:
    async with upstreams(1) as [(fake, url)], gateway(tmp_path, [url], over_http=True) as gw:
        fake.reply, fake.token_delay = " ".join(f"w{i}" for i in range(200)), 0.02
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True}
        headers = {"Authorization": f"Bearer {gw.token}"}
        async with gw.client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            lines = response.aiter_lines()
            while "w3" not in await anext(lines):
                pass
        for _ in range(100):
            if fake.aborted:
                break
            await asyncio.sleep(0.05)
        assert fake.aborted == 1 and len(fake.received) == 1
        usage = (await gw.client.get("/v1/usage", headers=headers)).json()
        assert usage["used"] == 1  # a call cut short by the client still counts
