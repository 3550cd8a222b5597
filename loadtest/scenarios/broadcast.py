"""`broadcast`: issue 7 — a mass message to C customers while a group chats.

One group of M employees (`--members`, default 100) chatting at the offered
rate R, one more employee (`<run_id>-u<M>`, the broadcaster) with C
customers (`--consumers`, accepted external contacts), and the first half
of the customers (C // 2) online. Set-up, by the coordinator before the
workers connect: it provisions the consumers (`user.add`), connects the
broadcaster once and sends C `contact.request`s, and each customer connects
briefly, accepts (`contact.accept`) and leaves. The server must allow it:
`[bridge] contacts_per_employee` and `contact_requests_per_day` ≥ C and a
per-connection request rate that lets C requests through in reasonable time
(`loadtest/broadcast.toml`; the measured path uses neither).

Two phases on the same connections, each a timed window at rate R:
`baseline` (the group only), then `broadcast`: one second into its window
the broadcaster sends one `broadcast.customers` to all its customers.
Reported (`figures`): from that request to `broadcast.done`
(`done_after_s`) and to the last online customer's delivery
(`last_online_after_s`, every online device checked to get it exactly
once: `online_missing`, `online_duplicates`), and the group's e2e p99 in
each window with `p99_ratio` = broadcast / baseline (issue 7: the
broadcast within 5 s on one core, p99 within 2×). The group is checked for
loss, duplicates and order as in `group`. With `--workers`, the group and
the broadcaster stay in worker 0 and the online customers are dealt out.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import trio

from corpchat.protocol import BroadcastCustomers, ContactAccept, ContactRequest

from ..recorder import Recorder
from ..runner import provision_consumers
from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan, now_ns, sleep_until_ns
from ..wsclient import ReadHub
from . import groupkit
from .groupkit import GroupClient, Phase, Run

NAME = "broadcast"
HELP = ("an employee's broadcast.customers to --consumers C customers (half online) while "
        "a --members group chats at rate R")
PHASES = [Phase("baseline"), Phase("broadcast")]
TAG = "BCAST:"  # the broadcast's text starts with it; the group's never does
AFTER_START_NS = 1_000_000_000  # the broadcast goes one second into the window
DONE_TIMEOUT_S = 120.0  # broadcast.done must come within this
POLL_S = 0.1


class Customer(GroupClient):
    """A device that notes when the broadcast's text reached it (and how often)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.broadcasts = 0
        self.broadcast_ns = 0

    def _on_msg(self, conv: int, seq: int, pos: int, text: str) -> bool:
        if text.startswith(TAG) and pos > self.pos:
            self.broadcasts += 1
            self.broadcast_ns = self.broadcast_ns or now_ns()
        return super()._on_msg(conv, seq, pos, text)


def members(options: Any) -> int:
    return options.members or 100


def layout(options: Any) -> list[groupkit.Group]:
    return groupkit.plain_groups(options, count=1, size=members(options))


def broadcaster(options: Any) -> str:
    return groupkit.handle(options.run_id, members(options))


def customers(options: Any) -> list[str]:
    return [groupkit.consumer_handle(options.run_id, i) for i in range(options.consumers)]


