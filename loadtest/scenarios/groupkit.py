"""What the group scenarios share (group, slow, receipts, announce, external).

* `GroupClient` (groupclient.py): a `SimClient` that sends into a conversation (`send` with
  `conv`, optionally `receipt: true`, or `announce`), answers requests it
  makes (`group.create`, `contact.request`, …) by `re`, reads every
  receipt-requested message it is shown when asked to (`read`), counts the
  coalesced `receipt` events it gets for its own messages, and can stop
  reading altogether (a slow consumer). System messages (group created,
  members added) are in the log but no sender acked them: they advance the
  sync token and are counted, not checked.
* `Group` (groupplan.py, with `Phase`): one conversation's layout (owner, members,
  two-device members, slow members), computed from the options alone, so `plan` (devices) and
  `split` (workers) agree without passing state. Handles are the runner's
  `<run_id>-u<i>` (and `<run_id>-c<i>` for consumers, provisioned by the
  coordinator); a group never spans two workers, since its owner creates it
  and its drain needs all its acks.
* `drive` / `coordinate`: the worker and coordinator halves of a run made of
  named **phases**, each one a timed window (t0, warm-up, steady window,
  drain) in which the groups of some kinds send at the offered rate. Both
  sides meet at the barriers start → ready → `<phase>:go` → `<phase>:done`
  … → done. Each phase's latencies, rates and server `stats` deltas go to
  `figures.phases.<name>`; the report's main figures are the last phase's.

Every wait is bounded: requests by REQUEST_TIMEOUT_S, phases by their
window and `--drain`, announce rounds by ROUND_TIMEOUT_S, barriers by the
worker's barrier timeout.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import trio

from corpchat.protocol import (
    Conversations,
    Frame,
    GroupAdd,
    GroupCreate,
    QuietBreak,
    QuietResume,
)

from ..recorder import merge, percentiles
from ..report import server_figures
from ..worker import Worker, now_ns, sleep_until_ns
from .groupclient import REQUEST_TIMEOUT_S, GroupClient, SetupFailed, Tracker
from .groupplan import (
    Group,
    Phase,
    consumer_handle,
    devices,
    everyday_roles,
    handle,
    members_per_group,
    plain_groups,
    split_groups,
    with_resting,
)

# The scenarios import the whole kit from here.
__all__ = ["REQUEST_TIMEOUT_S", "SETUP_CONCURRENCY", "Group", "GroupClient", "Phase", "Run",
           "SetupFailed", "consumer_handle", "coordinate", "devices", "drive", "handle",
           "members_per_group", "phase_figures", "plain_groups", "ratio", "split_groups",
           "with_resting"]

START_AHEAD_NS = 300_000_000
STATS_POLL_S = 0.25
ROUND_TIMEOUT_S = 10.0  # announce: one announcement must reach everyone within this
MAX_ROUNDS = 100_000
ANNOUNCE_MAX_RATE = 150.0  # announcements/s, under the server's per-connection request rate
SETUP_CONCURRENCY = 64  # set-up requests in flight per worker
CREATE_CHUNK = 1000  # members named per group.create / group.add (arrays hold ≤ 1024)


# ----- the worker side -----

Setup = Callable[[Worker, list[Group], dict[str, list[GroupClient]]], Awaitable[None]]
# During a phase, beside the sends: (run, phase, window start ns, window end ns) -> a
# payload for the coordinator (figures.phases.<name>.during, one per worker that had one)
During = Callable[[Any, Phase, int, int], Awaitable[dict[str, Any] | None]]
BREAK_MINUTES = 240  # a resting member's break: longer than any run


@dataclass(slots=True)
class Run:
    """One worker's state across phases."""

    worker: Worker
    groups: list[Group]
    clients: dict[str, list[GroupClient]]  # handle -> devices
    convs: dict[int, int] = field(default_factory=dict)  # group key -> conv
    during: During | None = None
    resting_now: bool = False

    def devices_of(self, group: Group) -> list[GroupClient]:
        return [c for h in group.members for c in self.clients.get(h, ())]

    def first(self, h: str) -> GroupClient:
        return self.clients[h][0]


