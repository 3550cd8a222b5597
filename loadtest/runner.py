"""The coordinator: provision, start workers, meet them at barriers, merge, check.

`run(options, admin)` is the async entry point (the CLI and the tests call
it). `admin(cmd, args)` is an async callable running one admin command —
the CLI and the tests wrap the blocking `corpchat.adminclient.call` in
`trio.to_thread.run_sync`, so the event loop (and, in the tests, the server
sharing it) keeps running.

Provisioning namespaces everything with a random run id (`lt-3fa2`): the
corp is named after it and users are `lt-3fa2-u17`, so runs never collide
and need no cleanup. With `--workers 1` the worker is a task in this loop;
otherwise each worker is a spawned process with its own trio loop, talking
over a pipe. The scenario's `coordinate` meets the workers at named
barriers and samples the server's `stats` at the window's edges.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from . import report
from .checker import check
from .display import LiveView
from .options import Options
from .recorder import merge as merge_histograms
from .scenarios import get_scenario
from .worker import BARRIER_TIMEOUT_S, ChannelLink, WorkerPlan, process_main, run_worker

AdminFn = Callable[[str, dict[str, Any]], Awaitable[Any]]
PROVISION_CONCURRENCY = 32


class WorkerFailed(Exception):
    pass


def new_run_id(seed: int | None = None) -> str:
    """`lt-` and 4 hex digits: random per run, unless derived from a seed for tests."""
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    return f"lt-{rng.getrandbits(16):04x}"


async def provision(admin: AdminFn, run_id: str, count: int) -> list[tuple[str, str]]:
    """A corp named `run_id` and `count` users in it: [(handle, token)] in order."""
    await admin("corp.add", {"name": run_id})
    accounts: list[tuple[str, str] | None] = [None] * count
    limiter = trio.CapacityLimiter(PROVISION_CONCURRENCY)

    async def one(i: int) -> None:
        handle = f"{run_id}-u{i}"
        async with limiter:
            result = await admin("user.add", {"handle": handle, "corp": run_id, "token": True})
        accounts[i] = (handle, result["token"])

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
    done = [a for a in accounts if a is not None]
    assert len(done) == count  # the nursery ran every `one`
    return done


async def provision_consumers(admin: AdminFn, handles: Iterable[str]) -> dict[str, str]:
    """Consumer accounts with these handles: {handle: token}."""
    tokens: dict[str, str] = {}
    limiter = trio.CapacityLimiter(PROVISION_CONCURRENCY)

    async def one(h: str) -> None:
        async with limiter:
            result = await admin("user.add", {"handle": h, "consumer": True, "token": True})
        tokens[h] = result["token"]

    async with trio.open_nursery() as nursery:
        for h in handles:
            nursery.start_soon(one, h)
    return tokens


class Coordinator:
    """The coordinator's end of the barriers, plus `stats()` from the server."""

    def __init__(self, options: Options, admin: AdminFn, workers: int) -> None:
        self.options = options
        self.admin = admin
        self.workers = workers
        self.inbox_send, self.inbox = trio.open_memory_channel[tuple[int, str, Any]](workers * 4)
        self.replies: dict[int, Callable[[Any], Awaitable[None]]] = {}
        self.view = LiveView(workers) if options.progress else None

    def progress(self, snapshot: dict[str, Any]) -> None:
        """A worker's last second (worker.py, `Worker.progress`), for the live display."""
        if self.view is not None:
            self.view.update(snapshot)

    async def gather(self, name: str, timeout_s: float = BARRIER_TIMEOUT_S) -> list[Any]:
        """Wait until every worker reached barrier `name`; their payloads by index."""
        got: dict[int, Any] = {}
        with trio.fail_after(timeout_s):
            while len(got) < self.workers:
                index, arrived, payload = await self.inbox.receive()
                if arrived != name:
                    raise WorkerFailed(f"worker {index} at barrier {arrived!r}, expected {name!r}")
                got[index] = payload
        return [got[i] for i in sorted(got)]

    async def release(self, value: Any) -> None:
        for reply in self.replies.values():
            await reply(value)

    async def stats(self) -> dict[str, Any]:
        return await self.admin("stats", {})


