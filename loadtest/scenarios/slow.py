"""`slow`: one group in which K members (`--slow`, default 1) stop reading.

Two phases in one invocation, on the same group and connections, each a
full timed window at the offered rate R from the other members:

1. `baseline` — everyone reads;
2. `slow` — at the phase's start the K slow members stop reading their
   sockets for good (never drained), so the server's frames pile up in the
   kernel and then in their sessions' buffers until the server closes them
   as slow consumers (the "resync" close).

Reported per phase: the others' end-to-end p50/p99/max (the slow members'
own latencies are never sampled), server CPU per delivery, and with
`figures.p99_ratio` = slow p99 / baseline p99. For the slow phase: how many
sessions the server closed as slow consumers (`slow_consumer_closes` from
the phase's start to the end of its drain) and when (stats polled every
0.25 s from the moment they stopped reading, in both phases alike), the
largest session buffer seen, and server RSS growth. The others are checked
for loss, duplicates and order over both phases; the slow members are not
checked (they stopped reading on purpose).
"""

from __future__ import annotations

from typing import Any

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import groupkit
from .groupkit import Phase

NAME = "slow"
HELP = "one group where --slow K members stop reading: the others' p99 vs a run without"
PHASES = [Phase("baseline", poll=True), Phase("slow", stall=True, poll=True)]


def slow_count(options: Any) -> int:
    return options.slow or 1


def layout(options: Any) -> list[groupkit.Group]:
    size = groupkit.members_per_group(options)
    if slow_count(options) >= size - 1:
        raise ValueError("--slow must leave at least two members reading")
    return groupkit.plain_groups(options, slow=slow_count(options), count=1)


def users(options: Any) -> int:
    return groupkit.members_per_group(options)


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return groupkit.devices(layout(options), dict(accounts))


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return groupkit.split_groups(options, specs, workers, layout(options), PHASES)


async def drive(worker: Worker) -> None:
    await groupkit.drive(worker, PHASES)


async def coordinate(coordinator: Any) -> dict[str, Any]:
    outcome = await groupkit.coordinate(coordinator, PHASES)
    figures = outcome["figures"]
    base, slow = figures["phases"]["baseline"], figures["phases"]["slow"]
    closes = slow.get("polled", {}).get("closes_at_s", [])
    k = slow_count(coordinator.options)
    figures.update(
        members=groupkit.members_per_group(coordinator.options), slow_members=k,
        slow_closed=slow["slow_consumer_closes"],
        all_slow_closed_after_s=next((t for t, n in closes if n >= k), None),
        p99_baseline_ms=base["latency_ms"]["e2e"]["p99"],
        p99_slow_ms=slow["latency_ms"]["e2e"]["p99"],
        p99_ratio=groupkit.ratio(slow["latency_ms"]["e2e"]["p99"],
                                 base["latency_ms"]["e2e"]["p99"]),
        cpu_us_per_delivery_ratio=groupkit.ratio(slow["server"].get("cpu_us_per_delivery"),
                                                 base["server"].get("cpu_us_per_delivery")),
        rss_growth_bytes=slow["rss_growth_bytes"],
        rss_growth_over_run_bytes=(slow["rss_bytes_after"] or 0)
        - (base["rss_bytes_before"] or 0),
    )
    return outcome
