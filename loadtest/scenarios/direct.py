"""`direct`: N/2 sender→receiver pairs; the offered rate is spread evenly over senders.

Each sender sends to its own receiver (one direct conversation per pair),
open-loop: message k of the whole run goes at t0 + k/R from sender k mod
N/2. Measures throughput, ack and end-to-end latency, and server CPU per
inbound message and per delivery; the checker proves every acked message
reached its receiver once and in order.
"""

from __future__ import annotations

from typing import Any

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import timed

NAME = "direct"
HELP = "sender→receiver pairs at an offered aggregate rate"


def users(options: Any) -> int:
    return 2 * max(1, options.clients // 2)


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return timed.pair_plan(accounts)


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return timed.split_pairs(options, specs, workers)


async def drive(worker: Worker) -> None:
    await timed.drive(worker)


async def coordinate(coordinator: Any) -> dict[str, Any]:
    return await timed.coordinate(coordinator)