def online(options: Any) -> list[str]:
    return customers(options)[:options.consumers // 2]


def users(options: Any) -> int:
    """The group and the broadcaster; the coordinator adds the consumers itself."""
    return members(options) + 1


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    specs = groupkit.devices(layout(options), dict(accounts))
    tokens = dict(accounts)
    for h in [broadcaster(options), *online(options)]:  # customers' tokens come at start
        specs.append(ClientSpec(index=len(specs), handle=h, token=tokens.get(h, ""),
                                device=f"{h}/0"))
    return specs


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    groups = layout(options)
    staff = set(groups[0].members) | {broadcaster(options)}
    mine = [s for s in specs if s.handle in staff]
    others = [s for s in specs if s.handle not in staff]
    totals = {p.name: p.senders(groups) for p in PHASES}
    plans: list[WorkerPlan] = []
    for w in range(workers):
        share = (mine if w == 0 else []) + others[w::workers]
        extra = {"groups": [asdict(g) for g in groups] if w == 0 else [],
                 "phase_senders": totals}
        if share:
            plans.append(WorkerPlan(len(plans), options, tuple(share), extra))
    return plans


async def _during(run: Run, phase: Phase, start: int, end: int) -> dict[str, Any] | None:
    if phase.name != "broadcast":
        return None
    options = run.worker.options
    out: dict[str, Any] = {}
    sender = broadcaster(options)
    if sender in run.clients:
        await sleep_until_ns(start + AFTER_START_NS)
        out["t_req_ns"] = t_req = now_ns()
        reply = await run.first(sender).request(lambda rid: BroadcastCustomers(
            id=rid, client_msg_id=f"b{t_req}"[:32], text=f"{TAG}{t_req}:" + "x" * 60),
            timeout_s=DONE_TIMEOUT_S)
        out["t_done_ns"] = now_ns()
        out["sent"] = reply["sent"]
        out["skipped"] = sum(s["count"] for s in reply["skipped"])
    mine = [c for h in online(options) for c in run.clients.get(h, ())
            if isinstance(c, Customer)]  # every device of this scenario is one
    with trio.move_on_after(DONE_TIMEOUT_S + options.drain_s):
        while sum(c.broadcasts > 0 for c in mine) < len(mine):
            await trio.sleep(POLL_S)
    got = [c.broadcast_ns for c in mine if c.broadcasts]
    out.update(online=len(mine), received=len(got),
               duplicates=sum(max(0, c.broadcasts - 1) for c in mine),
               first_ns=min(got, default=None), last_ns=max(got, default=None))
    return out


async def drive(worker: Worker) -> None:
    await groupkit.drive(worker, PHASES, during=_during, client_class=Customer)


# ----- the coordinator's set-up -----


async def _prepare(coordinator: Any) -> dict[str, Any]:
    """Consumers provisioned, each the broadcaster's accepted customer; their tokens."""
    options = coordinator.options
    started = now_ns()
    tokens = await provision_consumers(coordinator.admin, customers(options))
    provisioned = now_ns()
    employee = broadcaster(options)
    issued = await coordinator.admin("token.issue", {"user": employee})
    hub, rec = ReadHub(), Recorder()
    limiter = trio.CapacityLimiter(groupkit.SETUP_CONCURRENCY)

    def client(i: int, h: str, token: str) -> GroupClient:
        return GroupClient(ClientSpec(index=i, handle=h, token=token, device=f"{h}/setup"),
                           options.url, rec, options.size, hub)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hub.run)
        boss = client(0, employee, issued["token"])
        with trio.fail_after(groupkit.REQUEST_TIMEOUT_S):
            await boss.connect(nursery)

        async def link(i: int, h: str) -> None:
            async with limiter:
                await boss.request(lambda rid: ContactRequest(id=rid, to=h))
                c = client(i, h, tokens[h])
                try:
                    with trio.fail_after(groupkit.REQUEST_TIMEOUT_S):
                        await c.connect(nursery)
                    await c.request(lambda rid: ContactAccept(id=rid, employee=employee))
                finally:
                    await c.close()

        async with trio.open_nursery() as links:
            for i, h in enumerate(customers(options), start=1):
                links.start_soon(link, i, h)
        await boss.close()
        nursery.cancel_scope.cancel()
    coordinator.setup_s = {"provision_s": round((provisioned - started) / 1e9, 1),
                           "contacts_s": round((now_ns() - provisioned) / 1e9, 1)}
    return {"tokens": tokens}


async def coordinate(coordinator: Any) -> dict[str, Any]:
    outcome = await groupkit.coordinate(coordinator, PHASES, prepare=_prepare)
    options = coordinator.options
    figures = outcome["figures"]
    base, cast = figures["phases"]["baseline"], figures["phases"]["broadcast"]
    during = cast.get("during", [])
    t_req = next((d["t_req_ns"] for d in during if "t_req_ns" in d), None)
    t_done = next((d["t_done_ns"] for d in during if "t_done_ns" in d), None)
    lasts = [d["last_ns"] for d in during if d.get("last_ns")]
    firsts = [d["first_ns"] for d in during if d.get("first_ns")]
    on, got = sum(d["online"] for d in during), sum(d["received"] for d in during)

    def after(t: int | None) -> float | None:
        return round((t - t_req) / 1e9, 3) if t is not None and t_req is not None else None

    figures.update(
        members=members(options), customers=options.consumers, online=on,
        sent=next((d["sent"] for d in during if "sent" in d), None),
        skipped=next((d["skipped"] for d in during if "skipped" in d), None),
        done_after_s=after(t_done),
        first_online_after_s=after(min(firsts, default=None)),
        last_online_after_s=after(max(lasts, default=None)),
        online_received=got, online_missing=on - got,
        online_duplicates=sum(d["duplicates"] for d in during),
        p99_baseline_ms=base["latency_ms"]["e2e"]["p99"],
        p99_broadcast_ms=cast["latency_ms"]["e2e"]["p99"],
        p99_ratio=groupkit.ratio(cast["latency_ms"]["e2e"]["p99"],
                                 base["latency_ms"]["e2e"]["p99"]),
        cpu_seconds_baseline=base["server"].get("cpu_seconds"),
        cpu_seconds_broadcast=cast["server"].get("cpu_seconds"),
        **getattr(coordinator, "setup_s", {}))
    return outcome
