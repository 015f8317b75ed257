"""`make bench`: run every benchmark and print its figures."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = [
    "bench.gateway",
    "bench.engine_throughput",
    "bench.chat_quality",
    "bench.embeddings",
    "bench.vision",
    "bench.images",
    "bench.upstream_clients",
    "bench.litellm_compare",
]


def main() -> None:
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        saved = sys.argv
        sys.argv = [module]
        try:
            runpy.run_module(module, run_name="__main__")
        finally:
            sys.argv = saved


if __name__ == "__main__":
    main()
