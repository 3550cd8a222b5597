"""`schedules`: issue 5 — the server's cost of quiet-hour transitions for N users.

N employees (`--clients`, e.g. 100,000) in the run's corp, provisioned by the
runner, none of them connected but one (`u0`, whose session's
`connected_ms` tells the coordinator the server's clock). The corp gets a
default schedule (`corp.quiet_hours`, the way an operator gives a whole
corp quiet hours): a one-minute UTC window that opens at the first minute
boundary T1 after the two idle windows below, so every user rests at T1
and stops at T1 + 1 min — 2N transitions in two bursts, each one a real
transition (re-evaluating the user, a `presence` to their peers, a `quiet`
event, a digest check). The server learns a user's next change when it
evaluates them and wakes only for the earliest one due (server/quiet.py),
so between transitions a schedule costs nothing.

Measured, from `stats` (`cpu_seconds`, `quiet_transitions`):

1. `idle_plain` — `--duration` s, the N users without schedules;
2. setting the corp schedule (N evaluations: `set_cpu_s`);
3. `idle_scheduled` — `--duration` s with N schedules and no transition due;
4. the transitions — stats polled every POLL_S from 2 s before T1 until 2N
   transitions are counted (bounded by T1 + 1 min + `--drain` + SLACK_S):
   `cpu_us_per_transition` = (CPU − the scheduled idle rate × elapsed) / 2N,
   and for each burst the largest gap between two stats answers (the event
   loop is busy meanwhile).

From those, `figures.extrapolated`: the share of a core that N users'
transitions take at a realistic rate (two per user per day: a weekday
window such as 22:00-08:00) and in the worst minute (all N at once, as here:
one corp, one default schedule). Both are extrapolations from the measured
CPU per transition; the idle figures are measured directly.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import trio

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan

NAME = "schedules"
HELP = "--clients N users with a corp quiet-hours schedule: CPU idle and per transition"
LEAD_S = 5.0  # between the end of the scheduled idle window and T1
POLL_S = 0.25
SLACK_S = 30.0
MINUTE_MS = 60_000
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TRANSITIONS_PER_USER_PER_DAY = 2  # one window a day: it opens and it closes


def users(options: Any) -> int:
    return options.clients


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    h, token = accounts[0]
    return [ClientSpec(index=0, handle=h, token=token, device=f"{h}/0")]


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return [WorkerPlan(0, options, tuple(specs))]


async def drive(worker: Worker) -> None:
    await worker.barrier("ready")
    await worker.connect_all(worker.clients)
    await worker.barrier("connected", {"connect_failures": worker.recorder.connect_failures})
    await worker.barrier("done")


def window_text(t1_ms: int) -> str:
    """A one-minute UTC window opening at minute instant t1_ms, in corp.quiet_hours' form."""
    start = datetime.fromtimestamp(t1_ms / 1000, UTC)
    end = datetime.fromtimestamp((t1_ms + MINUTE_MS) / 1000, UTC)
    return f"{DAY_NAMES[start.weekday()]} {start:%H:%M}-{end:%H:%M}"


def cpu_rate(a: dict[str, Any], b: dict[str, Any]) -> float:
    elapsed = b["uptime_s"] - a["uptime_s"]
    return (b["cpu_seconds"] - a["cpu_seconds"]) / elapsed if elapsed > 0 else 0.0