async def run(options: Options, admin: AdminFn) -> dict[str, Any]:
    """Run one load test to its end; returns the report (see loadtest/report.py)."""
    scenario = get_scenario(options.scenario)
    run_id = options.run_id or new_run_id()
    options = options.replace(run_id=run_id)
    started = time.time()
    accounts = await provision(admin, run_id, scenario.users(options))
    specs = scenario.plan(options, accounts)
    plans = scenario.split(options, specs, options.workers)
    coordinator = Coordinator(options, admin, len(plans))
    results: dict[int, dict[str, Any]] = {}
    with coordinator.view or contextlib.nullcontext():
        async with trio.open_nursery() as nursery:
            if len(plans) == 1 and options.workers == 1:
                _start_task_worker(nursery, coordinator, plans[0], results)
            else:
                _start_process_workers(nursery, coordinator, plans, results)
            outcome = await scenario.coordinate(coordinator)
    merged = merge([results[i] for i in sorted(results)])
    devices_of: dict[str, list[str]] = {}
    for spec in specs:
        devices_of.setdefault(spec.handle, []).append(spec.device)
    receivers = {conv: [d for h in members for d in devices_of.get(h, ())]
                 for conv, members in merged["members"].items()}
    verdict = check(merged["acked_seqs"], receivers, merged["delivered_seqs"])
    if rule := outcome.get("rule"):  # a scenario's own rule (robots: the 429s)
        verdict.violated(rule["violations"], rule["examples"])
    return report.build(options, started, merged, outcome, verdict)


def _start_task_worker(nursery: trio.Nursery, coordinator: Coordinator, plan: WorkerPlan,
                       results: dict[int, dict[str, Any]]) -> None:
    link = ChannelLink(plan.index, coordinator.inbox_send, coordinator.progress)
    coordinator.replies[plan.index] = link.reply

    async def work() -> None:
        results[plan.index] = await run_worker(plan, link)

    nursery.start_soon(work)


def _start_process_workers(nursery: trio.Nursery, coordinator: Coordinator,
                           plans: list[WorkerPlan], results: dict[int, dict[str, Any]]) -> None:
    context = multiprocessing.get_context("spawn")
    for plan in plans:
        parent, child = context.Pipe()
        process = context.Process(target=process_main, args=(plan, child), daemon=True,
                                  name=f"corpchat-loadtest-w{plan.index}")
        process.start()
        child.close()

        async def reply(value: Any, conn: Any = parent) -> None:
            conn.send(value)

        coordinator.replies[plan.index] = reply
        nursery.start_soon(_pump, plan.index, parent, process, coordinator, results)


async def _pump(index: int, conn: Any, process: Any, coordinator: Coordinator,
                results: dict[int, dict[str, Any]]) -> None:
    """Forward one worker process's messages until its result arrives."""
    try:
        while True:
            try:
                message = await trio.to_thread.run_sync(conn.recv, abandon_on_cancel=True)
            except EOFError:
                raise WorkerFailed(f"worker {index} exited without a result") from None
            kind = message[0]
            if kind == "barrier":
                await coordinator.inbox_send.send((index, message[1], message[2]))
            elif kind == "progress":
                coordinator.progress(message[1])
            elif kind == "result":
                results[index] = message[1]
                return
            else:
                raise WorkerFailed(f"worker {index} failed:\n{message[1]}")
    finally:
        await trio.to_thread.run_sync(process.join, 10)
        if process.is_alive():
            process.terminate()
        conn.close()


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One worker-shaped result from many: counters summed, histograms added, maps joined."""
    recorders = [r["recorder"] for r in results]
    total: dict[str, Any] = {"workers": recorders}
    for key in ("sent", "acked", "delivered", "win_sent", "win_acked", "win_delivered",
                "unexpected_acks", "stale_dropped", "connect_failures", "bad_frames"):
        total[key] = sum(r[key] for r in recorders)
    for key in ("refused", "disconnects"):
        counts: dict[str, int] = {}
        for r in recorders:
            for code, n in r[key].items():
                counts[code] = counts.get(code, 0) + n
        total[key] = counts
    for key in ("ack_us", "e2e_us", "resume_us"):  # encoded HDR histograms, added
        total[key] = merge_histograms(r[key] for r in recorders)
    acked: dict[int, list[tuple[int, str]]] = {}
    members: dict[int, set[str]] = {}
    delivered: dict[str, dict[int, list[int]]] = {}
    for result in results:
        for conv, pairs in result["acked"].items():
            acked.setdefault(conv, []).extend(pairs)
        for conv, handles in result["members"].items():
            members.setdefault(conv, set()).update(handles)
        delivered.update(result["delivered"])
    total.update(acked_seqs=acked, members=members, delivered_seqs=delivered,
                 unacked_at_end=sum(r["unacked_at_end"] for r in results))
    return total
