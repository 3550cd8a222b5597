"""`resting`: issue 5 — group fan-out with half the members resting, against nobody.

One group scenario layout (G groups × M members, as `group`) in which the last
round(F × M) members of each group (`--resting-fraction`, default 0.5) rest
in every other phase. `--rounds` N gives 2N phases on the same server,
connections and groups, back to back: `awake1`, `resting1`, `awake2`, … —
each a full timed window at the offered rate R. Before a `resting` phase
those members take a break through the protocol (`quiet.break`, 240
minutes), before an `awake` one they end it (`quiet.resume`), so the server
builds two frames per event (plain and `silent: true`, each encoded once)
only in the resting phases.

Every device checks each live message: `silent: true` exactly when its user
rests (`figures.silent_mismatch` = 0, `silent_msgs` > 0 only from resting
phases), besides the usual loss, duplicate and order checks. Reported: each
phase's server CPU µs per delivery, their means, and `figures.cpu_ratio` =
mean resting / mean awake (target: ≤ 1.10), with each round's own ratio.
Alternating within one run keeps a busy machine's drift out of the ratio.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import groupkit
from .groupkit import Phase

NAME = "resting"
HELP = "a group with --resting-fraction of members on a break vs none, --rounds times"
DEFAULT_FRACTION = 0.5


def phases(options: Any) -> list[Phase]:
    out = []
    for r in range(1, options.rounds + 1):
        out += [Phase(f"awake{r}"), Phase(f"resting{r}", resting=True)]
    return out


def fraction(options: Any) -> float:
    return options.resting_fraction or DEFAULT_FRACTION


def layout(options: Any) -> list[groupkit.Group]:
    return groupkit.with_resting(groupkit.plain_groups(options), fraction(options))


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
    figures = outcome["figures"]
    by_phase = figures["phases"]

    def cpu(name: str) -> Any:
        return by_phase[name]["server"].get("cpu_us_per_delivery")

    rounds = range(1, options.rounds + 1)
    awake = [cpu(f"awake{r}") for r in rounds]
    resting = [cpu(f"resting{r}") for r in rounds]
    known = all(isinstance(x, (int, float)) for x in awake + resting)
    groups = layout(options)
    figures.update(
        groups=len(groups), members_per_group=len(groups[0].members),
        resting_members=sum(len(g.resting) for g in groups),
        cpu_us_per_delivery_awake=awake, cpu_us_per_delivery_resting=resting,
        round_ratios=[groupkit.ratio(b, a) for a, b in zip(awake, resting, strict=True)],
        cpu_ratio=groupkit.ratio(mean(resting), mean(awake)) if known else None,
        p99_awake_ms=[by_phase[f"awake{r}"]["latency_ms"]["e2e"]["p99"] for r in rounds],
        p99_resting_ms=[by_phase[f"resting{r}"]["latency_ms"]["e2e"]["p99"] for r in rounds],
        silent_msgs_awake=sum(by_phase[f"awake{r}"]["silent_msgs"] for r in rounds),
        silent_msgs_resting=sum(by_phase[f"resting{r}"]["silent_msgs"] for r in rounds),
        silent_mismatch=sum(p["silent_mismatch"] for p in by_phase.values()))
    return outcome
