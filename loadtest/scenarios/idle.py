"""`idle`: N authenticated idle connections, for memory per connection and login rate.

The coordinator provisions the users first (runner.py), then, once the
server is quiet, samples its `stats`; the workers open N connections (at
most `--connect-concurrency` attempts in flight) and each says hello; when
every welcome is in, `stats` again (the connect phase's end) and, after a
short settle, a third time for RSS.

Figures:
- `server_cpu_us_per_connect`: the server's CPU (all its threads) from the
  first sample to the connect phase's end, per connection: TCP accept,
  upgrade, hello, welcome and whatever the writer did for them, and nothing
  of the provisioning (its `user.add`s are committed and answered before the
  first sample, which waits `QUIET_S` for the server to settle; the idle CPU
  of that wait is `server_idle_cpu_per_s`, so a tail would show there);
- `connect_hello_per_s` = N / (first attempt → last welcome);
- `rss_per_connection_bytes` = RSS delta (first sample → after the settle) / N;
- `server_cpu_settle_s`: the CPU of the settle (work left over from the
  connects, e.g. the writer's tail).
"""

from __future__ import annotations

from typing import Any

import trio

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan

NAME = "idle"
HELP = "N idle authenticated connections: RSS per connection, connect+hello/s, CPU per connect"
SETTLE_S = 1.0
QUIET_S = 0.5  # after provisioning, before the first sample


def users(options: Any) -> int:
    return options.clients


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return [ClientSpec(index=i, handle=h, token=t, device=f"{h}/0")
            for i, (h, t) in enumerate(accounts)]


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    shares = [specs[i::workers] for i in range(workers)]
    return [WorkerPlan(i, options, tuple(share)) for i, share in enumerate(shares) if share]


async def drive(worker: Worker) -> None:
    await worker.barrier("ready")
    worker.recorder.window_opened()
    first, last = await worker.connect_all(worker.clients, until="welcome")
    worker.recorder.window_closed()
    ok = len(worker.clients) - worker.recorder.connect_failures
    await worker.barrier("connected", {"first_ns": first, "last_ns": last, "ok": ok})


async def coordinate(coordinator: Any) -> dict[str, Any]:
    await coordinator.gather("ready")
    quiet = await coordinator.stats()
    await trio.sleep(QUIET_S)
    before = await coordinator.stats()
    await coordinator.release(None)
    reports = await coordinator.gather("connected")
    connected = await coordinator.stats()
    await trio.sleep(SETTLE_S)
    after = await coordinator.stats()
    await coordinator.release(None)
    ok = sum(r["ok"] for r in reports)
    span_s = (max(r["last_ns"] for r in reports) - min(r["first_ns"] for r in reports)) / 1e9
    figures = {"connections": ok, "connect_seconds": round(span_s, 3),
               "connect_hello_per_s": round(ok / span_s, 1) if span_s > 0 else None,
               **_cpu_figures(quiet, before, connected, after, ok),
               **_rss_figures(before, after, ok),
               "server_connections": after.get("connections")}
    return {"stats_start": before, "stats_end": connected, "window_s": span_s,
            "figures": figures}


def _cpu(a: dict[str, Any], b: dict[str, Any]) -> float:
    return float(b.get("cpu_seconds", 0.0)) - float(a.get("cpu_seconds", 0.0))


def _cpu_figures(quiet: dict[str, Any], before: dict[str, Any], connected: dict[str, Any],
                 after: dict[str, Any], ok: int) -> dict[str, Any]:
    if "cpu_seconds" not in before:
        return {}
    connect = _cpu(before, connected)
    waited = before.get("uptime_s", 0) - quiet.get("uptime_s", 0)
    return {
        "server_cpu_connect_s": round(connect, 4),
        "server_cpu_us_per_connect": round(connect / ok * 1e6, 1) if ok else None,
        "server_cpu_settle_s": round(_cpu(connected, after), 4),
        "server_idle_cpu_per_s": round(_cpu(quiet, before) / waited, 4) if waited > 0 else None,
    }


def _rss_figures(before: dict[str, Any], after: dict[str, Any], ok: int) -> dict[str, Any]:
    rss_delta = after.get("rss_bytes", 0) - before.get("rss_bytes", 0)
    return {"rss_delta_bytes": rss_delta,
            "rss_per_connection_bytes": round(rss_delta / ok) if ok else None}
