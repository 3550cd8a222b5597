"""`announce`: corp announcements to N members (the corp's notice board).

The run's corp has N employees (`--members`, default `--clients`); the first
is made a corp admin (admin `user.set` {corp_admin: true}) and posts
`announce` frames, one at a time: each announcement waits until every other
member's device has it (at most 10 s), then the next goes, at most `--rate`
per second (capped at 150/s, under the server's per-connection request
rate) — rounds, for the whole timed window. One worker process (the rounds
are timed in one place).

Reported: per round, the time from the send to the first and to the last
delivery (`figures.time_to_all_ms`: p50/p99/max over the window's rounds),
end-to-end latency over every delivery, and the server's CPU µs per
delivery from `stats` deltas. Every member is checked for loss, duplicates
and order.
"""

from __future__ import annotations

from typing import Any

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import groupkit
from .groupkit import Group, Phase

NAME = "announce"
HELP = "a corp admin's announcements to N members, one at a time: time to reach all"
PHASES = [Phase("announce", kinds=("announce",), rounds=True)]


def member_count(options: Any) -> int:
    return max(2, options.members or options.clients)


def layout(options: Any) -> list[Group]:
    members = tuple(groupkit.handle(options.run_id, i) for i in range(member_count(options)))
    return [Group(0, f"{options.run_id}-board", "announce", members[0], members, sends="owner")]


def users(options: Any) -> int:
    return member_count(options)


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return groupkit.devices(layout(options), dict(accounts))


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return groupkit.split_groups(options, specs, 1, layout(options), PHASES)


async def drive(worker: Worker) -> None:
    await groupkit.drive(worker, PHASES)


async def _make_admin(coordinator: Any) -> None:
    admin = layout(coordinator.options)[0].owner
    await coordinator.admin("user.set", {"handle": admin, "corp_admin": True})


async def coordinate(coordinator: Any) -> dict[str, Any]:
    outcome = await groupkit.coordinate(coordinator, PHASES, prepare=_make_admin)
    figures = outcome["figures"]
    main = figures["phases"]["announce"]
    figures.update(members=member_count(coordinator.options), rounds=main["rounds"],
                   first_delivery_ms=main["first_delivery_ms"],
                   time_to_all_ms=main["time_to_all_ms"],
                   cpu_us_per_delivery=main["server"].get("cpu_us_per_delivery"))
    return outcome