def _group_from_json(g: dict[str, Any]) -> Group:
    """A group as the coordinator sent it (JSON turned its tuples into lists)."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in g.items()}
    return Group(**fields)


async def drive(worker: Worker, phases: list[Phase], setup: Setup | None = None,
                during: During | None = None,
                client_class: type[GroupClient] = GroupClient) -> None:
    plan = worker.plan
    groups = [_group_from_json(g) for g in plan.extra["groups"]]
    start = await worker.barrier("start") or {}
    tokens: dict[str, str] = start.get("tokens", {})
    specs = [replace(s, token=tokens[s.handle]) if s.handle in tokens else s
             for s in plan.clients]
    options = worker.options
    made = [client_class(s, options.url, worker.recorder, options.size, worker.hub)
            for s in specs]
    worker.clients = list(made)
    clients: dict[str, list[GroupClient]] = defaultdict(list)
    for client in made:
        clients[client.spec.handle].append(client)
    run = Run(worker, groups, dict(clients), during=during)
    await worker.connect_all(worker.clients)
    if setup is not None:
        await setup(worker, groups, run.clients)
    await _create_groups(run)
    for group in groups:
        slow = set(group.slow)
        worker.members[run.convs[group.key]] = {h for h in group.members if h not in slow}
        for c in run.devices_of(group):
            c.conv = run.convs[group.key]
            c.announce = group.kind == "announce" and c.spec.handle == group.owner
            c.quiet = c.spec.handle in slow
    await worker.barrier("ready", {"connect_failures": worker.recorder.connect_failures,
                                   "convs": dict(run.convs)})
    drained_all = True
    for phase in phases:
        drained_all &= await _run_phase(run, phase)
    worker.recorder.extra["drained"] = drained_all
    stalled = [c for c in made if getattr(c, "stalled", False)]
    worker.recorder.extra["stalled_devices"] = len(stalled)
    worker.recorder.extra["stalled_delivered"] = sum(
        len(s) for c in stalled for s in c.delivered.values())
    for c in stalled:  # not checked: they stopped reading on purpose
        c.delivered = {}
    await worker.barrier("done")


async def _create_groups(run: Run) -> None:
    limiter = trio.CapacityLimiter(SETUP_CONCURRENCY)

    async def create(group: Group) -> None:
        owner = run.first(group.owner)
        if group.kind == "announce":  # the corp's notice board exists already
            async with limiter:
                reply = await owner.request(lambda rid: _conversations(rid))
            boards = [c["conv"] for c in reply.get("convs", ()) if c.get("kind") == "announce"]
            if not boards:
                raise SetupFailed(f"{group.owner} sees no notice board")
            run.convs[group.key] = boards[0]
            return
        others = tuple(h for h in group.members if h != group.owner)
        first, rest = others[:CREATE_CHUNK], others[CREATE_CHUNK:]
        async with limiter:
            reply = await owner.request(
                lambda rid: GroupCreate(id=rid, name=group.name, members=first))
            conv = run.convs[group.key] = reply["conv"]
            for i in range(0, len(rest), CREATE_CHUNK):  # a frame holds ≤ 1024 handles
                chunk = rest[i:i + CREATE_CHUNK]
                await owner.request(partial(_group_add, conv, chunk))

    async with trio.open_nursery() as nursery:
        for group in run.groups:
            nursery.start_soon(create, group)


def _conversations(rid: int) -> Frame:
    return Conversations(id=rid, limit=10)


def _reset_window(worker: Worker) -> None:
    rec = worker.recorder
    rec.ack_us.reset()
    rec.e2e_us.reset()
    rec.win_sent = rec.win_acked = rec.win_delivered = 0


def _counters(clients: list[GroupClient]) -> dict[str, int]:
    return {
        "reads_sent": sum(c.reads_sent for c in clients),
        "reads_answered": sum(c.reads_answered for c in clients),
        "reads_refused": sum(c.reads_refused for c in clients),
        "win_reads": sum(c.win_reads for c in clients),
        "msgs_read": sum(c.msgs_read for c in clients),
        "win_msgs_read": sum(c.win_msgs_read for c in clients),
        "receipt_frames": sum(c.receipt_frames for c in clients),
        "receipt_messages": sum(len(c.receipt_seqs) for c in clients),
        "receipts_complete": sum(c.receipts_complete for c in clients),
        "receipt_duplicates": sum(c.receipt_duplicates for c in clients),
        "receipt_readers": sum(len(r) for c in clients for r in c.receipt_readers.values()),
        "system_msgs": sum(c.system_msgs for c in clients),
        "silent_msgs": sum(c.silent_msgs for c in clients),
        "silent_mismatch": sum(c.silent_mismatch for c in clients),
        "reacts_sent": sum(c.reacts_sent for c in clients),
        "reaction_frames": sum(c.reaction_frames for c in clients),
    }


def _group_add(conv: int, members: tuple[str, ...], rid: int) -> GroupAdd:
    return GroupAdd(id=rid, conv=conv, members=members)


async def _run_phase(run: Run, phase: Phase) -> bool:
    worker, options = run.worker, run.worker.options
    clients = [c for devices in run.clients.values() for c in devices]
    active = [g for g in run.groups if g.kind in phase.kinds]
    senders = [run.first(h) for g in active for h in g.senders if h in run.clients]
    pacing = random.Random(options.seed)
    for g in run.groups:
        for c in run.devices_of(g):
            c.receipt = phase.receipt
            c.auto_read = phase.read
            c.pace_reads(int(options.read_every_ms * 1e6), pacing)
            c.expected_readers = len(g.members) - 1
        everyday_roles(options, g, run.devices_of(g))
    if phase.resting != run.resting_now:
        await _set_resting(run, phase.resting)
    reply = await worker.barrier(f"{phase.name}:go")
    t0: int = reply["t0"]
    start = t0 + int(options.warmup_s * 1e9)
    end = start + int(options.duration_s * 1e9)
    _reset_window(worker)
    before = _counters(clients)
    total = worker.plan.extra["phase_senders"].get(phase.name) or len(senders) or 1
    rate = options.rate * len(senders) / total
    rounds: list[list[int]] = []
    during: list[dict[str, Any] | None] = [None]
    async with trio.open_nursery() as reading:
        if phase.read and options.read_every_ms > 0:
            reading.start_soon(_flush_reads, clients, options.read_every_ms)
        async with trio.open_nursery() as nursery:
            if run.during is not None:
                nursery.start_soon(_during, run, phase, start, end, during)
            nursery.start_soon(worker.window, start, end)
            nursery.start_soon(worker.progress, end)
            if phase.stall:
                nursery.start_soon(_stall_at, [c for g in active for h in g.slow
                                               for c in run.clients.get(h, ())], t0)
            if phase.rounds:
                await _announce_rounds(run, active, rate, t0, start, end, rounds)
            else:
                await worker.pace(senders, rate, t0, end)
        drained = await worker.drain(senders, _settled(run, active, phase), options.drain_s)
        reading.cancel_scope.cancel()
    after = _counters(clients)
    rec = worker.recorder
    payload = {"e2e": rec.e2e_us.encode(), "ack": rec.ack_us.encode(),
               "win_sent": rec.win_sent, "win_acked": rec.win_acked,
               "win_delivered": rec.win_delivered, "drained": drained,
               "senders": len(senders), "rounds": rounds, "during": during[0],
               **{k: after[k] - before[k] for k in after}}
    await worker.barrier(f"{phase.name}:done", payload)
    return drained


async def _during(run: Run, phase: Phase, start: int, end: int,
                  out: list[dict[str, Any] | None]) -> None:
    during = run.during
    assert during is not None  # started only for a run with a `during` step
    out[0] = await during(run, phase, start, end)


async def _set_resting(run: Run, resting: bool) -> None:
    """Put the groups' resting members on a break (or end it) through the protocol; every
    device of theirs then expects silent: true on each live msg (or not)."""
    limiter = trio.CapacityLimiter(SETUP_CONCURRENCY)
    handles = {h for g in run.groups for h in g.resting if h in run.clients}

    async def one(h: str) -> None:
        async with limiter:
            if resting:
                await run.first(h).request(lambda rid: QuietBreak(id=rid, minutes=BREAK_MINUTES))
            else:
                await run.first(h).request(lambda rid: QuietResume(id=rid))
        for c in run.clients[h]:
            c.resting = resting

    async with trio.open_nursery() as nursery:
        for h in sorted(handles):
            nursery.start_soon(one, h)
    run.resting_now = resting


async def _flush_reads(clients: list[GroupClient], every_ms: float) -> None:
    """Send each member's waiting cursor when its turn comes (until cancelled)."""
    tick_s = max(every_ms / 4, 5.0) / 1000
    while True:
        await trio.sleep(tick_s)
        now = time.monotonic_ns()
        for c in clients:
            if c.live:
                c.flush_read(now)


