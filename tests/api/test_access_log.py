"""The access log: one INFO line per request, except the probes, which are logged at DEBUG."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Harness


async def test_probes_are_logged_at_debug_and_calls_at_info(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="openmaas.access")
    assert (await harness.client.get("/healthz")).status_code == 200
    await harness.client.get("/readyz")
    messages = [{"role": "user", "content": "hi"}]
    assert (await harness.chat({"model": "test/scripted", "messages": messages})).status_code == 200
    levels = {record.path: record.levelno for record in caplog.records if record.name == "openmaas.access"}  # type: ignore[attr-defined]
    assert levels == {
        "/healthz": logging.DEBUG,
        "/readyz": logging.DEBUG,
        "/v1/chat/completions": logging.INFO,
    }
