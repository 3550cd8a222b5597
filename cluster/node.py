"""One corpchat node of a cluster: the NATS connection, leases and the log.

Built by the composition root (server/app.py) only when `[cluster] urls` is
set. Everything NATS runs on the AsyncioThread (loop.py); the trio side reads
`ready` and `reason`, awaits `status()`, and the writer's commit hook
(`publish_batch`) hands batches over from the writer thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError

from corpchat.store import Message, Store
from corpchat.store.replica import applied_seq

from .batches import log_batches, stored_range
from .follower import Apply, Follower
from .homes import home_of, partition_of
from .leases import LEASES_BUCKET, NODES_BUCKET, Leases
from .log import LOG_STREAM, ConversationLog, stream_config
from .loop import AsyncioThread
from .publisher import Publisher
from .settings import ClusterSettings
from .status import gather

log = logging.getLogger("corpchat.cluster")

DIRECTORY_PARTITION = 0  # its home opens new direct conversations (docs/cluster.md §5)
# A forwarded request (payload, respond): called on the NATS thread; `respond` may be
# called from any thread, once.
Serve = Callable[[bytes, Callable[[bytes], None]], None]


def rpc_subject(node: str) -> str:
    return f"corpchat.rpc.{node}"


class ClusterNode:
    def __init__(self, settings: ClusterSettings, store: Store | None = None,
                 url: str = "") -> None:
        self.settings = settings
        self.store = store  # this node's LMDB (None: a node that never publishes)
        self.url = url  # how clients reach this node (its WebSocket listener)
        self.thread = AsyncioThread()
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.leases: Leases | None = None
        self.log: ConversationLog | None = None
        self.publisher: Publisher | None = None
        self._log_ready = threading.Event()
        self._main: concurrent.futures.Future[None] | None = None
        self.problem = "connecting to NATS"
        # Set by the server before start(): how a logged batch is applied (§4) and a
        # forwarded request served (§5); None: this node does neither.
        self.apply: Apply | None = None
        self.serve: Serve | None = None
        self.follower: Follower | None = None

    # ----- the trio side -----

    def start(self) -> None:
        self.thread.start()
        self._main = self.thread.submit(self._run())

    @property
    def ready(self) -> bool:
        return self.leases is not None and self.nc is not None and self.nc.is_connected \
            and self.leases.state.ready

    @property
    def reason(self) -> str:
        """Why the node is not ready ("" when it is)."""
        if self.ready:
            return ""
        if self.leases is None:
            return self.problem
        if self.nc is None or not self.nc.is_connected:
            return "not connected to NATS"
        state = self.leases.state
        if state.problem:
            return state.problem
        missing = len(state.wanted - state.held.keys())
        return f"waiting for {missing} of {len(state.wanted)} partition leases"

    async def status(self) -> dict[str, Any]:
        """`admin cluster status` (docs/operations.md)."""
        return await self.thread.call(gather(self))

    def after_commit(self, committed: list[tuple[Message, bool]],
                     done: Callable[[set[int]], None]) -> None:
        """The writer's commit hook (writer thread): publish the batch's messages, one
        log entry per conversation, and call `done` (on the NATS thread) with the
        conversations the log did not take once every PubAck is in."""
        batches = log_batches(self.settings.node, committed)
        if batches and self.publisher is None:  # just started: writes wait for the log
            self._log_ready.wait(self.settings.publish_timeout_s * 6)  # as long as a retry
        if not batches:
            done(set())
        elif self.publisher is None:  # still no log: nothing can be durable
            done({b.conv for b in batches})
        else:
            self.thread.loop.call_soon_threadsafe(self.publisher.submit, batches, done)

    async def drain(self) -> dict[str, Any]:
        """Move this node's homes to the others before it exits (docs/cluster.md §7).
        Never stops the drain: with NATS unreachable the leases expire instead."""
        if self.leases is None:
            return {"leases_released": 0, "leases_taken_over": 0}
        leases = self.leases
        try:
            return await self.thread.call(leases.drain(self.settings.lease_ttl_s * 2))
        except Exception as exc:
            log.warning("drain: homes not moved (%s); its leases expire", exc)
            return {"leases_released": 0, "leases_taken_over": 0,
                    "leases_problem": f"{exc.__class__.__name__}: {exc}"}

    def _unlogged(self, conv: int, after: int, upto: int) -> list[Message]:
        """This node's stored messages after..upto (on the NATS thread; like a backup,
        under the resize lock, so the writer never grows the map during the read)."""
        if self.store is None:
            return []
        with self.store.resize_lock:
            return self.store.read(stored_range, conv=conv, after=after, upto=upto)

    def stop(self) -> None:
        """Release the leases (homes move at once), close NATS, end the thread.
        Blocking: the server calls it from a worker thread."""
        if not self.thread.running:  # the server failed before start(): nothing to close
            return
        try:
            self.thread.submit(self._close()).result(
                timeout=self.settings.lease_ttl_s + 2 * self.settings.publish_timeout_s)
        except (concurrent.futures.TimeoutError, Exception) as exc:  # NATS gone: leases expire
            log.warning("cluster stop: %s", exc)
        self.thread.stop()

    @property
    def name(self) -> str:
        return self.settings.node

    def home_of(self, conv: int) -> str | None:
        """The node the hash names home of `conv` over the live nodes (None: none known)."""
        return self._home(partition_of(conv, self.settings.partitions))

    def directory(self) -> str | None:
        """The node that opens new direct conversations: the home of partition 0."""
        return self._home(DIRECTORY_PARTITION)

    def _home(self, partition: int) -> str | None:
        live = self.leases.state.live if self.leases is not None else frozenset()
        return home_of(partition, live) if live else None

    def homes_here(self, conv: int) -> bool:
        """May this node give `conv` to a new direct conversation (it is its home)?"""
        return self.home_of(conv) in (self.name, None)

    @property
    def home_epoch(self) -> int:
        """Changes whenever the partitions this node is named home of change."""
        return self.leases.epoch if self.leases is not None else 0

    def forward(self, node: str, payload: bytes,
                timeout_s: float) -> concurrent.futures.Future[bytes]:
        """A request to another node's `serve` (NATS request/reply), sent in the order
        of the calls (from the trio thread); its answer (loop.wait awaits it)."""
        return self.thread.submit(self._request(node, payload, timeout_s))

    async def log_head(self, conv: int) -> int:
        """The log's last stream sequence of `conv` (through the stream's leader), once
        this node is about to write it as its home: what it knew of the log before
        (a former stint as home) is forgotten, the view it applied is the truth."""
        return await self.thread.call(self._head(conv))

    # ----- the NATS thread -----

    async def _request(self, node: str, payload: bytes, timeout_s: float) -> bytes:
        assert self.nc is not None
        msg = await self.nc.request(rpc_subject(node), payload, timeout=timeout_s)
        return msg.data

    async def _head(self, conv: int) -> int:
        waited = 0.0
        while self.publisher is None or self.log is None:  # just started: as writes wait
            if waited > self.settings.publish_timeout_s * 6:
                raise RuntimeError("the log is not ready")
            await asyncio.sleep(0.1)
            waited += 0.1
        self.publisher.logged.pop(conv, None)
        self.log.last.pop(conv, None)
        stream_seq, _ = await self.publisher.read_head(conv)  # retried as a publish is
        return stream_seq

    async def _serve_requests(self) -> None:
        assert self.nc is not None
        serve, loop = self.serve, asyncio.get_running_loop()
        if serve is None:
            return

        async def on_request(msg) -> None:  # noqa: ANN001 - a nats Msg
            def respond(data: bytes) -> None:
                loop.call_soon_threadsafe(asyncio.ensure_future, msg.respond(data))
            serve(msg.data, respond)

        await self.nc.subscribe(rpc_subject(self.name), cb=on_request)

    async def _follow(self) -> None:
        if self.apply is None or self.store is None:
            return
        assert self.js is not None
        self.follower = Follower(self.js, self.apply)
        with self.store.resize_lock:  # read from this thread: as _unlogged does
            after = self.store.read(applied_seq)
        await self.follower.start(after)

    async def _run(self) -> None:
        await self._connect()
        await self._prepare()
        await self._serve_requests()
        await self._follow()
        assert self.leases is not None
        await self.leases.run()

    async def _connect(self) -> None:
        while True:
            try:
                self.nc = await nats.connect(
                    servers=list(self.settings.urls), name=f"corpchat-{self.settings.node}",
                    max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
                    allow_reconnect=True, error_cb=self._error, disconnected_cb=self._lost,
                    reconnected_cb=self._back)
                self.js = self.nc.jetstream(timeout=self.settings.publish_timeout_s)
                return
            except Exception as exc:  # no server answers yet: keep trying, not ready
                self.problem = f"cannot reach NATS: {exc.__class__.__name__}: {exc}"
                log.warning("%s", self.problem)
                await asyncio.sleep(1.0)

    async def _prepare(self) -> None:
        """The buckets and the stream, created if missing (JetStream's meta leader
        may still be elected on a fresh cluster: retried until it answers)."""
        assert self.js is not None
        replicas = self.settings.replicas
        while True:
            try:
                nodes = await self._bucket(NODES_BUCKET, replicas)
                leases = await self._bucket(LEASES_BUCKET, replicas)
                await self._stream(replicas)
                break
            except Exception as exc:
                self.problem = f"JetStream not ready: {exc.__class__.__name__}: {exc}"
                log.warning("%s", self.problem)
                await asyncio.sleep(1.0)
        self.log = ConversationLog(self.js, self.settings)
        self.publisher = Publisher(self.log, self._unlogged, self.settings.node,
                                   give_up_s=self.settings.publish_timeout_s * 6)
        self._log_ready.set()
        self.leases = Leases(nodes, leases, self.settings, self.url)
        self.problem = ""
        log.info("node %s: connected to NATS, buckets and log stream ready", self.settings.node)

    async def _bucket(self, name: str, replicas: int):  # noqa: ANN202 - a KeyValue
        assert self.js is not None
        config = KeyValueConfig(bucket=name, history=1, ttl=self.settings.lease_ttl_s,
                                storage=StorageType.FILE, replicas=replicas)
        try:
            return await self.js.create_key_value(config)
        except BadRequestError:  # exists with another configuration: use it as it is
            return await self.js.key_value(name)

    async def _stream(self, replicas: int) -> None:
        assert self.js is not None
        config = stream_config(self.settings, replicas)
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            await self.js.update_stream(config)

    async def _close(self) -> None:
        if self._main is not None:
            self._main.cancel()
        if self.publisher is not None and self.publisher.tails:  # the last batches' PubAcks
            await asyncio.wait(list(self.publisher.tails.values()),
                               timeout=self.settings.publish_timeout_s)
        if self.leases is not None and self.nc is not None and self.nc.is_connected:
            try:  # bounded: with NATS gone the leases simply expire
                await asyncio.wait_for(self.leases.release_all(), self.settings.publish_timeout_s)
            except TimeoutError:
                log.warning("leases not released in time: they expire in %.0f s",
                            self.settings.lease_ttl_s)
        if self.nc is not None:
            await self.nc.close()

    async def _error(self, exc: Exception) -> None:
        if self.leases is None:  # nats-py keeps retrying the first connect: say why
            self.problem = f"cannot reach NATS: {exc.__class__.__name__}: {exc}"
        log.warning("NATS: %s", exc)

    async def _lost(self) -> None:
        log.warning("NATS connection lost; reconnecting")

    async def _back(self) -> None:
        log.info("NATS connection back (%s)", self.nc.connected_url if self.nc else "?")

    def uptime_ms(self) -> int:
        assert self.leases is not None
        return int(time.time() * 1000) - self.leases.started_ms


__all__ = ["LOG_STREAM", "ClusterNode"]
