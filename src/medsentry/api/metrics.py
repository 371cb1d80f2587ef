"""Prometheus metrics: request counts and latencies per route, jobs, store sizes.

Each app has its own registry, so several apps in one process (tests) never collide.
Store sizes are counted at scrape time, not kept in sync on every write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, table

from medsentry.store.db import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COUNTED_TABLES = ("devices", "flows", "events", "captures")


class _StoreCollector(Collector):
    def __init__(self, store: Store, extra_tables: Callable[[], tuple[str, ...]]) -> None:
        self.store = store
        self.extra_tables = extra_tables

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "medsentry_store_rows", "Rows in the main store tables", labels=["table"]
        )
        with self.store.engine.connect() as conn:
            for name in COUNTED_TABLES + self.extra_tables():
                count = conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                family.add_metric([name], float(count))
        yield family


class _JobCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "medsentry_jobs", "Analysis jobs known to this server", labels=["state"]
        )
        for state, count in self.counts().items():
            family.add_metric([state], float(count))
        yield family


class Metrics:
    def __init__(
        self,
        store: Store,
        job_counts: Callable[[], dict[str, int]],
        extra_tables: Callable[[], tuple[str, ...]] = tuple,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "medsentry_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medsentry_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.logins = Counter(
            "medsentry_logins", "Sign-in attempts", ["outcome"], registry=self.registry
        )
        self.uploads_rejected = Counter(
            "medsentry_uploads_rejected",
            "Uploads refused (size, type, compression bomb)",
            ["status"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store, extra_tables))
        self.registry.register(_JobCollector(job_counts))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
