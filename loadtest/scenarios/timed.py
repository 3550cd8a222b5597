"""The shape every timed scenario shares, worker side and coordinator side.

1. Workers connect all their devices (and sync), then meet at "connected".
2. The coordinator names a start instant t0 a little ahead; from t0 the
   workers send open-loop at their share of the offered rate; the first
   `warmup_s` are not measured; then the steady window of `duration_s`,
   at whose edges the coordinator samples the server's stats and each
   worker its own CPU; sending stops at the window's end.
3. Workers drain (wait, bounded, for every ack and delivery), meet at
   "done", and close.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..simclient import ClientSpec, SimClient
from ..worker import Worker, WorkerPlan, now_ns, sleep_until_ns

START_AHEAD_NS = 300_000_000
Storm = Callable[[Worker, int, int], Awaitable[None]]


def pair_plan(accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    """Devices for sender→receiver pairs: even accounts send to the next one."""
    specs = []
    for i, (handle, token) in enumerate(accounts):
        peer = accounts[i + 1][0] if i % 2 == 0 else None
        specs.append(ClientSpec(index=i, handle=handle, token=token, device=f"{handle}/0",
                                peer=peer))
    return specs


def split_pairs(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    """Pairs dealt round-robin, so both ends of a conversation share a worker."""
    shares: list[list[ClientSpec]] = [[] for _ in range(workers)]
    for p in range(0, len(specs), 2):
        shares[(p // 2) % workers].extend(specs[p:p + 2])
    senders = sum(1 for s in specs if s.peer)
    return [WorkerPlan(i, options, tuple(share), {"total_senders": senders})
            for i, share in enumerate(shares) if share]


def all_delivered(senders: list[SimClient], receivers: list[SimClient]) -> Callable[[], bool]:
    """Whether the receivers hold as many deliveries as the senders got acks
    (one receiving device per message, as in pairs)."""

    def settled() -> bool:
        acked = sum(len(s) for c in senders for s in c.acked.values())
        got = sum(len(s) for c in receivers for s in c.delivered.values())
        return got >= acked

    return settled


async def drive(worker: Worker, storm: Storm | None = None) -> None:
    options = worker.options
    senders = [c for c in worker.clients if c.spec.peer]
    receivers = [c for c in worker.clients if not c.spec.peer]
    await worker.connect_all(worker.clients)
    reply = await worker.barrier("connected", worker.recorder.connect_failures)
    t0: int = reply["t0"]
    start = t0 + int(options.warmup_s * 1e9)
    end = start + int(options.duration_s * 1e9)
    total = worker.plan.extra.get("total_senders") or len(senders) or 1
    rate = options.rate * len(senders) / total
    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker.window, start, end)
        nursery.start_soon(worker.progress, end)
        if storm is not None:
            nursery.start_soon(storm, worker, start, end)
        await worker.pace(senders, rate, t0, end)
    drained = await worker.drain(senders, all_delivered(senders, receivers), options.drain_s)
    worker.recorder.extra["drained"] = drained
    await worker.barrier("done")


async def coordinate(coordinator: Any) -> dict[str, Any]:
    options = coordinator.options
    await coordinator.gather("connected")
    t0 = now_ns() + START_AHEAD_NS
    start = t0 + int(options.warmup_s * 1e9)
    end = start + int(options.duration_s * 1e9)
    await coordinator.release({"t0": t0})
    await sleep_until_ns(start)
    stats_start = await coordinator.stats()
    await sleep_until_ns(end)
    stats_end = await coordinator.stats()
    await coordinator.gather("done")
    await coordinator.release(None)
    return {"stats_start": stats_start, "stats_end": stats_end,
            "window_s": options.duration_s, "figures": {}}