async def _stall_at(clients: list[GroupClient], t0: int) -> None:
    await sleep_until_ns(t0)
    for c in clients:
        c.stall()


def _settled(run: Run, active: list[Group], phase: Phase) -> Callable[[], bool]:
    """Every device of every sending group holds every acked message (not its own), every
    read is answered and, with receipts, every message has all its readers."""

    def settled() -> bool:
        for group in active:
            conv = run.convs[group.key]
            devices = run.devices_of(group)
            acked = sum(len(c.acked.get(conv, ())) for c in devices)
            for c in devices:
                if not c.stalled and \
                        len(c.delivered.get(conv, ())) < acked - len(c.acked.get(conv, ())):
                    return False
                if c.reading:
                    return False
                if phase.receipt and phase.read and c.receipts_complete < len(c.receipt_seqs):
                    return False
        return True

    return settled


async def _announce_rounds(run: Run, active: list[Group], rate: float, t0: int, start: int,
                           end: int, rounds: list[list[int]]) -> None:
    """One announcement at a time: each waits until every device has it (bounded), then
    the next goes, at most `rate` (≤ ANNOUNCE_MAX_RATE) per second. Rounds sent inside the
    window are recorded as [first-delivery ns, all-delivered ns] after the send."""
    (group,) = active
    admin = run.first(group.owner)
    conv = run.convs[group.key]
    receivers = [c for c in run.devices_of(group) if c is not admin]
    tracker = Tracker(len(receivers))
    for c in receivers:
        c.tracker = tracker
    gap_ns = int(1e9 / min(rate or ANNOUNCE_MAX_RATE, ANNOUNCE_MAX_RATE))
    await sleep_until_ns(t0)
    k = 0
    try:
        while k < MAX_ROUNDS and now_ns() < end:
            sent = now_ns()
            acked_before = len(admin.acked.get(conv, ()))
            admin.send_one(sent)
            k += 1
            with trio.move_on_after(ROUND_TIMEOUT_S) as scope:
                while len(admin.acked.get(conv, ())) == acked_before:
                    await trio.sleep(0.001)
                seq = admin.acked[conv][-1]
                if receivers:
                    await tracker.complete[seq].wait()
            if scope.cancelled_caught:
                run.worker.recorder.extra["round_timeouts"] = \
                    run.worker.recorder.extra.get("round_timeouts", 0) + 1
                break
            if sent >= start:
                got = tracker.arrivals.get(seq, [0, sent, sent])
                rounds.append([got[1] - sent, got[2] - sent])
            await sleep_until_ns(sent + gap_ns)
    finally:
        for c in receivers:
            c.tracker = None


