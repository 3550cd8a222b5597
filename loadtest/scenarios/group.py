"""`group`: G groups × M members, every member online, an offered aggregate rate R.

Users `<run_id>-u<i>` are dealt to groups in order; the first member of each
group creates it (`group.create` with the others). A fraction
`--two-device-fraction` of each group's members (never fewer than the
rounding gives) connect a second device; every member's first device sends,
open-loop, message k of the run going at t0 + k/R from sender k mod S. Every
device of every member is checked for loss, duplicates and order, exactly
once per device (the sender's own device excepted; its second device gets
the message too). Reported: deliveries/s, latencies, and the server's CPU
µs per delivery from `stats` deltas (cpu_seconds / deliveries) over the
window. `--members` defaults to `--clients / --groups`.

With `--resting-fraction F` (issue 5) the last round(F × M) members of each
group take a break (`quiet.break`, through the protocol) before the window,
so the server delivers every message to them with `silent: true`: each
device checks that its live messages carry `silent` exactly when its user
rests (`figures.silent_mismatch` must be 0). The `resting` scenario
alternates the two states within one run.
"""

from __future__ import annotations

from typing import Any

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import groupkit
from .groupkit import Phase

NAME = "group"
HELP = ("G groups × M members (--groups, --members, --two-device-fraction, "
        "--resting-fraction) at rate R")


def phases(options: Any) -> list[Phase]:
    return [Phase("main", resting=options.resting_fraction > 0)]


def layout(options: Any) -> list[groupkit.Group]:
    groups = groupkit.plain_groups(options, two_device_fraction=options.two_device_fraction)
    return groupkit.with_resting(groups, options.resting_fraction)


def users(options: Any) -> int:
    return options.groups * groupkit.members_per_group(options)


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return groupkit.devices(layout(options), dict(accounts))


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return groupkit.split_groups(options, specs, workers, layout(options), phases(options))


async def drive(worker: Worker) -> None:
    await groupkit.drive(worker, phases(worker.options))


async def coordinate(coordinator: Any) -> dict[str, Any]:
    options = coordinator.options
    outcome = await groupkit.coordinate(coordinator, phases(options))
    groups = layout(options)
    main = outcome["figures"]["phases"]["main"]
    outcome["figures"].update(
        groups=len(groups), members_per_group=len(groups[0].members),
        devices=sum(len(g.members) + len(g.two_device) for g in groups),
        two_device_members=sum(len(g.two_device) for g in groups),
        resting_members=sum(len(g.resting) for g in groups),
        silent_msgs=main["silent_msgs"], silent_mismatch=main["silent_mismatch"])
    return outcome
