"""Prometheus exposition of the same figures `corpchat admin stats` shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .app import App

class AppCollector(Collector):
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[object]:
        app, hub, writer = self.app, self.app.hub, self.app.writer
        store = app.store.stats()
        yield _counter("corpchat_messages", "Messages committed and fanned out", hub.stats.messages)
        yield _counter("corpchat_deliveries", "Frames handed to sessions", hub.stats.deliveries)
        yield _counter("corpchat_slow_consumer_closes", "Sessions closed for falling behind",
                       hub.stats.slow_closes)
        yield _counter("corpchat_writer_batches", "Write transactions committed",
                       writer.stats.batches)
        yield _counter("corpchat_writer_ops", "Write operations committed", writer.stats.ops)
        yield _gauge("corpchat_connections", "Open connections", len(app.connections))
        yield _gauge("corpchat_users_online", "Users with a session", len(hub.sessions))
        yield _gauge("corpchat_buffered_bytes", "Bytes waiting in session buffers",
                     sum(c.session.buffered_bytes for c in app.connections))
        yield _gauge("corpchat_messages_stored", "Messages in the database",
                     store["messages_stored"])
        yield _gauge("corpchat_lmdb_map_bytes", "LMDB map size", store["lmdb_map_bytes"])
        yield _gauge("corpchat_lmdb_used_bytes", "LMDB pages in use", store["lmdb_used_bytes"])
        yield _gauge("corpchat_draining", "1 while draining", int(app.draining))
        yield _commit_histogram(writer.stats.commit_bounds_s, writer.stats.commit_buckets,
                                writer.stats.commit_total_s)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _commit_histogram(bounds: tuple[float, ...], counts: list[int],
                      total_s: float) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
    return HistogramMetricFamily("corpchat_commit_seconds", "Write transaction commit time",
                                 buckets=buckets, sum_value=total_s)


def render(app: App) -> bytes:
    registry = CollectorRegistry()
    registry.register(AppCollector(app))
    return generate_latest(registry)
