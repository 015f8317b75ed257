"""What a caller sends never becomes a metric label, and reaches the log only bounded and redacted.

300 calls naming unknown 10,000-character models once grew `/metrics` by 60 MB, and a token pasted into
`model` was published there and written to the log.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from openmaas.access.tokens import new_token
from tests.conftest import Harness
from tests.servers import cli, server_process

USER = [{"role": "user", "content": "hi"}]


async def test_unknown_models_count_under_one_label(harness: Harness) -> None:
    before = len((await harness.client.get("/metrics")).content)
    for index in range(300):
        response = await harness.chat({"model": f"{index:04d}" + "x" * 10_000, "messages": USER})
        assert response.status_code == 404
    token = new_token()
    assert (await harness.chat({"model": token, "messages": USER})).status_code == 404
    assert (await harness.chat({"model": "test/scripted", "messages": USER})).status_code == 200
    metrics = (await harness.client.get("/metrics")).text
    assert len(metrics) - before < 20_000
    assert token not in metrics and "xxxxxxxxxx" not in metrics
    assert 'openmaas_requests_total{model="other",route="/v1/chat/completions",status="404"} 301.0' in metrics
    assert 'model="test/scripted",route="/v1/chat/completions",status="200"' in metrics


def test_the_log_holds_no_token_and_no_flood(tmp_path: Path, models_file: Path) -> None:
    data = tmp_path / "data"
    cli(data, "users", "add", "alice")
    token = cli(data, "tokens", "create", "alice").stdout.strip()
    leaked = new_token()
    with server_process(data, models_file) as server:
        headers = {"Authorization": f"Bearer {token}"}
        for model in (leaked, "y" * 50_000, f"Bearer {leaked}"):
            body = {"model": model, "messages": USER, model[:50]: 1}
            response = httpx.post(f"{server.base_url}/v1/chat/completions", json=body, headers=headers)
            assert response.status_code == 404
        bad = httpx.post(f"{server.base_url}/v1/chat/completions", json={"model": 1}, headers=headers)
        assert bad.status_code == 400
    log = server.log()
    assert leaked not in log and leaked[3:] not in log and token not in log
    assert f"{leaked[:11]}-<redacted>" in log
    assert "y" * 300 not in log and len(log) < 50_000
