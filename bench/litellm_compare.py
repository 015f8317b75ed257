"""OpenMaaS against LiteLLM's proxy, in the same run, on the same fake upstream.

Three targets answer the same OpenAI requests: the fake upstream itself (`direct`, the baseline),
OpenMaaS (`openmaas`: a model on the `openai-compatible` engine, auth and quota on PostgreSQL + Redis
when reachable, else SQLite) and LiteLLM's proxy (`litellm`: one worker, no database, as the shared
harness configures it). The upstream and the load generator share CPU 0; each gateway runs pinned to
CPU 1, alone while it is measured. Runs are interleaved (the target order rotates every repetition),
so background load hits every target alike. The load generator is the shared harness's `loadgen.py`
(it validates every answer); LiteLLM lives in its own virtualenv, never in ours:

    python3 -m venv /tmp/peer/venv
    /tmp/peer/venv/bin/pip install 'litellm[proxy]'
    python -m bench.litellm_compare [--reps 2] [--scenarios ns_c1,ns_c64,st64_c16]

Without LiteLLM or the harness it prints a note and compares nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import REPO, cpu_seconds, free_port, pinned, prioritize, scaled_out_env, start_server

LITELLM_VENV = Path(os.environ.get("LITELLM_VENV", "/tmp/peer/venv"))
HARNESS_CANDIDATES = [
    Path(os.environ.get("OPENMAAS_PEER_HARNESS", REPO.parent / "shared" / "bench")),
    REPO.parent.parent / "shared" / "bench",
]
MASTER_KEY = "sk-bench-master-key"
# name: (stream, concurrency, max_tokens, model). `bench-slow` answers at 5 ms per token, like a model on
# a GPU: there the gateway is not the bottleneck, and the added latency is its own.
SCENARIOS = {
    "ns_c1": (False, 1, 64, "bench-model"),
    "ns_c16": (False, 16, 64, "bench-model"),
    "ns_c64": (False, 64, 64, "bench-model"),
    "st64_c1": (True, 1, 64, "bench-model"),
    "st64_c16": (True, 16, 64, "bench-model"),
    "slow_ns_c64": (False, 64, 64, "bench-slow"),
    "slow_st64_c64": (True, 64, 64, "bench-slow"),
}
LITELLM_CONFIG = """model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: {upstream}
      api_key: sk-fake-upstream
  - model_name: bench-slow
    litellm_params:
      model: openai/bench-slow
      api_base: {upstream}
      api_key: sk-fake-upstream
litellm_settings:
  telemetry: false
  drop_params: true
  set_verbose: false
  turn_off_message_logging: true
general_settings:
  master_key: {key}
  disable_spend_logs: true
  disable_error_logs: true
"""
OURS = """include_builtin = false
[[models]]
id = "bench-model"
task = "chat"
engine = "openai-compatible"
[models.options]
replicas = ["{upstream}"]