# ----- the coordinator side -----

Prepare = Callable[[Any], Awaitable[Any]]


async def coordinate(coordinator: Any, phases: list[Phase],
                     prepare: Prepare | None = None) -> dict[str, Any]:
    options = coordinator.options
    start_reply = await prepare(coordinator) if prepare is not None else None
    await coordinator.gather("start")
    await coordinator.release(start_reply)
    ready = await coordinator.gather("ready")
    await coordinator.release(None)
    figures: dict[str, Any] = {"phases": {}, "connect_failures":
                               sum(r["connect_failures"] for r in ready)}
    s0 = s1 = {}
    for phase in phases:
        await coordinator.gather(f"{phase.name}:go")
        t0 = now_ns() + START_AHEAD_NS
        start = t0 + int(options.warmup_s * 1e9)
        end = start + int(options.duration_s * 1e9)
        await coordinator.release({"t0": t0})
        before = await coordinator.stats()
        polled: list[dict[str, Any]] = []
        async with trio.open_nursery() as nursery:
            if phase.poll:
                nursery.start_soon(_poll, coordinator, t0, polled)
            await sleep_until_ns(start)
            s0 = await coordinator.stats()
            await sleep_until_ns(end)
            s1 = await coordinator.stats()
            payloads = await coordinator.gather(f"{phase.name}:done")
            after = await coordinator.stats()
            nursery.cancel_scope.cancel()
        await coordinator.release(None)
        figures["phases"][phase.name] = phase_figures(
            options, phase, s0, s1, before, after, payloads, polled, t0)
    await coordinator.gather("done")
    await coordinator.release(None)
    return {"stats_start": s0, "stats_end": s1, "window_s": options.duration_s,
            "figures": figures}


async def _poll(coordinator: Any, t0: int, out: list[dict[str, Any]]) -> None:
    """Sample stats every STATS_POLL_S from t0 on (bounded by the caller's cancel)."""
    await sleep_until_ns(t0)
    while True:
        stats = await coordinator.stats()
        out.append({"t_s": round((now_ns() - t0) / 1e9, 3),
                    "slow_consumer_closes": stats.get("slow_consumer_closes", 0),
                    "buffered_bytes_max": stats.get("buffered_bytes_max", 0),
                    "rss_bytes": stats.get("rss_bytes", 0)})
        await trio.sleep(STATS_POLL_S)


