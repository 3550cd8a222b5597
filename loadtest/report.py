"""The report: one JSON document per run, a table for people, deltas between runs.

JSON schema, version 1 (`schema_version`). Fields are only ever added
within a version; a rename or a change of meaning bumps it. Times are in
milliseconds (`*_ms`), rates per second (`*_per_s`), sizes in bytes.

    schema_version       1
    tool                 "corpchat-loadtest"
    scenario             "direct" | "idle" | "reconnect" | …
    run_id               the namespace of this run's corp and users
    started_at           ISO 8601 UTC
    machine              {nproc, cpu_model, python, platform}
    options              the run's options (loadtest/options.py), minus the socket path
    window_s             length of the measured window (the steady window; for
                         idle: first connect attempt to last welcome)
    counts               {sent, acked, delivered, unacked_at_end, unexpected_acks,
                          stale_dropped (live msgs at or below the device's sync
                          token, dropped by the protocol's rule), connect_failures,
                          bad_frames, refused: {code: n},
                          disconnects: {close code or reason: n}} — whole run
    rates                {offered_per_s, sent_per_s, acked_per_s, delivered_per_s}
                         — counted by arrival inside the window
    latency_ms           {ack, e2e, resume}: each {count, p50, p90, p99, p999, max,
                         mean} over events received inside the window (resume:
                         reconnect only, drop → sync complete), from HDR
                         histograms (1 µs … 60 s, 3 significant digits: each
                         figure within 0.1 %; see loadtest/recorder.py)
    check                {ok, lost, duplicated, reordered, unacked_delivered,
                          misrouted, checked_deliveries, own_echoes, violations
                          (of the scenario's own rule: robots' 429s), examples}
                         — over the whole run, warm-up and drain included
    server               from `stats` at the window's edges: {cpu_seconds,
                          cpu_fraction, cpu_us_per_message, cpu_us_per_delivery,
                          messages, deliveries, messages_per_s, writer_batch_mean
                          (in the window), writer_batch_max (since start),
                          commit_p50_ms, commit_p99_ms (last 1024 commits),
                          rss_bytes_start, rss_bytes_end, connections,
                          slow_consumer_closes}
    generator            {workers, cpu_fraction: [per worker], cpu_fraction_max,
                          saturated} — the generator's own CPU over the window
    figures              scenario-specific (idle: connections, connect_seconds,
                          connect_hello_per_s, rss_delta_bytes,
                          rss_per_connection_bytes, server_connections;
                          robots: loadtest/scenarios/robots.py; appmessage:
                          loadtest/scenarios/appmessage.py)
    warnings             human-readable lines
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from typing import Any

from .checker import Verdict
from .options import Options
from .recorder import percentiles

SCHEMA_VERSION = 1
SATURATED_FRACTION = 0.9
UNPACED = ("idle", "appmessage")  # scenarios that ignore --rate


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model or platform.processor(),
            "python": platform.python_version(), "platform": platform.platform()}


def build(options: Options, started: float, merged: dict[str, Any], outcome: dict[str, Any],
          verdict: Verdict) -> dict[str, Any]:
    window = outcome.get("window_s") or options.duration_s
    workers = merged["workers"]
    fractions = [w["cpu_fraction"] for w in workers]
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": "corpchat-loadtest",
        "scenario": options.scenario,
        "run_id": options.run_id,
        "started_at": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(),
        "machine": machine(),
        "options": options.to_json(),
        "window_s": round(window, 3),
        "counts": {k: merged[k] for k in (
            "sent", "acked", "delivered", "unacked_at_end", "unexpected_acks",
            "stale_dropped", "connect_failures", "bad_frames", "refused", "disconnects")},
        "rates": {
            "offered_per_s": options.rate if options.scenario not in UNPACED else 0,
            "sent_per_s": round(merged["win_sent"] / window, 1),
            "acked_per_s": round(merged["win_acked"] / window, 1),
            "delivered_per_s": round(merged["win_delivered"] / window, 1),
        },
        "latency_ms": {
            "ack": percentiles(merged["ack_us"]),
            "e2e": percentiles(merged["e2e_us"]),
            "resume": percentiles(merged["resume_us"]),
        },
        "check": verdict.to_json(),
        "server": server_figures(outcome.get("stats_start") or {},
                                 outcome.get("stats_end") or {}, window),
        "generator": {"workers": len(workers), "cpu_fraction": fractions,
                      "cpu_fraction_max": max(fractions, default=0.0),
                      "saturated": max(fractions, default=0.0) > SATURATED_FRACTION},
        "figures": outcome.get("figures", {}),
        "warnings": [],
    }
    doc["warnings"] = warnings(doc, workers)
    return doc


def server_figures(a: dict[str, Any], b: dict[str, Any], window_s: float) -> dict[str, Any]:
    if not a or not b:
        return {}
    elapsed = b.get("uptime_s", 0) - a.get("uptime_s", 0)
    elapsed = elapsed if elapsed > 0 else window_s
    cpu = b["cpu_seconds"] - a["cpu_seconds"]
    messages = b["messages"] - a["messages"]
    deliveries = b["deliveries"] - a["deliveries"]
    batches = b["writer_batches"] - a["writer_batches"]
    ops = b["writer_ops"] - a["writer_ops"]
    return {
        "cpu_seconds": round(cpu, 3),
        "cpu_fraction": round(cpu / elapsed, 3),
        "cpu_us_per_message": round(cpu / messages * 1e6, 2) if messages else None,
        "cpu_us_per_delivery": round(cpu / deliveries * 1e6, 2) if deliveries else None,
        "messages": messages,
        "deliveries": deliveries,
        "messages_per_s": round(messages / elapsed, 1),
        "writer_batch_mean": round(ops / batches, 2) if batches else None,
        "writer_batch_max": b.get("writer_batch_max"),
        "commit_p50_ms": b.get("commit_p50_ms"),
        "commit_p99_ms": b.get("commit_p99_ms"),
        "rss_bytes_start": a.get("rss_bytes"),
        "rss_bytes_end": b.get("rss_bytes"),
        "connections": b.get("connections"),
        "slow_consumer_closes": b.get("slow_consumer_closes", 0) - a.get("slow_consumer_closes", 0),
    }


def warnings(doc: dict[str, Any], workers: list[dict[str, Any]]) -> list[str]:
    out = []
    for i, w in enumerate(workers):
        if w["cpu_fraction"] > SATURATED_FRACTION:
            out.append(f"WARNING: load generator worker {i} used {w['cpu_fraction']:.0%} of a "
                       "core: it, not the server, may be the bottleneck (try --workers)")
    if not doc["check"]["ok"]:
        out.append("WARNING: the delivery check failed: " + "; ".join(doc["check"]["examples"][:3]))
    counts = doc["counts"]
    if counts["unacked_at_end"]:
        out.append(f"WARNING: {counts['unacked_at_end']} sends were never answered")
    if counts["connect_failures"]:
        out.append(f"WARNING: {counts['connect_failures']} connections failed")
    if counts["refused"]:
        out.append(f"WARNING: refused requests: {counts['refused']}")
    if any(not w["extra"].get("drained", True) for w in workers):
        out.append("WARNING: the drain timed out: some acks or deliveries never came")
    offered = doc["rates"]["offered_per_s"]
    # robots: most posts are answered 429 by design; their achieved rate is checked there
    if offered and doc["scenario"] != "robots" and doc["rates"]["acked_per_s"] < 0.95 * offered:
        out.append(f"WARNING: acked {doc['rates']['acked_per_s']}/s of {offered}/s offered")
    robots = doc["figures"].get("robots")
    if robots and robots["posts"] < 0.95 * robots["scheduled"]:
        out.append(f"WARNING: the robots sent {robots['posts']:,} of {robots['scheduled']:,} "
                   f"posts due (achieved {robots['achieved_per_s']}/s of {offered}/s): "
                   "the server's answers or the generator were too slow")
    return out


# ----- people -----

_ROWS: list[tuple[str, tuple[str, ...], str]] = [
    ("offered msgs/s", ("rates", "offered_per_s"), "{:,.0f}"),
    ("sent msgs/s", ("rates", "sent_per_s"), "{:,.0f}"),
    ("acked msgs/s", ("rates", "acked_per_s"), "{:,.0f}"),
    ("delivered/s", ("rates", "delivered_per_s"), "{:,.0f}"),
    ("ack p50 ms", ("latency_ms", "ack", "p50"), "{:.2f}"),
    ("ack p90 ms", ("latency_ms", "ack", "p90"), "{:.2f}"),
    ("ack p99 ms", ("latency_ms", "ack", "p99"), "{:.2f}"),
    ("ack p99.9 ms", ("latency_ms", "ack", "p999"), "{:.2f}"),
    ("ack max ms", ("latency_ms", "ack", "max"), "{:.2f}"),
    ("e2e p50 ms", ("latency_ms", "e2e", "p50"), "{:.2f}"),
    ("e2e p99 ms", ("latency_ms", "e2e", "p99"), "{:.2f}"),
    ("e2e p99.9 ms", ("latency_ms", "e2e", "p999"), "{:.2f}"),
    ("e2e max ms", ("latency_ms", "e2e", "max"), "{:.2f}"),
    ("resume p50 ms", ("latency_ms", "resume", "p50"), "{:.1f}"),
    ("resume p99 ms", ("latency_ms", "resume", "p99"), "{:.1f}"),
    ("resume max ms", ("latency_ms", "resume", "max"), "{:.1f}"),
    ("server CPU µs/message", ("server", "cpu_us_per_message"), "{:.1f}"),
    ("server CPU µs/delivery", ("server", "cpu_us_per_delivery"), "{:.1f}"),
    ("server CPU (cores)", ("server", "cpu_fraction"), "{:.2f}"),
    ("writer batch mean", ("server", "writer_batch_mean"), "{:.1f}"),
    ("writer batch max", ("server", "writer_batch_max"), "{}"),
    ("commit p99 ms", ("server", "commit_p99_ms"), "{:.2f}"),
    ("server RSS MiB", ("server", "rss_bytes_end"), "mib"),
    ("connections", ("figures", "connections"), "{:,}"),
    ("connect+hello/s", ("figures", "connect_hello_per_s"), "{:,.0f}"),
    ("RSS/connection KiB", ("figures", "rss_per_connection_bytes"), "kib"),
    ("robot posts/s", ("figures", "robots", "achieved_per_s"), "{:,.0f}"),
    ("robot posts 200", ("figures", "robots", "answers", "200"), "{:,}"),
    ("robot posts 429", ("figures", "robots", "answers", "429"), "{:,}"),
    ("robot 429 p99 ms", ("figures", "robots", "answer_ms", "429", "p99"), "{:.2f}"),
    ("robots throttled", ("figures", "robots", "rule", "robots_throttled"), "{:,}"),
    ("robot rule broken", ("figures", "robots", "rule", "violations"), "{}"),
    ("app msg to all ms (max)", ("figures", "appmessage", "time_to_all_ms_max"), "{:,.1f}"),
    ("app msg answer ms (max)", ("figures", "appmessage", "answer_ms_max"), "{:,.1f}"),
    ("generator CPU (max)", ("generator", "cpu_fraction_max"), "{:.0%}"),
    ("lost", ("check", "lost"), "{}"),
    ("duplicated", ("check", "duplicated"), "{}"),
    ("reordered", ("check", "reordered"), "{}"),
    ("unacked delivered", ("check", "unacked_delivered"), "{}"),
    ("misrouted", ("check", "misrouted"), "{}"),
]


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if spec == "mib":
        return f"{value / 2**20:.1f}"
    if spec == "kib":
        return f"{value / 1024:.1f}"
    return spec.format(value)


def title(doc: dict[str, Any]) -> str:
    counts = doc["counts"]
    return (f"corpchat loadtest {doc['scenario']} · run {doc['run_id']} · "
            f"window {doc['window_s']} s · sent {counts['sent']:,} · acked {counts['acked']:,} "
            f"· delivered {counts['delivered']:,}")


def rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, formatted value) for the table, the check last."""
    sending = bool(doc["counts"]["sent"])
    out = [(label, _fmt(_get(doc, path), spec)) for label, path, spec in _ROWS
           if _get(doc, path) is not None and (sending or path[0] != "rates")]
    out.append(("check", "OK" if doc["check"]["ok"] else "FAILED"))
    return out


