"""The worker side: one trio loop driving a share of the simulated clients.

A worker is told its clients (a `WorkerPlan`), runs its scenario's
`drive(worker)`, and meets the coordinator at named barriers
(`await worker.barrier(name, payload)` returns the coordinator's reply), so
every worker connects first and then starts sending at one agreed instant.
With `--workers 1` the worker is a task beside the coordinator in the same
loop (`ChannelLink`); otherwise each worker is a process (`PipeLink`).

Everything here is bounded: connecting has a per-client deadline and a cap
on attempts in flight, pacing ends at a fixed instant, draining has a
timeout, and every barrier wait has one too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from .options import Options
from .recorder import Recorder, cpu_seconds
from .simclient import ClientSpec, SimClient
from .wsclient import ReadHub

CONNECT_TIMEOUT_S = 20.0
BARRIER_TIMEOUT_S = 600.0
PACER_MAX_BURST = 2000  # sends per loop turn before yielding once


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    index: int
    options: Options
    clients: tuple[ClientSpec, ...]
    extra: dict[str, Any] = field(default_factory=dict)


class Link(Protocol):
    async def barrier(self, name: str, payload: Any) -> Any: ...

    def progress(self, snapshot: dict[str, Any]) -> None: ...


def now_ns() -> int:
    return time.monotonic_ns()


async def sleep_until_ns(deadline_ns: int) -> None:
    """Sleep until a `time.monotonic_ns()` instant (trio's clock has its own offset)."""
    delay = (deadline_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await trio.sleep(delay)


class Worker:
    def __init__(self, plan: WorkerPlan, link: Link, nursery: trio.Nursery) -> None:
        self.plan = plan
        self.options = plan.options
        self.link = link
        self.nursery = nursery
        self.recorder = Recorder()
        self.hub = ReadHub()
        nursery.start_soon(self.hub.run)
        self.clients = [SimClient(spec, self.options.url, self.recorder, self.options.size,
                                  self.hub) for spec in plan.clients]
        # conv -> handles that must receive it, beyond its senders and their peers
        # (set by scenarios whose conversations are groups)
        self.members: dict[int, set[str]] = {}
        # conv -> (seq, sender) of messages stored on this worker's behalf but not sent by
        # a device (robots: the posts answered 200, each with its robot as the sender)
        self.acked_elsewhere: dict[int, list[tuple[int, str]]] = {}

    async def barrier(self, name: str, payload: Any = None) -> Any:
        with trio.fail_after(BARRIER_TIMEOUT_S):
            return await self.link.barrier(name, payload)

    # ----- connecting -----

    async def connect_all(self, clients: Iterable[SimClient], *, until: str = "synced",
                          on_connected: Callable[[SimClient], None] | None = None,
                          ) -> tuple[int, int]:
        """Connect clients with at most `--connect-concurrency` attempts in flight.

        Failures are counted, not raised. Returns the monotonic ns of the
        first attempt and of the last success.
        """
        limiter = trio.CapacityLimiter(self.options.connect_concurrency)
        started = now_ns()
        last = [started]

        async def one(client: SimClient) -> None:
            async with limiter:
                try:
                    with trio.fail_after(CONNECT_TIMEOUT_S):
                        await client.connect(self.nursery, until=until)
                    last[0] = now_ns()
                    if on_connected is not None:
                        on_connected(client)
                except Exception as exc:  # counted: a failed connect must not end the run
                    self.recorder.connect_failures += 1
                    self.recorder.extra.setdefault("connect_errors", []).append(repr(exc)[:200])

        async with trio.open_nursery() as nursery:
            for client in clients:
                nursery.start_soon(one, client)
        return started, last[0]

    # ----- sending -----

    async def pace(self, senders: Sequence[SimClient], rate: float, start_ns: int,
                   stop_ns: int) -> None:
        """Open-loop sends: the k-th goes at start + k/rate to sender k mod len(senders).

        The schedule does not wait for acks; if the loop falls behind it sends
        what is due at once (and the achieved rate shows it).
        """
        if not senders or rate <= 0:
            await sleep_until_ns(stop_ns)
            return
        interval = 1e9 / rate
        total = math.floor((stop_ns - start_ns) / interval)
        count = len(senders)
        k = 0
        await sleep_until_ns(start_ns)
        while k < total:
            now = now_ns()
            due = min(total, int((now - start_ns) / interval) + 1, k + PACER_MAX_BURST)
            while k < due:
                senders[k % count].send_one(now)
                k += 1
            await sleep_until_ns(start_ns + int(k * interval))
        self.recorder.extra["pacer_sends"] = k

    async def drain(self, senders: Sequence[SimClient], settled: Callable[[], bool],
                    timeout_s: float) -> bool:
        """Wait until every send is answered and `settled()`; False on timeout."""
        with trio.move_on_after(timeout_s):
            while any(s.unacked for s in senders) or not settled():
                await trio.sleep(0.02)
            return True
        return False

    # ----- timing and progress -----

    async def window(self, start_ns: int, end_ns: int) -> None:
        """Open and close the steady window at its instants (generator CPU edges)."""
        self.recorder.set_window(start_ns, end_ns)
        await sleep_until_ns(start_ns)
        self.recorder.window_opened()
        await sleep_until_ns(end_ns)
        self.recorder.window_closed()

    async def progress(self, until_ns: int) -> None:
        """Once a second until `until_ns`, tell the coordinator the last second's rates,
        latencies and CPU (with --progress, or when stderr is a terminal)."""
        if not self.options.progress:
            return
        rec = self.recorder
        started = now_ns()
        last = (started, cpu_seconds(), rec.sent, rec.acked, rec.delivered)
        rec.ack_us.since_mark()
        rec.e2e_us.since_mark()
        while last[0] < until_ns:
            await trio.sleep(1.0)
            cur = (now_ns(), cpu_seconds(), rec.sent, rec.acked, rec.delivered)
            wall_s = (cur[0] - last[0]) / 1e9
            phase = "warm-up" if cur[0] < rec.win_start_ns else \
                "window" if cur[0] < rec.win_end_ns else "drain"
            # ≈ 2 ms each: two short pauses of the receive path rather than one longer
            ack = rec.ack_us.since_mark().encode()
            await trio.sleep(0)
            self.link.progress({
                "index": self.plan.index, "phase": phase, "now_ns": cur[0],
                "started_ns": started, "until_ns": until_ns,
                "cpu_fraction": (cur[1] - last[1]) / wall_s,
                **{f"{k}_per_s": (cur[i] - last[i]) / wall_s
                   for i, k in enumerate(("sent", "acked", "delivered"), start=2)},
                "ack": ack, "e2e": rec.e2e_us.since_mark().encode(),
            })
            last = cur

    async def close_all(self) -> None:
        with trio.move_on_after(5):
            async with trio.open_nursery() as nursery:
                for client in self.clients:
                    nursery.start_soon(client.close)

    # ----- results -----

    def result(self) -> dict[str, Any]:
        """What the coordinator merges: counters, samples and the checker's inputs."""
        acked: dict[int, list[tuple[int, str]]] = {}
        members: dict[int, set[str]] = {}
        delivered: dict[str, dict[int, list[int]]] = {}
        for client in self.clients:
            spec = client.spec
            for conv, seqs in client.acked.items():
                acked.setdefault(conv, []).extend((seq, spec.device) for seq in seqs)
                members.setdefault(conv, set()).update({spec.handle, client.conv_peer[conv]})
            if client.delivered:
                delivered[spec.device] = client.delivered
        for conv, handles in self.members.items():
            members.setdefault(conv, set()).update(handles)
        for conv, pairs in self.acked_elsewhere.items():
            acked.setdefault(conv, []).extend(pairs)
        return {"index": self.plan.index, "recorder": self.recorder.summary(),
                "acked": acked, "members": {c: sorted(m) for c, m in members.items()},
                "delivered": delivered,
                "unacked_at_end": sum(len(c.unacked) for c in self.clients)}


async def run_worker(plan: WorkerPlan, link: Link) -> dict[str, Any]:
    """Drive one worker's clients through its scenario; returns `Worker.result()`."""
    from .scenarios import get_scenario

    scenario = get_scenario(plan.options.scenario)
    async with trio.open_nursery() as nursery:
        worker = Worker(plan, link, nursery)
        try:
            await scenario.drive(worker)
        finally:
            await worker.close_all()
            nursery.cancel_scope.cancel()
    return worker.result()


# ----- links to the coordinator -----


class ChannelLink:
    """The worker's end when it runs as a task in the coordinator's loop."""

    def __init__(self, index: int, to_coordinator: trio.MemorySendChannel,
                 on_progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.index = index
        self.to_coordinator = to_coordinator
        self.on_progress = on_progress
        self.replies_send, self.replies = trio.open_memory_channel[Any](1)

    async def barrier(self, name: str, payload: Any) -> Any:
        await self.to_coordinator.send((self.index, name, payload))
        return await self.replies.receive()

    def progress(self, snapshot: dict[str, Any]) -> None:
        if self.on_progress is not None:
            self.on_progress(snapshot)

    async def reply(self, value: Any) -> None:
        await self.replies_send.send(value)


class PipeLink:
    """The worker's end in a worker process: a multiprocessing pipe."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def barrier(self, name: str, payload: Any) -> Any:
        self.conn.send(("barrier", name, payload))
        return await trio.to_thread.run_sync(self.conn.recv, abandon_on_cancel=True)

    def progress(self, snapshot: dict[str, Any]) -> None:
        self.conn.send(("progress", snapshot))


def process_main(plan: WorkerPlan, conn: Any) -> None:
    """Entry point of a worker process (multiprocessing, spawn)."""
    import traceback

    try:
        result = trio.run(run_worker, plan, PipeLink(conn))
        conn.send(("result", result))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
