"""`idle`: N authenticated idle connections, for memory per connection and login rate.

The coordinator samples the server's RSS, the workers open N connections
(at most `--connect-concurrency` attempts in flight) and each says hello;
once every welcome is in, after a short settle, RSS is sampled again.
Figures: RSS delta per connection = (after − before) / N, and connect +
hello rate = N / (time from the first attempt to the last welcome).
"""

from __future__ import annotations

from typing import Any

import trio

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan

NAME = "idle"
HELP = "N idle authenticated connections: RSS per connection, connect+hello/s"
SETTLE_S = 1.0


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
    before = await coordinator.stats()
    await coordinator.release(None)
    reports = await coordinator.gather("connected")
    await trio.sleep(SETTLE_S)
    after = await coordinator.stats()
    await coordinator.release(None)
    ok = sum(r["ok"] for r in reports)
    span_s = (max(r["last_ns"] for r in reports) - min(r["first_ns"] for r in reports)) / 1e9
    rss_delta = after.get("rss_bytes", 0) - before.get("rss_bytes", 0)
    figures = {
        "connections": ok,
        "connect_seconds": round(span_s, 3),
        "connect_hello_per_s": round(ok / span_s, 1) if span_s > 0 else None,
        "rss_delta_bytes": rss_delta,
        "rss_per_connection_bytes": round(rss_delta / ok) if ok else None,
        "server_connections": after.get("connections"),
    }
    return {"stats_start": before, "stats_end": after, "window_s": span_s, "figures": figures}
