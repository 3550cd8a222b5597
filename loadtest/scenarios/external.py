"""`external`: external groups (employees with their consumer customers) vs internal ones.

E external groups (`--groups`), each with P employees (`--employees`, default
5) and C consumers (`--consumers`, default 100, the server's cap). The
consumers are provisioned by the coordinator through the admin socket
(`user.add` {handle: <run_id>-c<i>, consumer: true}); each group's first
employee asks every consumer of its group to be an external contact
(`contact.request`), each consumer accepts (`contact.accept`), and the
employee then creates the group with the other employees and the consumers
(`group.create`: the bridge admits consumers only by an employee whose
contacts they are). For comparison the run also holds E internal groups of
P + C employees each.

Two phases in one invocation, every device online throughout, each a timed
window at the offered aggregate rate R with every member sending in turn:
`internal` (only the internal groups send), then `external` (only the
external groups). Reported: each phase's deliveries/s, latencies and server
CPU µs per delivery, and `figures.cpu_ratio` = external / internal (issue 6:
within 15 %). Every member of every group is checked for loss, duplicates
and order. Mind the server's daily quota of contact requests per employee
(100 by default): C is at most that.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import trio

from corpchat.protocol import ContactAccept, ContactRequest

from ..runner import provision_consumers
from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import groupkit
from .groupkit import Group, GroupClient, Phase

NAME = "external"
HELP = "E external groups (--employees + --consumers each) vs internal groups, same rate"
PHASES = [Phase("internal", kinds=("group",)), Phase("external", kinds=("external",))]


def layout(options: Any) -> list[Group]:
    run_id, e, p, c = options.run_id, options.groups, options.employees, options.consumers
    external = []
    for g in range(e):
        staff = tuple(groupkit.handle(run_id, g * p + i) for i in range(p))
        customers = tuple(groupkit.consumer_handle(run_id, g * c + i) for i in range(c))
        external.append(Group(g, f"{run_id}-ext{g}", "external", staff[0], staff + customers,
                              consumers=customers))
    internal = groupkit.plain_groups(options, first_user=e * p, count=e, size=p + c)
    return external + [replace(grp, key=e + grp.key) for grp in internal]


def users(options: Any) -> int:
    """The employees; the coordinator adds the consumers itself."""
    return options.groups * options.employees * 2 + options.groups * options.consumers


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return groupkit.devices(layout(options), dict(accounts))


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return groupkit.split_groups(options, specs, workers, layout(options), PHASES)


async def _contacts(worker: Worker, groups: list[Group],
                    clients: dict[str, list[GroupClient]]) -> None:
    """Each external group's owner and its consumers become external contacts."""
    limiter = trio.CapacityLimiter(groupkit.SETUP_CONCURRENCY)

    async def connect(owner: str, consumer: str) -> None:
        async with limiter:
            await clients[owner][0].request(lambda rid: ContactRequest(id=rid, to=consumer))
            await clients[consumer][0].request(
                lambda rid: ContactAccept(id=rid, employee=owner))

    async with trio.open_nursery() as nursery:
        for group in groups:
            for consumer in group.consumers:
                nursery.start_soon(connect, group.owner, consumer)


async def drive(worker: Worker) -> None:
    await groupkit.drive(worker, PHASES, setup=_contacts)


async def _consumers(coordinator: Any) -> dict[str, Any]:
    """Provision every external group's consumers; their tokens go to the workers."""
    handles = [h for g in layout(coordinator.options) for h in g.consumers]
    return {"tokens": await provision_consumers(coordinator.admin, handles)}


async def coordinate(coordinator: Any) -> dict[str, Any]:
    outcome = await groupkit.coordinate(coordinator, PHASES, prepare=_consumers)
    figures = outcome["figures"]
    internal, external = figures["phases"]["internal"], figures["phases"]["external"]
    options = coordinator.options
    figures.update(
        groups=options.groups, employees=options.employees, consumers=options.consumers,
        cpu_us_per_delivery_internal=internal["server"].get("cpu_us_per_delivery"),
        cpu_us_per_delivery_external=external["server"].get("cpu_us_per_delivery"),
        cpu_ratio=groupkit.ratio(external["server"].get("cpu_us_per_delivery"),
                                 internal["server"].get("cpu_us_per_delivery")),
        p99_internal_ms=internal["latency_ms"]["e2e"]["p99"],
        p99_external_ms=external["latency_ms"]["e2e"]["p99"])
    return outcome
