"""The vLLM tests' one engine worker: an `openmaas worker` started from `.venv-vllm` (vLLM's own
virtualenv) serving three tiny random-weight models built here on vLLM (a chat model, the same with its
thinking opened in the prompt, and an Idefics3 vision model), registered in Redis, behind a real
`openmaas serve` API process on PostgreSQL + Redis in this (the main) virtualenv. Started once per
session (vLLM takes 20-65 s to start a model on this CPU) and shared by every test; tests leave it idle.

`make test` creates `.venv-vllm` first (`make install-vllm`). Without it (no network to PyPI) the tests
are skipped with the reason, except under CI=true, where they must run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from openmaas.domain.chat import ChatRequest
from openmaas.engines.remote.wire import encode_request
from tests.backends import REDIS_URL, run_database, run_redis_prefix, unique_name
from tests.cluster import WORKER_SECRET, api_process, cluster_env, started_together, worker_process
from tests.servers import REPO, ServerProcess
from tests.tiny_models import CHATML_TOOLS_TEMPLATE, build_tiny_chat_model, build_tiny_vision_model

VLLM_VENV = REPO / ".venv-vllm"
MODEL = "test/tiny-vllm"
VISION_MODEL = "test/tiny-vllm-vision"
THINKING_MODEL = "test/tiny-vllm-thinking"
CONTEXT = 2048


@dataclass(frozen=True)
class VLLMCluster:
    api: ServerProcess
    worker: ServerProcess
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def worker_chat(self, request: ChatRequest) -> httpx.Response:
        """A request straight to the worker's internal API (images travel as bytes, as the API tier
        sends them once it has fetched them)."""
        return httpx.post(
            f"{self.worker.base_url}/internal/v1/chat",
            content=encode_request(request),
            headers={"Authorization": f"Bearer {WORKER_SECRET}"},
            timeout=60,
        )

    def worker_engine_stats(self) -> dict[str, int]:
        health = httpx.get(
            f"{self.worker.base_url}/internal/health",
            headers={"Authorization": f"Bearer {WORKER_SECRET}"},
            timeout=10,
        )
        health.raise_for_status()
        stats: dict[str, int] = health.json()["engines"][MODEL]
        return stats


def vllm_python() -> str:
    python = VLLM_VENV / "bin" / "python"
    if not (VLLM_VENV / ".installed").exists():
        reason = f"{VLLM_VENV} is not installed (`make install-vllm` needs PyPI)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true the vLLM tests must run")
        pytest.skip(reason)
    return str(python)


def thinking_template(folder: Path) -> Path:
    """The tiny model's template with the thinking opened in the prompt (as DeepSeek-R1's does)."""
    path = folder / "thinking.jinja"
    opening = "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    assert opening in CHATML_TOOLS_TEMPLATE
    path.write_text(CHATML_TOOLS_TEMPLATE.replace(opening, opening.replace("\\n' }}", "\\n<think>\\n' }}")))
    return path


def worker_models(folder: Path, weights: Path, vision_weights: Path) -> Path:
    options = """[models.options]
dtype = "float32"
enforce_eager = true       # no torch.compile: a much faster start on CPU
kv_cache_space_gb = 0.25
max_num_seqs = 8
"""
    path = folder / "worker-models.toml"
    path.write_text(
        f"""include_builtin = false
[[models]]
id = "{MODEL}"
task = "chat"
engine = "vllm"
weights = "{weights}"
context_length = {CONTEXT}
tool_parser = "hermes"     # the tiny model's template writes <tool_call>…</tool_call>
daily_cap = 1000
{options}
[[models]]
id = "{VISION_MODEL}"
task = "vision"
engine = "vllm"
weights = "{vision_weights}"
{options}
[[models]]
id = "{THINKING_MODEL}"
task = "chat"
engine = "vllm"
weights = "{weights}"
reasoning_parser = "think-open"
{options}chat_template = "{thinking_template(folder)}"
"""
    )
    return path


def openmaas(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "openmaas", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def wait_listed(api: ServerProcess, token: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = httpx.get(f"{api.base_url}/v1/models", headers={"Authorization": f"Bearer {token}"})
        if MODEL in {model["id"] for model in listed.json()["data"]}:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the API process never found {MODEL} in the worker directory:\n{api.log()}")


@pytest.fixture(scope="session")
def vllm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMCluster]:
    python = vllm_python()
    root = tmp_path_factory.mktemp("vllm")
    weights = build_tiny_chat_model(root / "tiny-model", max_positions=CONTEXT)
    vision_weights = build_tiny_vision_model(root / "tiny-vision-model")
    api_models = root / "api-models.toml"
    api_models.write_text("include_builtin = false\n")
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(contextlib.contextmanager(run_database)(unique_name("vllm")))
        prefix = stack.enter_context(contextlib.contextmanager(run_redis_prefix)(unique_name("vllm")))
        env = cluster_env(REDIS_URL, prefix, database)
        worker, api = stack.enter_context(
            started_together(
                worker_process(
                    root / "worker",
                    worker_models(root, weights, vision_weights),
                    env,
                    python=python,
                    ready_timeout=400,
                ),
                api_process(root / "api", api_models, env),
            )
        )
        data = str(root / "cli")
        openmaas(env, "users", "add", "alice", "--daily-limit", "1000", "--data-dir", data)
        token = openmaas(env, "tokens", "create", "alice", "--data-dir", data)
        wait_listed(api, token)
        yield VLLMCluster(api=api, worker=worker, token=token)
