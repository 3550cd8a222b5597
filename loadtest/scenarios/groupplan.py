"""The layout of the group scenarios: the groups, their members' devices, the phases
and how whole groups are dealt to workers (split from groupkit.py)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from ..simclient import ClientSpec
from ..worker import WorkerPlan

if TYPE_CHECKING:
    from .groupclient import GroupClient

# ----- layout -----


@dataclass(frozen=True, slots=True)
class Group:
    key: int
    name: str
    kind: str  # "group" (employees), "external" (with consumers), "announce" (notice board)
    owner: str  # creates the group (announce: the corp admin who posts)
    members: tuple[str, ...]  # every member, the owner first
    two_device: tuple[str, ...] = ()
    slow: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    sends: str = "all"  # "all" members send, or only the "owner"
    resting: tuple[str, ...] = ()  # on a break during the phases with `resting` set

    @property
    def senders(self) -> tuple[str, ...]:
        if self.sends == "owner":
            return (self.owner,)
        slow = set(self.slow)
        return tuple(h for h in self.members if h not in slow)


def handle(run_id: str, i: int) -> str:
    return f"{run_id}-u{i}"


def consumer_handle(run_id: str, i: int) -> str:
    return f"{run_id}-c{i}"


def members_per_group(options: Any) -> int:
    return max(2, options.members or options.clients // options.groups)


def plain_groups(options: Any, *, two_device_fraction: float = 0.0, slow: int = 0,
                 kind: str = "group", first_user: int = 0, count: int | None = None,
                 size: int | None = None) -> list[Group]:
    """`count` groups of `size` employees `<run_id>-u<i>` from `first_user` on."""
    run_id = options.run_id
    size = size or members_per_group(options)
    count = count or options.groups
    rng = random.Random(options.seed)
    out = []
    for g in range(count):
        base = first_user + g * size
        members = tuple(handle(run_id, base + i) for i in range(size))
        doubles = round(two_device_fraction * size)
        two = tuple(sorted(rng.sample(members, doubles))) if doubles else ()
        slow_ones = members[size - slow:] if slow else ()  # never the owner
        out.append(Group(g, f"{run_id}-{kind}{g}", kind, members[0], members, two, slow_ones))
    return out


def with_resting(groups: list[Group], fraction: float) -> list[Group]:
    """The last round(fraction × members) of each group (the owner last of all) rest in
    the phases marked `resting`."""
    out = []
    for g in groups:
        k = round(fraction * len(g.members))
        out.append(replace(g, resting=g.members[len(g.members) - k:] if k else ()))
    return out


def devices(groups: Iterable[Group], tokens: dict[str, str]) -> list[ClientSpec]:
    """Every member's devices: `<handle>/0`, and `<handle>/1` for two-device members."""
    specs: list[ClientSpec] = []
    seen: set[str] = set()
    for group in groups:
        two = set(group.two_device)
        for h in group.members:
            if h in seen:
                continue
            seen.add(h)
            for d in range(2 if h in two else 1):
                specs.append(ClientSpec(index=len(specs), handle=h, token=tokens.get(h, ""),
                                        device=f"{h}/{d}"))
    return specs


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    kinds: tuple[str, ...] = ("group",)  # the kinds of groups that send in this phase
    receipt: bool = False  # sends ask for receipts
    read: bool = False  # members read every receipt-requested message
    stall: bool = False  # the slow members stop reading at the phase's start
    rounds: bool = False  # announce: one at a time, each waits until everyone has it
    poll: bool = False  # the coordinator samples stats every STATS_POLL_S
    resting: bool = False  # the groups' resting members are on a break (quiet.break)

    def senders(self, groups: Iterable[Group]) -> int:
        return sum(len(g.senders) for g in groups if g.kind in self.kinds)


def split_groups(options: Any, specs: list[ClientSpec], workers: int, groups: list[Group],
                 phases: list[Phase]) -> list[WorkerPlan]:
    """Whole groups dealt round-robin to workers, with their devices."""
    by_handle: dict[str, list[ClientSpec]] = defaultdict(list)
    for spec in specs:
        by_handle[spec.handle].append(spec)
    totals = {p.name: p.senders(groups) for p in phases}
    plans: list[WorkerPlan] = []
    for w in range(workers):
        mine = groups[w::workers]
        if not mine:
            continue
        share: list[ClientSpec] = []
        seen: set[str] = set()
        for group in mine:
            for h in group.members:
                if h not in seen:
                    seen.add(h)
                    share.extend(by_handle[h])
        plans.append(WorkerPlan(len(plans), options, tuple(share),
                                {"groups": [asdict(g) for g in mine], "phase_senders": totals}))
    return plans


def everyday_roles(options: Any, group: Group, devices: list[GroupClient]) -> None:
    """Issue 20's mix: who mentions whom, how often sends reply, who reacts to what."""
    members = group.members
    for c in devices:
        if c.spec.device.endswith("/1"):
            continue  # a second device neither sends nor reacts
        i = members.index(c.spec.handle)
        c.mention_every = round(1 / options.mention_fraction) if options.mention_fraction else 0
        c.reply_every = round(1 / options.reply_fraction) if options.reply_fraction else 0
        c.mention_handle = members[(i + 1) % len(members)]
        c.react_modulus = len(members) if options.reactions else 0
        c.react_slot = i