def table(doc: dict[str, Any]) -> str:
    """The report as plain text (loadtest/display.py draws it with rich on a terminal)."""
    figures = rows(doc)
    width = max(len(label) for label, _ in figures)
    lines = [title(doc)] + [f"  {label:<{width}}  {value:>12}" for label, value in figures]
    return "\n".join(lines + doc["warnings"])


def compare_title(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = [f"compare: {old.get('run_id')} ({old.get('started_at', '?')[:19]}) → "
             f"{new.get('run_id')}"]
    if old.get("schema_version") != new.get("schema_version"):
        lines.append(f"note: schema {old.get('schema_version')} vs {new.get('schema_version')}")
    return lines


def compare_rows(old: dict[str, Any], new: dict[str, Any]
                 ) -> list[tuple[str, float, float, float, str]]:
    """(figure, old, new, delta, delta %) for every figure both reports have."""
    out = []
    for label, path, spec in _ROWS:
        a, b = _get(old, path), _get(new, path)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            continue
        scale: float = {"mib": 2**20, "kib": 1024}.get(spec, 1)
        if spec == "{:.0%}":
            scale, label = 0.01, label + " %"
        a, b = a / scale, b / scale
        out.append((label, a, b, b - a, f"{(b - a) / a:+.1%}" if a else "-"))
    return out


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The main figures side by side with their change, as plain text."""
    lines = compare_title(old, new)
    lines.append(f"  {'figure':<24} {'old':>12} {'new':>12} {'delta':>12} {'%':>8}")
    lines += [f"  {label:<24} {a:>12,.2f} {b:>12,.2f} {delta:>+12,.2f} {pct:>8}"
              for label, a, b, delta, pct in compare_rows(old, new)]
    return "\n".join(lines)


def write_json(doc: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")


def read_json(path: str) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)