[[models]]
id = "bench-slow"
task = "chat"
engine = "openai-compatible"
[models.options]
replicas = ["{upstream}"]
"""


@dataclass
class Target:
    name: str
    base_url: str
    api_key: str
    pid: int


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its descendants (LiteLLM may run its server in a child)."""
    total = 0.0
    with contextlib.suppress(OSError):
        total += cpu_seconds(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_cpu_seconds(int(child))
    return total


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise TimeoutError(url)


@contextlib.contextmanager
def service(command: list[str], cpu: int, ready_url: str, env: dict[str, str] | None = None) -> Iterator[int]:
    process = subprocess.Popen(
        pinned(command, cpu),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    prioritize(process.pid)
    try:
        wait_http(ready_url, process)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_loadgen(
    harness: Path, target: Target, scenario: str, requests: int, max_seconds: float
) -> dict[str, float]:
    stream, concurrency, max_tokens, model = SCENARIOS[scenario]
    command = [sys.executable, str(harness / "loadgen.py"), "--base-url", target.base_url, "--model", model]
    command += ["--api-key", target.api_key, "--concurrency", str(concurrency), "--requests", str(requests)]
    command += ["--max-tokens", str(max_tokens), "--warmup", str(max(20, concurrency * 2))]
    command += ["--max-seconds", str(max_seconds), "--json"]
    if stream:
        command.append("--stream")
    before = tree_cpu_seconds(target.pid)
    output = subprocess.run(
        pinned(command, 0), capture_output=True, text=True, timeout=600, check=True
    ).stdout
    spent = tree_cpu_seconds(target.pid) - before
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    handled = result["completed_ok"] + result["errors"] + max(20, concurrency * 2)
    result["cpu_ms_per_request"] = 1e3 * spent / handled
    return result


def compare(harness: Path, args: argparse.Namespace, env: dict[str, str] | None) -> None:
    upstream_port, litellm_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    python_env = {**os.environ, "PYTHONPATH": str(REPO)}
    config = Path(tempfile.mkdtemp(prefix="litellm-")) / "config.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream=upstream, key=MASTER_KEY))
    litellm_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    fake = [sys.executable, "-m", "bench.fake_upstream", "--port", str(upstream_port)]
    litellm = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
    litellm += ["--port", str(litellm_port)]
    litellm_ready = f"http://127.0.0.1:{litellm_port}/health/liveliness"
    with (
        service(fake, 0, f"{upstream}/models", python_env) as up_pid,
        service(litellm, 1, litellm_ready, litellm_env) as litellm_pid,
    ):
        ours = start_server(OURS.format(upstream=upstream), env_extra=env)
        try:
            targets = [
                Target("direct", upstream, "sk-fake", up_pid),
                Target("openmaas", f"{ours.base_url}/v1", ours.token, ours.process.pid),
                Target("litellm", f"http://127.0.0.1:{litellm_port}/v1", MASTER_KEY, litellm_pid),
            ]
            results = measure_all(harness, targets, args)
        finally:
            ours.stop()
    summarize(results, args.scenarios.split(","))
    marginal_chunk_cost(results, args.scenarios.split(","))


def measure_all(
    harness: Path, targets: list[Target], args: argparse.Namespace
) -> dict[tuple[str, str], list[dict[str, float]]]:
    results: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for rep in range(args.reps):
        order = targets[rep % len(targets) :] + targets[: rep % len(targets)]
        for scenario in args.scenarios.split(","):
            stream = SCENARIOS[scenario][0]
            for target in order:
                result = run_loadgen(
                    harness,
                    target,
                    scenario,
                    args.st_requests if stream else args.ns_requests,
                    args.max_seconds,
                )
                results[(target.name, scenario)].append(result)
                print(
                    f"    rep {rep} {scenario:<9} {target.name:<9} {result['rps']:8.1f} req/s  "
                    f"p99 {result['lat_p99_ms']:8.2f} ms  errors {result['errors']}",
                    flush=True,
                )
    return results


def summarize(results: dict[tuple[str, str], list[dict[str, float]]], scenarios: list[str]) -> None:
    def med(target: str, scenario: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(target, scenario)])

    print("\n  scenario   target      req/s    p50 ms    p99 ms  +p99 ms  server CPU/request   vs LiteLLM")
    for scenario in scenarios:
        stream, _, tokens, _ = SCENARIOS[scenario]
        for target in ("direct", "openmaas", "litellm"):
            rps = med(target, scenario, "rps")
            added = med(target, scenario, "lat_p99_ms") - med("direct", scenario, "lat_p99_ms")
            cpu = med(target, scenario, "cpu_ms_per_request")
            per = f"{cpu:7.3f} ms" + (f" ({1e3 * cpu / tokens:5.1f} µs/chunk)" if stream else "")
            ratio = f"{rps / med('litellm', scenario, 'rps'):5.1f}x" if target == "openmaas" else ""
            shown_added = "" if target == "direct" else f"{added:+8.2f}"
            p50, p99 = med(target, scenario, "lat_p50_ms"), med(target, scenario, "lat_p99_ms")
            row = f"  {scenario:<10} {target:<9} {rps:8.1f} {p50:9.2f} {p99:9.2f} {shown_added:>8}"
            print(f"{row}  {per:<28} {ratio}")


def marginal_chunk_cost(results: dict[tuple[str, str], list[dict[str, float]]], scenarios: list[str]) -> None:
    """CPU per streamed chunk beyond the request itself: (a 64-chunk stream − a whole answer) / 64, at
    the same concurrency."""
    if not {"ns_c16", "st64_c16"} <= set(scenarios):
        return
    print()
    for target in ("direct", "openmaas", "litellm"):
        stream = statistics.median(r["cpu_ms_per_request"] for r in results[(target, "st64_c16")])
        whole = statistics.median(r["cpu_ms_per_request"] for r in results[(target, "ns_c16")])
        print(
            f"  {target:<9} CPU per streamed chunk beyond the request: {1e3 * (stream - whole) / 64:6.1f} µs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--scenarios", default="ns_c1,ns_c16,ns_c64,st64_c16,slow_ns_c64,slow_st64_c64")
    parser.add_argument("--ns-requests", type=int, default=2000)
    parser.add_argument("--st-requests", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print("OpenMaaS (remote engine) against LiteLLM's proxy on the same fake upstream")
    litellm = LITELLM_VENV / "bin" / "litellm"
    harness = next((h for h in HARNESS_CANDIDATES if (h / "loadgen.py").exists()), None)
    if not litellm.exists() or harness is None:
        missing = "LiteLLM" if not litellm.exists() else "the shared bench harness (loadgen.py)"
        print(f"  skipped: {missing} not found. See `python -m bench.litellm_compare --help` to set it up.")
        return
    with scaled_out_env() as env:
        print(
            f"  OpenMaaS store: {'PostgreSQL + Redis' if env else 'SQLite'}; loadgen {harness / 'loadgen.py'}"
        )
        compare(harness, args, env)


if __name__ == "__main__":
    main()
