"""`reconnect`: pairs chatting as in `direct`, and halfway through the window
K devices (`--drop`, default all) lose their connections at once and resume
from their sync tokens together: a sync storm.

Dropped senders keep their unacked sends and re-send them with the same
client_msg_id after the reconnect; dropped receivers get what they missed
through sync. The checker must still find nothing lost, duplicated or
reordered. Also reported: resume time per device (drop → sync complete).
"""

from __future__ import annotations

import random
from typing import Any

import trio

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan, now_ns, sleep_until_ns
from . import timed

NAME = "reconnect"
HELP = "pairs chatting while K devices drop and resume together"


def users(options: Any) -> int:
    return 2 * max(1, options.clients // 2)


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return timed.pair_plan(accounts)


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    count = options.drop or len(specs)
    victims = sorted(s.device for s in random.Random(options.seed).sample(
        specs, min(count, len(specs))))
    plans = timed.split_pairs(options, specs, workers)
    for p in plans:
        p.extra["drop"] = victims
    return plans


async def storm(worker: Worker, start_ns: int, end_ns: int) -> None:
    """Halfway through the window, drop the chosen devices at once and bring them back."""
    victims = set(worker.plan.extra.get("drop", ()))
    clients = [c for c in worker.clients if c.spec.device in victims]
    await sleep_until_ns(start_ns + (end_ns - start_ns) // 2)
    dropped_at = now_ns()
    for client in clients:
        client.drop()
    await trio.sleep(0)
    rec = worker.recorder

    def resumed(client: object) -> None:
        rec.resume_us.record((now_ns() - dropped_at) // 1000)

    await worker.connect_all(clients, on_connected=resumed)
    rec.extra["dropped"] = len(clients)


async def drive(worker: Worker) -> None:
    await timed.drive(worker, storm)


async def coordinate(coordinator: Any) -> dict[str, Any]:
    return await timed.coordinate(coordinator)