def phase_figures(options: Any, phase: Phase, s0: dict[str, Any], s1: dict[str, Any],
                  before: dict[str, Any], after: dict[str, Any], payloads: list[dict[str, Any]],
                  polled: list[dict[str, Any]], t0: int) -> dict[str, Any]:
    window = options.duration_s

    def total(key: str) -> int:
        return sum(p[key] for p in payloads)

    e2e = percentiles(merge(p["e2e"] for p in payloads))
    ack = percentiles(merge(p["ack"] for p in payloads))
    server = server_figures(s0, s1, window)
    out: dict[str, Any] = {
        "senders": total("senders"),
        "offered_per_s": options.rate,
        "sent_per_s": round(total("win_sent") / window, 1),
        "acked_per_s": round(total("win_acked") / window, 1),
        "delivered_per_s": round(total("win_delivered") / window, 1),
        "latency_ms": {"ack": ack, "e2e": e2e},
        "server": server,
        "drained": all(p["drained"] for p in payloads),
        "system_msgs": total("system_msgs"),
        "silent_msgs": total("silent_msgs"),
        "silent_mismatch": total("silent_mismatch"),
        "reacts_sent": total("reacts_sent"),  # issue 20's mix
        "reaction_frames": total("reaction_frames"),
        # from the phase's t0 to the end of its drain
        "slow_consumer_closes": after.get("slow_consumer_closes", 0)
        - before.get("slow_consumer_closes", 0),
        "rss_bytes_before": before.get("rss_bytes"),
        "rss_bytes_after": after.get("rss_bytes"),
        "rss_growth_bytes": (after.get("rss_bytes") or 0) - (before.get("rss_bytes") or 0),
    }
    if phase.read or phase.receipt:
        out.update(_read_figures(total, window, server.get("cpu_seconds") or 0.0))
    if any(p.get("during") for p in payloads):
        out["during"] = [p["during"] for p in payloads if p.get("during")]
    if phase.rounds:
        rounds = [r for p in payloads for r in p["rounds"]]
        out["rounds"] = len(rounds)
        out["first_delivery_ms"] = percentiles([r[0] // 1000 for r in rounds])
        out["time_to_all_ms"] = percentiles([r[1] // 1000 for r in rounds])
    if polled:
        out["polled"] = _polled_figures(polled, before.get("slow_consumer_closes", 0))
    return out


def _read_figures(total: Callable[[str], int], window: float,
                  cpu: float) -> dict[str, Any]:
    """The reads and receipts of a phase that reads: counts summed over the workers."""
    messages = total("receipt_messages")
    out: dict[str, Any] = {}
    out["reads"] = {
        "sent": total("reads_sent"), "answered": total("reads_answered"),
        "refused": total("reads_refused"),
        "per_s": round(total("win_reads") / window, 1),
        "cpu_us_per_read": round(cpu / total("win_reads") * 1e6, 2)
        if total("win_reads") else None,
        # receipt-requested messages the answered reads covered (= reads with one
        # `read` per message; more with --read-every)
        "messages_read": total("msgs_read"),
        "messages_per_s": round(total("win_msgs_read") / window, 1),
        "cpu_us_per_message_read": round(cpu / total("win_msgs_read") * 1e6, 2)
        if total("win_msgs_read") else None,
    }
    out["receipts"] = {
        "messages": messages, "frames": total("receipt_frames"),
        "frames_per_message": round(total("receipt_frames") / messages, 2)
        if messages else None,
        "readers_recorded": total("receipt_readers"),
        "messages_fully_read": total("receipts_complete"),
        "duplicate_readers": total("receipt_duplicates"),
    }
    return out


def _polled_figures(polled: list[dict[str, Any]], base: int) -> dict[str, Any]:
    """What the stats samples of a polled phase show: when slow consumers were closed."""
    closes: list[tuple[float, int]] = []
    for p in polled:  # (seconds after t0, closes so far) at each increase
        n = p["slow_consumer_closes"] - base
        if n > (closes[-1][1] if closes else 0):
            closes.append((p["t_s"], n))
    return {
        "closes_at_s": closes,
        "buffered_bytes_max": max(p["buffered_bytes_max"] for p in polled),
        "rss_bytes_max": max(p["rss_bytes"] for p in polled),
        "samples": len(polled),
    }


def ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
        and b else None
