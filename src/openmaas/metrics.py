"""Prometheus metrics, one collector registry per app (no module-level state), served at `/metrics`.

Labels never take what a caller sent as such: `route` is the route's template (`unmatched` for none),
and `model` a model id this server serves, `other` for any other name a request gave (empty when the
request names none).

- `openmaas_requests_total{route,model,status}` and `openmaas_request_duration_seconds{route,model}`
- `openmaas_time_to_first_token_seconds{model}`
- `openmaas_tokens_total{model,direction}` (direction: in = prompt, out = completion)
- `openmaas_quota_rejections_total{limit}` (daily or model)
- `openmaas_engine_queue_depth{model}` and `openmaas_engine_running{model}`, read from the engines at scrape
- `openmaas_engine_batches_total{model}` and `openmaas_engine_batched_requests_total{model}`: their ratio is
  how many requests share a batch on average (engines that batch requests, e.g. embeddings)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from openmaas.engines.base import EngineStats

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
#: The `model` label of requests that named a model this server does not serve.
OTHER_MODEL = "other"


class _EngineCollector(Collector):
    def __init__(self, read: Callable[[], dict[str, EngineStats]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        queued = GaugeMetricFamily(
            "openmaas_engine_queue_depth", "Requests waiting for an engine slot", labels=["model"]
        )
        running = GaugeMetricFamily("openmaas_engine_running", "Requests being generated", labels=["model"])
        batches = CounterMetricFamily("openmaas_engine_batches", "Batches the engine ran", labels=["model"])
        batched = CounterMetricFamily(
            "openmaas_engine_batched_requests", "Requests served by those batches", labels=["model"]
        )
        for model, stats in self._read().items():
            queued.add_metric([model], stats.queued)
            running.add_metric([model], stats.running)
            batches.add_metric([model], stats.batches)
            batched.add_metric([model], stats.batched_requests)
        yield from (queued, running, batches, batched)


class Metrics:
    def __init__(
        self, engine_stats: Callable[[], dict[str, EngineStats]], serves: Callable[[str], bool]
    ) -> None:
        """`serves(model)`: whether a model id is one of this server's (the only ones used as labels)."""
        self._serves = serves
        self.collector_registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "openmaas_requests",
            "Requests by route, model and status",
            ["route", "model", "status"],
            registry=self.collector_registry,
        )
        self.latency = Histogram(
            "openmaas_request_duration_seconds",
            "Time to the last byte of the response",
            ["route", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.collector_registry,
        )
        self.ttft = Histogram(
            "openmaas_time_to_first_token_seconds",
            "Time from request to the first generated token",
            ["model"],
            buckets=_TTFT_BUCKETS,
            registry=self.collector_registry,
        )
        self.tokens = Counter(
            "openmaas_tokens",
            "Tokens in (prompt) and out (completion)",
            ["model", "direction"],
            registry=self.collector_registry,
        )
        self.quota_rejections = Counter(
            "openmaas_quota_rejections",
            "Calls refused by a daily limit",
            ["limit"],
            registry=self.collector_registry,
        )
        self.collector_registry.register(_EngineCollector(engine_stats))

    def model_label(self, model: str) -> str:
        return model if not model or self._serves(model) else OTHER_MODEL

    def observe_request(self, route: str, model: str, status: int, seconds: float) -> None:
        model = self.model_label(model)
        self.requests.labels(route, model, str(status)).inc()
        self.latency.labels(route, model).observe(seconds)

    def observe_tokens(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.tokens.labels(model, "in").inc(prompt_tokens)
        self.tokens.labels(model, "out").inc(completion_tokens)

    def render(self) -> bytes:
        return generate_latest(self.collector_registry)
