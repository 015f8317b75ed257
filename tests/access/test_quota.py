"""Daily call quotas end to end: exact under concurrency, per-model caps, the reset, the headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from openmaas.access.clock import QuotaDay, format_duration
from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.settings import Settings
from tests.conftest import Harness
from tests.servers import add_user_with_token, asgi_client

USER = [{"role": "user", "content": "hi"}]
QUOTA_HEADERS = (
    "modelscope-ratelimit-requests-limit",
    "modelscope-ratelimit-requests-remaining",
    "modelscope-ratelimit-model-requests-limit",
    "modelscope-ratelimit-model-requests-remaining",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
)


async def test_exact_under_concurrency(harness: Harness) -> None:
    token = await harness.token_for("carol", daily_limit=50)
    body = {"model": "test/scripted", "messages": USER}
    responses = await asyncio.gather(*(harness.chat(body, token=token) for _ in range(200)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    remaining = sorted(
        int(r.headers["modelscope-ratelimit-requests-remaining"]) for r in responses if r.status_code == 200
    )
    assert remaining == list(range(50))


async def test_headers_on_every_metered_response(harness: Harness) -> None:
    token = await harness.token_for("dave", daily_limit=10)
    first = await harness.chat({"model": "test/scripted", "messages": USER}, token=token)
    second = await harness.chat({"model": "test/scripted", "messages": USER, "stream": True}, token=token)
    for response, left in ((first, 9), (second, 8)):
        assert all(h in response.headers for h in QUOTA_HEADERS)
        assert response.headers["modelscope-ratelimit-requests-limit"] == "10"
        assert response.headers["modelscope-ratelimit-requests-remaining"] == str(left)
        assert response.headers["x-ratelimit-remaining-requests"] == str(left)
        assert response.headers["modelscope-ratelimit-model-requests-limit"] == "10"
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")


async def test_limit_reached_gives_429_with_retry_after(harness: Harness) -> None:
    token = await harness.token_for("erin", daily_limit=1)
    assert (await harness.chat({"model": "test/scripted", "messages": USER}, token=token)).status_code == 200
    refused = await harness.chat({"model": "test/scripted", "messages": USER}, token=token)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "daily_quota_exceeded"
    assert "all models" in error["message"] and "erin" in error["message"]
    retry = int(refused.headers["Retry-After"])
    assert abs(retry - harness.services.quota_day.seconds_to_reset()) <= 2
    assert refused.headers["modelscope-ratelimit-requests-remaining"] == "0"
    # Invalid requests are not counted, and listing models is free.
    assert (await harness.client.get("/v1/models")).status_code == 200


async def test_per_model_cap_from_the_registry(harness: Harness) -> None:
    token = await harness.token_for("frank")
    for _ in range(3):
        ok = await harness.chat({"model": "test/capped", "messages": USER}, token=token)
        assert ok.status_code == 200
    assert ok.headers["modelscope-ratelimit-model-requests-limit"] == "3"
    assert ok.headers["modelscope-ratelimit-model-requests-remaining"] == "0"
    refused = await harness.chat({"model": "test/capped", "messages": USER}, token=token)
    assert refused.status_code == 429
    assert "test/capped" in refused.json()["error"]["message"]
    other = await harness.chat({"model": "test/scripted", "messages": USER}, token=token)
    assert other.status_code == 200
    assert other.headers["modelscope-ratelimit-requests-remaining"] == "1996"


async def test_per_model_cap_of_the_user(harness: Harness) -> None:
    token = await harness.token_for("gina", daily_limit=100, model_daily_limit=2)
    statuses = [
        (await harness.chat({"model": model, "messages": USER}, token=token)).status_code
        for model in ["test/scripted"] * 3 + ["test/capped"] * 3
    ]
    assert statuses == [200, 200, 429, 200, 200, 429]


async def test_invalid_requests_are_not_counted(harness: Harness) -> None:
    token = await harness.token_for("hank", daily_limit=1)
    bad = await harness.chat({"model": "test/scripted", "messages": USER, "temperature": 9}, token=token)
    assert bad.status_code == 400
    assert (await harness.chat({"model": "test/scripted", "messages": USER}, token=token)).status_code == 200


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def clocked(settings: Settings) -> AsyncIterator[tuple[Harness, MovableClock]]:
    # 23:59:30 in Shanghai (UTC+8) on 2026-03-01.
    clock = MovableClock(datetime(2026, 3, 1, 15, 59, 30, tzinfo=UTC))
    app = create_app(settings, clock=clock, catalog=load_catalog(settings.models_file))
    async with asgi_client(app) as (client, services):
        await services.engines.wait_ready()
        token = await add_user_with_token(services, "ivy", daily_limit=2)
        yield Harness(client, services, token), clock


async def test_the_day_rolls_over_at_local_midnight(clocked: tuple[Harness, MovableClock]) -> None:
    harness, clock = clocked
    body = {"model": "test/scripted", "messages": USER}
    assert [(await harness.chat(body)).status_code for _ in range(3)] == [200, 200, 429]
    refused = await harness.chat(body)
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["x-ratelimit-reset-requests"] == "30s"
    clock.now += timedelta(seconds=31)
    assert [(await harness.chat(body)).status_code for _ in range(3)] == [200, 200, 429]
    usage = (await harness.client.get("/v1/usage", headers=harness.auth)).json()
    assert usage["day"] == "2026-03-02" and usage["used"] == 2 and usage["remaining"] == 0
    assert usage["reset_at"] == "2026-03-03T00:00:00+08:00"


async def test_usage_endpoint(harness: Harness) -> None:
    for model in ("test/scripted", "test/scripted", "test/capped"):
        await harness.chat({"model": model, "messages": USER})
    await harness.services.metering.drain()
    response = await harness.client.get("/v1/usage", headers=harness.auth)
    assert response.status_code == 200
    usage = response.json()
    assert (usage["user"], usage["limit"], usage["used"], usage["remaining"]) == ("alice", 2000, 3, 1997)
    by_model = {m["model"]: m for m in usage["models"]}
    assert by_model["test/scripted"]["used"] == 2 and by_model["test/scripted"]["completion_tokens"] == 8
    assert by_model["test/capped"] == {**by_model["test/capped"], "limit": 3, "used": 1, "remaining": 2}
    assert (await harness.client.get("/v1/usage")).status_code == 401


def test_quota_day_arithmetic() -> None:
    day = QuotaDay(Settings().zone, lambda: datetime(2026, 6, 30, 16, 0, 0, tzinfo=UTC))
    assert day.today().isoformat() == "2026-07-01"
    assert day.seconds_to_reset() == 24 * 3600
    assert format_duration(3 * 3600 + 62) == "3h1m2s"
    assert format_duration(61) == "1m1s"
    assert format_duration(5) == "5s"