async def _idle(coordinator: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    a = await coordinator.stats()
    await trio.sleep(coordinator.options.duration_s)
    return a, await coordinator.stats()


async def _poll(coordinator: Any, until: int, deadline_s: float) -> list[dict[str, Any]]:
    """Stats every POLL_S until `until` transitions are counted (bounded by deadline_s)."""
    samples: list[dict[str, Any]] = []
    with trio.move_on_after(deadline_s):
        while True:
            asked = time.monotonic()
            stats = await coordinator.stats()
            samples.append({"t": asked, "answered": time.monotonic(),
                            "cpu": stats["cpu_seconds"], "uptime": stats["uptime_s"],
                            "transitions": stats["quiet_transitions"]})
            if stats["quiet_transitions"] >= until:
                break
            await trio.sleep(POLL_S)
    return samples


def _bursts(samples: list[dict[str, Any]], base: int, n: int) -> list[dict[str, Any]]:
    """Per burst (opening, closing): its CPU and the longest stats answer inside it."""
    out = []
    for k in (1, 2):
        lo, hi = base + (k - 1) * n, base + k * n
        inside = [i for i, s in enumerate(samples) if lo < s["transitions"] <= hi
                  or (i and samples[i - 1]["transitions"] < hi <= s["transitions"])]
        if not inside:
            continue
        first, last = inside[0], inside[-1]
        before = samples[max(0, first - 1)]
        out.append({
            "transitions": samples[last]["transitions"] - before["transitions"],
            "cpu_s": round(samples[last]["cpu"] - before["cpu"], 3),
            "longest_stats_answer_s": round(max(samples[i]["answered"] - samples[i]["t"]
                                                for i in inside), 3),
        })
    return out


async def coordinate(coordinator: Any) -> dict[str, Any]:
    options, n = coordinator.options, coordinator.options.clients
    plain = await _idle(coordinator)
    await coordinator.gather("ready")
    await coordinator.release(None)
    ready = await coordinator.gather("connected")
    rows = await coordinator.admin("sessions", {"user": f"{options.run_id}-u0"})
    server_now = max(r["connected_ms"] for r in rows) if rows else int(time.time() * 1000)
    uptime0 = (await coordinator.stats())["uptime_s"]

    def server_ms(stats: dict[str, Any]) -> float:  # the server's clock, from its uptime
        return server_now + (stats["uptime_s"] - uptime0) * 1000

    await coordinator.release(None)
    t1 = math.ceil((server_now + (options.duration_s + LEAD_S + 2) * 1000) / MINUTE_MS) \
        * MINUTE_MS
    windows = window_text(t1)
    before_set = await coordinator.stats()
    await coordinator.admin("corp.quiet_hours",
                            {"corp": options.run_id, "timezone": "UTC", "windows": windows})
    after_set = await coordinator.stats()
    scheduled = await _idle(coordinator)
    for _ in range(1000):  # until 2 s before T1, in steps of at most 10 s
        ahead_s = (t1 - server_ms(await coordinator.stats())) / 1000 - 2
        if ahead_s <= 0:
            break
        await trio.sleep(min(ahead_s, 10.0))
    base = before_set["quiet_transitions"]
    deadline = MINUTE_MS / 1000 + 2 + options.drain_s + SLACK_S
    samples = await _poll(coordinator, base + 2 * n, deadline)
    await coordinator.gather("done")
    await coordinator.release(None)
    figures = _figures(n, ready, windows, t1, plain, scheduled, (before_set, after_set), samples)
    return {"stats_start": scheduled[0], "stats_end": scheduled[1],
            "window_s": options.duration_s, "figures": figures}


Stats = dict[str, Any]


def _figures(n: int, ready: list[dict[str, Any]], windows: str, t1: int,
             plain: tuple[Stats, Stats], scheduled: tuple[Stats, Stats],
             setting: tuple[Stats, Stats], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's figures: idle CPU with and without schedules, the cost of setting
    them (`setting`: stats before and after) and of each transition."""
    before_set, after_set = setting
    base = before_set["quiet_transitions"]
    idle_rate = cpu_rate(*scheduled)
    first, last = samples[0], samples[-1]
    count = last["transitions"] - first["transitions"]  # those seen while polling
    span = last["uptime"] - first["uptime"]
    cpu = last["cpu"] - first["cpu"]
    per = (cpu - idle_rate * span) / count if count else None
    figures: dict[str, Any] = {
        "users": n, "connect_failures": sum(r["connect_failures"] for r in ready),
        "windows": windows, "t1_ms": t1,
        "idle_plain_cpu_fraction": round(cpu_rate(*plain), 5),
        "idle_scheduled_cpu_fraction": round(idle_rate, 5),
        "set_cpu_s": round(after_set["cpu_seconds"] - before_set["cpu_seconds"], 3),
        "set_transitions": after_set["quiet_transitions"] - base,
        "transitions": last["transitions"] - base, "transitions_expected": 2 * n,
        "transitions_polled": count,
        "transition_window_s": round(span, 2),
        "transition_cpu_s": round(cpu, 3),
        "cpu_us_per_transition": round(per * 1e6, 2) if per is not None else None,
        "bursts": _bursts(samples, base, n),
    }
    if per is not None:
        realistic = n * TRANSITIONS_PER_USER_PER_DAY / 86_400
        figures["extrapolated"] = {
            "transitions_per_s_realistic": round(realistic, 3),
            "core_fraction_realistic": round(realistic * per, 6),
            "core_fraction_worst_minute": round(n * per / 60, 4),
        }
    return figures
