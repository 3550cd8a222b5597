"""Prometheus exposition of the figures `corpchat admin stats` shows, all of them.

A scrape computes the `stats` command's figures (server/admin_commands.py: the
hub's running counts, session buffers summed a slice of connections per
event-loop turn) and turns each into a metric family through FIGURES, so the
two never disagree and a scrape walks no more than `stats` does. Names follow
Prometheus conventions: counters end in `_total` (prometheus-client adds it to
a CounterMetricFamily's samples), sizes in `_bytes`, times in `_seconds`,
fractions in `_ratio`; figures that differ only by a window, a quantile or a
realm are one family with a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .services import Running


@dataclass(frozen=True, slots=True)
class Figure:
    """How one `stats` figure is exposed: in family `name` (counter or gauge), with
    `labels` on its sample, its value multiplied by `scale` (ms → s)."""

    name: str
    doc: str
    counter: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    scale: float = 1.0


def _gauge(name: str, doc: str, **kw: Any) -> Figure:
    return Figure(name, doc, **kw)


def _counter(name: str, doc: str) -> Figure:
    return Figure(name, doc, counter=True)


_RATE_MESSAGES = "Messages stored per second over the window"
_RATE_DELIVERIES = "Frames fanned out per second over the window"
_COMMIT = "Commit time of the recent commits (the last 1024), by quantile"
_PUSH = "Offline notifications"

# Every key of `admin stats` → its metric. `users_online_by_realm` (a map) is
# exposed as one sample per realm (REALM_FAMILY). A key missing here is not
# exposed, and tests/server/test_metrics.py fails.
FIGURES: dict[str, Figure] = {
    "pid": _gauge("corpchat_process_id", "The server's process id"),
    "uptime_s": _gauge("corpchat_uptime_seconds", "Seconds since the server started"),
    "connections": _gauge("corpchat_connections", "Open connections, authenticated or not"),
    "users_online": _gauge("corpchat_users_online", "Users with a session"),
    "messages": _counter("corpchat_messages", "Messages committed and fanned out"),
    "deliveries": _counter("corpchat_deliveries", "Frames handed to sessions"),
    "messages_per_s_1s": _gauge("corpchat_messages_per_second", _RATE_MESSAGES,
                                labels=(("window", "1s"),)),
    "messages_per_s_1m": _gauge("corpchat_messages_per_second", _RATE_MESSAGES,
                                labels=(("window", "1m"),)),
    "deliveries_per_s_1s": _gauge("corpchat_deliveries_per_second", _RATE_DELIVERIES,
                                  labels=(("window", "1s"),)),
    "deliveries_per_s_1m": _gauge("corpchat_deliveries_per_second", _RATE_DELIVERIES,
                                  labels=(("window", "1m"),)),
    "slow_consumer_closes": _counter("corpchat_slow_consumer_closes",
                                     "Sessions closed for falling behind"),
    "buffered_bytes_total": _gauge("corpchat_buffered_bytes",
                                   "Bytes waiting in session buffers, all sessions"),
    "buffered_bytes_max": _gauge("corpchat_buffered_max_bytes",
                                 "Bytes waiting in the fullest session buffer"),
    "writer_batches": _counter("corpchat_writer_batches", "Write transactions committed"),
    "writer_ops": _counter("corpchat_writer_ops", "Write operations committed"),
    "writer_batch_mean": _gauge("corpchat_writer_batch_mean_ops",
                                "Write operations per commit, on average since start"),
    "writer_batch_max": _gauge("corpchat_writer_batch_max_ops",
                               "Write operations in the largest commit since start"),
    "writer_commit_cpu_us": _gauge("corpchat_writer_commit_cpu_seconds",
                                   "CPU a commit itself costs the writer (its fdatasyncs), "
                                   "recent average", scale=0.000001),
    "writer_batch_wanted": _gauge("corpchat_writer_batch_wanted_ops",
                                  "Operations a commit waits for while writes come in company"),
    "writer_queued": _gauge("corpchat_writer_queued_ops",
                            "Write operations waiting for the next commit"),
    "commit_p50_ms": _gauge("corpchat_commit_recent_seconds", _COMMIT,
                            labels=(("quantile", "0.5"),), scale=0.001),
    "commit_p99_ms": _gauge("corpchat_commit_recent_seconds", _COMMIT,
                            labels=(("quantile", "0.99"),), scale=0.001),
    "map_grows": _counter("corpchat_lmdb_map_grows", "Times the LMDB map was doubled"),
    "resting_users": _gauge("corpchat_resting_users", "Users in quiet hours right now"),
    "quiet_transitions": _counter("corpchat_quiet_transitions",
                                  "Quiet-hours starts and ends processed"),
    "push_queued": _counter("corpchat_push_queued", f"{_PUSH} queued for push_url"),
    "push_sent": _counter("corpchat_push_sent", f"{_PUSH} delivered (HTTP < 300)"),
    "push_failed": _counter("corpchat_push_failed",
                            f"{_PUSH} failed after retries or refused"),
    "push_dropped": _counter("corpchat_push_dropped", f"{_PUSH} dropped: the queue was full"),
    "push_devices_dropped": _counter("corpchat_push_devices_dropped",
                                     "Device tokens forgotten after a 404 or 410"),
    "cpu_seconds": _counter("corpchat_cpu_seconds", "User and system CPU time"),
    "rss_bytes": _gauge("corpchat_resident_memory_bytes", "Resident memory"),
    "rss_anon_bytes": _gauge("corpchat_resident_memory_anon_bytes",
                             "Resident memory that is not file pages (LMDB's map excluded)"),
    "messages_stored": _gauge("corpchat_messages_stored", "Messages in the database"),
    "users": _gauge("corpchat_users", "Users in the database"),
    "lmdb_file_bytes": _gauge("corpchat_lmdb_file_bytes", "Size of data.mdb on disk"),
    "lmdb_map_bytes": _gauge("corpchat_lmdb_map_bytes", "LMDB map size"),
    "lmdb_used_bytes": _gauge("corpchat_lmdb_used_bytes", "LMDB pages in use"),
    "lmdb_map_use": _gauge("corpchat_lmdb_map_use_ratio", "LMDB pages in use / map size"),
    "media_files": _gauge("corpchat_media_files", "Distinct media files stored"),
    "media_bytes": _gauge("corpchat_media_bytes", "Bytes of the distinct media files"),
    "media_uploads": _counter("corpchat_media_uploads", "Uploads accepted"),
    "media_upload_bytes": _counter("corpchat_media_upload_bytes", "Bytes of accepted uploads"),
    "media_refused": _counter("corpchat_media_refused", "Uploads refused (413, 422, 429, 507)"),
    "media_upload_bytes_in_flight": _gauge("corpchat_media_upload_in_flight_bytes",
                                           "Body bytes the uploads being received may still send"),
    "media_uploads_busy": _counter("corpchat_media_uploads_busy",
                                   "Uploads refused with 503 server_busy (upload_bytes_in_flight)"),
    "media_downloads": _counter("corpchat_media_downloads", "Media answers with a body"),
    "media_download_bytes": _counter("corpchat_media_download_bytes", "Media bytes sent"),
    "search_indexed_pos": _gauge("corpchat_search_indexed_position",
                                 "The last stream position the search index holds"),
    "search_lag_messages": _gauge("corpchat_search_lag_messages",
                                  "Committed messages not yet searchable"),
    "search_lag_s": _gauge("corpchat_search_lag_seconds",
                           "Age of the oldest message not yet searchable"),
    "search_documents": _gauge("corpchat_search_documents", "Messages in the search index"),
    "search_index_bytes": _gauge("corpchat_search_index_bytes", "The search index on disk"),
    "search_commits": _counter("corpchat_search_commits", "Search index commits"),
}
REALM_FAMILY = Figure("corpchat_users_online_by_realm", "Users with a session, by realm")
FIGURES_BY_REALM = {"users_online_by_realm": REALM_FAMILY}


class StatsCollector(Collector):
    """The families of one `stats` result (and what `stats` does not show: draining,
    the commit-time histogram)."""

    def __init__(self, app: Running, figures: dict[str, Any]) -> None:
        self.app, self.figures = app, figures

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for key, value in self.figures.items():
            if key in FIGURES_BY_REALM:
                for realm, count in value.items():
                    _add(families, REALM_FAMILY, count, (("realm", realm),))
            elif key in FIGURES:
                figure = FIGURES[key]
                _add(families, figure, value * figure.scale, figure.labels)
        yield from families.values()
        yield GaugeMetricFamily("corpchat_draining", "1 while draining",
                                value=int(self.app.draining))
        stats = self.app.writer.stats
        yield _commit_histogram(stats.commit_bounds_s, stats.commit_buckets, stats.commit_total_s)


def _add(families: dict[str, CounterMetricFamily | GaugeMetricFamily], figure: Figure,
         value: float, labels: tuple[tuple[str, str], ...]) -> None:
    family = families.get(figure.name)
    if family is None:
        kind = CounterMetricFamily if figure.counter else GaugeMetricFamily
        family = families[figure.name] = kind(figure.name, figure.doc,
                                              labels=[k for k, _ in labels])
    family.add_metric([v for _, v in labels], value)


def _commit_histogram(bounds: tuple[float, ...], counts: list[int],
                      total_s: float) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
    return HistogramMetricFamily("corpchat_commit_seconds", "Write transaction commit time",
                                 buckets=buckets, sum_value=total_s)


async def render(app: Running) -> bytes:
    """The /metrics body: the `stats` figures of this moment, in the text format."""
    from .admin_commands import stats

    registry = CollectorRegistry()
    registry.register(StatsCollector(app, await stats(app, {})))
    return generate_latest(registry)
