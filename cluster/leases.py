"""Liveness and partition ownership as leases in two JetStream KV buckets.

Runs on the NATS thread's asyncio loop (cluster/loop.py). `corpchat_nodes`
holds one key per live node, put every `lease_ttl_s / 4`; the bucket's TTL
expires the key of a node that stopped. `corpchat_leases` holds one key per
partition, `p<N>`, naming its holder; it is taken with `create` (only when
absent) and kept with `update(last=revision)`, both compare-and-set on the
key's revision, and also expires with the bucket's TTL. Rendezvous hashing
over the live nodes (homes.py) says which partitions a node should hold; it
takes those that are free, renews what it holds and is still named for, and
releases (deletes) the rest, so that their new home takes them at once.
A node is ready when it holds everything it is named for (docs/cluster.md §2).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

from .homes import wanted_by
from .log import WRONG_LAST_SEQUENCE
from .settings import ClusterSettings

log = logging.getLogger("corpchat.cluster")

NODES_BUCKET = "corpchat_nodes"
LEASES_BUCKET = "corpchat_leases"


def lease_key(partition: int) -> str:
    return f"p{partition}"


@dataclass
class LeaseState:
    """What this node knows, read by the trio side (plain values: no locking needed
    for a reader that only wants a recent picture)."""

    live: frozenset[str] = frozenset()
    held: dict[int, int] = field(default_factory=dict)  # partition -> lease revision
    wanted: frozenset[int] = frozenset()
    draining: bool = False
    last_step_ms: int = 0
    problem: str = "starting"

    @property
    def ready(self) -> bool:
        return not self.draining and not self.problem and self.wanted <= self.held.keys()


class Leases:
    """One node's heartbeat and partition leases; `step()` once per `lease_ttl_s / 4`."""

    def __init__(self, nodes: KeyValue, leases: KeyValue, settings: ClusterSettings,
                 url: str = "") -> None:
        self.nodes, self.leases, self.settings = nodes, leases, settings
        self.url = url  # how clients reach this node, shown by `admin cluster status`
        self.state = LeaseState()
        self.started_ms = int(time.time() * 1000)
        self._stepping = asyncio.Lock()
        self.epoch = 0  # bumped whenever the partitions this node is named for change

    @property
    def me(self) -> str:
        return self.settings.node

    async def beat(self) -> None:
        value = {"node": self.me, "url": self.url, "started_ms": self.started_ms,
                 "beat_ms": int(time.time() * 1000), "draining": self.state.draining}
        await self.nodes.put(self.me, json.dumps(value).encode())

    async def live_nodes(self) -> frozenset[str]:
        """The nodes whose key is present and that are not draining."""
        try:
            names = await self.nodes.keys()
        except NoKeysError:
            return frozenset()
        entries = await asyncio.gather(*(self.nodes.get(n) for n in names),
                                       return_exceptions=True)
        live = set()
        for name, entry in zip(names, entries, strict=True):
            if isinstance(entry, BaseException) or entry.value is None:
                continue  # expired or deleted between the listing and the read
            if not json.loads(entry.value).get("draining"):
                live.add(name)
        return frozenset(live)

    async def step(self) -> None:
        """Beat, read the live nodes, and bring the held leases to what the hash says.
        One step at a time (the loop's and a drain's), each from the last one's leases."""
        async with self._stepping:
            await self._step()

    async def _step(self) -> None:
        await self.beat()
        live = await self.live_nodes()
        wanted = frozenset(wanted_by(self.me, self.settings.partitions, live)) \
            if not self.state.draining else frozenset()
        held = dict(self.state.held)
        await asyncio.gather(*(self._renew(p, held) for p in list(held) if p in wanted),
                             *(self._release(p, held) for p in list(held) if p not in wanted),
                             *(self._take(p, held) for p in wanted if p not in held))
        if wanted != self.state.wanted:
            self.epoch += 1
        self.state.live, self.state.wanted, self.state.held = live, wanted, held
        self.state.last_step_ms = int(time.time() * 1000)
        self.state.problem = ""

    def _value(self) -> bytes:
        return json.dumps({"node": self.me, "since_ms": int(time.time() * 1000)}).encode()

    async def _renew(self, partition: int, held: dict[int, int]) -> None:
        try:
            held[partition] = await self.leases.update(lease_key(partition), self._value(),
                                                       last=held[partition])
        except KeyWrongLastSequenceError:  # expired and taken, or our last answer was lost
            if not await self._adopt(partition, held):
                log.warning("lease of partition %d lost", partition)
                del held[partition]

    async def _release(self, partition: int, held: dict[int, int]) -> None:
        for _ in range(2):
            try:
                await self.leases.delete(lease_key(partition), last=held[partition])
                break
            except (KeyWrongLastSequenceError, APIError) as exc:
                if isinstance(exc, APIError) and exc.err_code not in WRONG_LAST_SEQUENCE:
                    raise
                if not await self._adopt(partition, held):
                    break  # already someone else's (or gone)
        held.pop(partition, None)

    async def _take(self, partition: int, held: dict[int, int]) -> None:
        try:
            held[partition] = await self.leases.create(lease_key(partition), self._value())
        except KeyWrongLastSequenceError:  # still its former home's until released or expired
            await self._adopt(partition, held)

    async def _adopt(self, partition: int, held: dict[int, int]) -> bool:
        """Keep a lease the bucket says is ours (a write whose answer was lost)."""
        try:
            entry = await self.leases.get(lease_key(partition))
        except KeyNotFoundError:
            return False
        if entry.value is None or json.loads(entry.value).get("node") != self.me:
            return False
        assert entry.revision is not None
        held[partition] = entry.revision
        return True

    async def drain(self, timeout_s: float) -> dict[str, int]:
        """Say this node is draining, so the hash names the other live nodes, give
        every lease up, and wait (up to timeout_s) until the others hold them all:
        homes move before the node exits (`admin drain`)."""
        self.state.draining = True
        held = len(self.state.held)
        await self.step()  # beats "draining" and releases everything (wanted is empty)
        released = held - len(self.state.held)
        deadline = time.monotonic() + timeout_s
        taken = 0
        while time.monotonic() < deadline:
            taken = await self._held_by_others()
            if taken == self.settings.partitions or not await self.live_nodes():
                break
            await asyncio.sleep(0.1)
        return {"leases_released": released, "leases_taken_over": taken}

    async def _held_by_others(self) -> int:
        entries = await asyncio.gather(
            *(self.leases.get(lease_key(p)) for p in range(self.settings.partitions)),
            return_exceptions=True)
        return sum(1 for e in entries if not isinstance(e, BaseException)
                   and e.value is not None and json.loads(e.value).get("node") != self.me)

    async def release_all(self) -> None:
        """At a clean stop: free every lease and the node key, so homes move at once."""
        async with self._stepping:
            held = dict(self.state.held)
            await asyncio.gather(*(self._release(p, held) for p in list(held)),
                                 return_exceptions=True)
            self.state.held = held
        try:
            await self.nodes.delete(self.me)
        except KeyNotFoundError:
            pass

    async def run(self) -> None:
        """Step forever; a failed step (NATS unreachable) makes the node not ready."""
        interval = self.settings.lease_ttl_s / 4
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, a timeout: not ready until a step works
                self.state.problem = f"lease step failed: {exc.__class__.__name__}: {exc}"
                log.warning("%s", self.state.problem)
            await asyncio.sleep(interval)
