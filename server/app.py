"""The server process: store, writer, hub, listeners and admin socket.

Task tree: `serve` → the admin socket and the accept loop → one task per
connection (server/connection.py). The writer thread reports committed
batches through the trio token, so fan-out runs on the event loop.

Shutdown (SIGINT/SIGTERM, or `request_shutdown`) goes in order: stop
accepting; stop reading requests; let the writer commit everything already
submitted and the hub answer it; close every session with "going away";
give them `shutdown_timeout_s` to drain; close LMDB.

The App is the composition root: it builds every part, each given the
parts it uses, and hands each feature module (features/) its services
(services.py). In server/, only cli.py imports it; connections, the admin
socket and /metrics see it as `services.Running`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from corpchat.protocol.clock import Clock, SystemClock
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.search import IndexerProcess, IndexerSettings
from corpchat.store import GroupCommitWriter, Pending, StorageError, Store, outbox

from . import features, logs
from .admission import (
    Admission,
    CapacityLog,
    Unauthenticated,
    accept_retrying,
    raise_descriptor_limit,
)
from .api.app_media import AppMedia
from .api.callbacks import CallbackSender
from .api.platform import Platform
from .api.robots import RobotHooks
from .api.router import Router
from .audit import audit
from .cluster_hook import committed_messages, refuse_unlogged
from .config import ServerConfig
from .connection import Connection
from .features.credentials import Credentials
from .features.customers import Customers
from .features.groups import Groups
from .features.media import Media
from .features.messaging import Messaging
from .features.quiet import Quiet
from .features.robots import Robots
from .features.search import Searching
from .features.sign_in import SignIn
from .handlers import RequestHandler, bind_all
from .hub import Hub, Waiter
from .lockout import FailureWindow, SignInLimits
from .media import MediaService
from .online import Online
from .ops.groups import Caps
from .passwords import Passwords
from .push import PushGateway
from .quiet import QuietHours
from .rates import Rates
from .routes import Route
from .seen import SeenTokens
from .services import Services, extend, record_to, submit_to
from .tls import Tls
from .transfers import Transfers

if TYPE_CHECKING:
    from corpchat.cluster.node import ClusterNode

    from .cluster_routes import ClusterRouting

log = logging.getLogger("corpchat.server")


def _cluster_node(config: ServerConfig, store: Store) -> ClusterNode | None:
    """This process as a node of a cluster (docs/cluster.md), only with [cluster] urls:
    the single process never imports the NATS client."""
    if not config.cluster.enabled:
        return None
    from corpchat.cluster.node import ClusterNode

    return ClusterNode(config.cluster, store)


def _indexer(store: Store, config: ServerConfig, clock: Clock) -> IndexerProcess | None:
    """The search indexer of the data directory (`search/`), unless search is off: a
    process of its own, so its work never holds the event loop's GIL (search/process.py)."""
    caps = config.search
    if not caps.enabled:
        return None
    settings = IndexerSettings(page=caps.batch_messages, pause_s=caps.pause_s,
                               heap_bytes=caps.writer_heap_bytes, nice=caps.indexer_nice,
                               log_setup=logs.child_setup())
    return IndexerProcess(store, os.path.join(config.data_dir, "search"), now_ms=clock.now_ms,
                          settings=settings)


class App:
    def __init__(self, config: ServerConfig, clock: Clock | None = None) -> None:
        self._services: list[Services] = []
        self.config = config
        self.clock = clock or SystemClock()
        os.makedirs(config.data_dir, mode=0o700, exist_ok=True)
        os.chmod(config.data_dir, 0o700)
        self._lock_file = lock_data_dir(config.data_dir)
        self.store = Store(config.data_dir, map_bytes=config.map_initial_bytes,
                           durable=config.durable)
        if config.cluster.enabled:  # a node's own range of positions (docs/cluster.md §6)
            from corpchat.cluster.homes import position_base
            from corpchat.store.replica import start_positions

            start_positions(self.store, position_base(config.cluster.node))
        self.writer = GroupCommitWriter(self.store, self._on_commit,
                                        max_batch=config.max_batch_ops,
                                        commit_gap_s=config.commit_gap_s,
                                        commit_share_s=config.commit_share_s,
                                        bulk_gap_s=config.bulk_commit_gap_s,
                                        run_exclusive=self._run_exclusive)
        self.online = Online()
        self.push = PushGateway(self.store, config, self.online, self.write)
        self.quiet = QuietHours(self.store, self.clock, self.online, self.push)
        self.hub = Hub(self.store, self.online, self.quiet, self.push)
        self.hub.everyday.clock = self.clock
        self.hub.everyday.hold_s = config.everyday.reaction_hold_ms / 1000
        self.transfers = Transfers(self.store, self.clock, config, self.write)
        self.indexer = _indexer(self.store, config, self.clock)
        self.media = MediaService(self.store, self.clock, config.media, self.write)
        self._background: trio.Nursery | None = None
        self.passwords = Passwords(config.password_params)  # argon2id, off the event loop
        self.tls = Tls(config.tls_cert, config.tls_key) if config.tls else None
        self.api = Router()  # the JSON routes of docs/api.md (server/api/)
        self.platform = Platform(self.store, self.write, self.clock, config.platform,
                                 config.media.max_attachments)
        self.platform.register(self.api)
        AppMedia(self.media, self.platform.authenticate).register(self.api)
        self.robots = RobotHooks(self.store, self.write, self.clock, config.platform)
        self.robots.register(self.api)
        self.callbacks = CallbackSender(self.store, self.write, self.clock, config.platform)
        outbox.set_clock(self.clock.now_ms)  # the events' times, on the injected clock
        self.seen = SeenTokens(record_to(self.writer))  # before the routes: hello notes there
        self.handlers = RequestHandler(self._routes(), config.limits)
        self.connections: set[Connection] = set()
        self.started_at = self.clock.monotonic()
        self.port: int | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._shutdown = trio.Event()
        self.draining = False
        self.rates = Rates(self.clock, self.hub.stats)
        self.admission = Admission()
        self.cluster = _cluster_node(config, self.store)  # None: one process, no NATS
        self.routing = self._cluster_routing()

    def _cluster_routing(self) -> ClusterRouting | None:
        """A cluster node's sends go to their conversation's home (docs/cluster.md §5)."""
        if self.cluster is None:
            return None
        from corpchat.protocol import Send

        from .cluster_routes import ClusterRouting

        routing = ClusterRouting(self.cluster, self.store, self.writer, self.hub, self.spawn)
        self.handlers.routes[Send] = routing.wrap(self.handlers.routes[Send])
        return routing

    def _sign_in_limits(self) -> SignInLimits:
        config, window_ms = self.config, self.config.login_window_s * 1000
        return SignInLimits(
            FailureWindow(self.clock, config.login_failures_per_handle, window_ms),
            FailureWindow(self.clock, config.login_failures_per_address, window_ms))

    def _routes(self) -> dict[type, Route]:
        """Each feature module's handlers, given the services that module uses."""
        config = self.config
        base = Services(self.store, self.clock, config, self.hub, submit_to(self.writer))
        self.groups = extend(Groups, base, caps=Caps(
            config.max_group_members, config.max_group_consumers, config.recall_window_s * 1000))
        services = {
            features.sign_in: extend(SignIn, base, quiet=self.quiet, push=self.push,
                                     signups=TokenBucket(config.signups_per_s, 10, self.clock),
                                     seen=self.seen),
            features.messaging: extend(Messaging, base, typing={}),
            features.groups: self.groups,
            features.customers: extend(Customers, base, write=self.write, spawn=self.spawn),
            features.quiet: extend(Quiet, base, quiet=self.quiet, push=self.push),
            features.media: extend(Media, base, media=self.media),
            features.credentials: extend(Credentials, base, passwords=self.passwords,
                                         limits=self._sign_in_limits(), spawn=self.spawn,
                                         seen=self.seen),
            features.search: extend(Searching, base, indexer=self.indexer, spawn=self.spawn,
                                    limiter=trio.CapacityLimiter(config.search.query_threads)),
            features.robots: extend(Robots, base, quota=self.robots.quota,
                                    base_url=self._public_url),
        }
        self._services = [base, *services.values()]
        return bind_all(*(module.routes.bind(services.get(module, base))
                          for module in features.MODULES))

    def _public_url(self) -> str:
        """The base of robots' webhook URLs (PlatformCaps.public_url, or the listener)."""
        return self.config.platform.public_url or f"http://{self.config.host}:{self.port}"

    @property
    def config(self) -> ServerConfig:
        return self._config

    @config.setter
    def config(self, config: ServerConfig) -> None:
        """A new configuration for a running server (the feature modules read it too)."""
        self._config = config
        for services in self._services:
            services.config = config

    # ----- the writer thread's doors into the event loop -----

    def _on_commit(self, batch: list[Pending]) -> None:
        assert self._token is not None
        if self.indexer is not None:
            self.indexer.wake()  # the batch is committed: the index may follow it now
        if self.cluster is None:
            self._token.run_sync_soon(self._fan_out, batch)
            return
        token = self._token

        def logged(failed: set[int]) -> None:  # on the NATS thread, after every PubAck
            refuse_unlogged(batch, failed)
            token.run_sync_soon(self._fan_out, batch)

        # A cluster node acks only what the log took (docs/cluster.md §3).
        self.cluster.after_commit(committed_messages(batch), logged)

    def _fan_out(self, batch: list[Pending]) -> None:
        try:
            self.hub.on_batch(batch)
        except Exception:
            log.exception("fan-out of a batch of %d failed", len(batch))
        self.callbacks.poke()  # the batch may have written events to the outbox

    def _run_exclusive(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the event-loop thread, between tasks, and wait for it.

        Read transactions only live inside synchronous code on that thread,
        so none is open there: the map can be resized safely.
        """
        done = threading.Event()

        def call() -> None:
            try:
                fn()
            finally:
                done.set()

        assert self._token is not None
        self._token.run_sync_soon(call)
        done.wait()

    async def write(self, op, *, bulk: bool = False) -> object:  # noqa: ANN001 - a WriteOp
        """Submit one write operation and wait for its committed result.

        `bulk=True` uses the writer's bulk lane (committed alone, after
        interactive writes; see store/writer.py) — only for writes whose order
        relative to other writes does not matter, such as a mass message's chunks.
        """
        waiter = Waiter()
        self.writer.submit(op, waiter, bulk=bulk)
        return await waiter.wait()

    # ----- serving -----

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run until shutdown is requested; reports the bound port when ready."""
        from .admin import AdminServer

        self._token = trio.lowlevel.current_trio_token()
        self.writer.start()
        if self.indexer is not None:
            self.indexer.start()
        try:
            raise_descriptor_limit(self.config.max_connections)
            listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
            self.port = listeners[0].socket.getsockname()[1]
            if self.cluster is not None:
                self.cluster.url = f"ws://{self.config.host}:{self.port}/"
                assert self.routing is not None
                self.routing.attach(self._token, self.handlers.handle)
                self.cluster.start()  # its own thread: leases, the log (cluster/node.py)
            admin = AdminServer(self)
            async with trio.open_nursery() as nursery:
                await nursery.start(admin.serve)
                nursery.start_soon(self.rates.run)
                nursery.start_soon(self.seen.run)
                self.quiet.load()
                self.push.load()
                self.hub.everyday.load()  # 1.5: mutes, for fan-out
                nursery.start_soon(self.quiet.run)
                nursery.start_soon(self.hub.everyday.run)  # 1.8: held reaction events
                nursery.start_soon(self.push.run)
                self.transfers.load()
                nursery.start_soon(self.transfers.run)
                await self.media.start()
                nursery.start_soon(self.media.sweep_forever)
                nursery.start_soon(self.callbacks.run)
                nursery.start_soon(self.platform.sweep_forever)
                if self.tls is not None:
                    nursery.start_soon(self.tls.reload_on_sighup)
                self._background = nursery
                async with trio.open_nursery() as connections:
                    accept_scope = trio.CancelScope()
                    for listener in listeners:
                        nursery.start_soon(self._accept_loop, listener, connections, accept_scope)
                    log.info("serving on %s:%d%s, data in %s", self.config.host, self.port,
                             " (TLS)" if self.tls else "", self.config.data_dir)
                    task_status.started(self.port)
                    await self._shutdown.wait()
                    await self._drain(connections)
                    accept_scope.cancel()
                nursery.cancel_scope.cancel()
        finally:
            # Shielded: a cancelled serve (a test's nursery, ^C) must still stop the
            # writer thread (committing what it holds) and the indexer process before
            # the store closes, not leave them running on a data directory being removed.
            with trio.CancelScope(shield=True):
                await self._stop_threads()
            self.store.close()
            self.passwords.close()
            self._lock_file.close()
            log.info("stopped")

    async def _stop_threads(self) -> None:
        if self.indexer is not None:
            await trio.to_thread.run_sync(self.indexer.stop)
        self.seen.flush()  # the last last-seen notes go with the writer's last batch
        await trio.to_thread.run_sync(self.writer.stop)
        if self.cluster is not None:  # after the writer: its last batches are published
            await trio.to_thread.run_sync(self.cluster.stop)

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery,
                           scope: trio.CancelScope) -> None:
        capacity = CapacityLog(self.clock, "WebSocket listener")
        with scope:
            async with listener:
                while True:
                    stream = await accept_retrying(listener, capacity)
                    place = self.admission.admit(stream, len(self.connections), self.config)
                    if place is None:
                        await trio.aclose_forcefully(stream)
                        continue
                    self._start_connection(stream, place, nursery)

    def _start_connection(self, stream: trio.SocketStream, place: Unauthenticated,
                          nursery: trio.Nursery) -> None:
        """The connection's task is its own `run`: no frame of ours above it while it
        is idle (≈ 240 bytes each). It leaves `self.connections` and its place itself."""
        try:
            wrapped = stream if self.tls is None else self.tls.wrap(stream)
            connection = Connection(self, wrapped, nursery, place, self.connections)
        except BaseException:
            place.release()
            raise
        self.connections.add(connection)
        audit("connect", logging.DEBUG, session=connection.session.id,
              peer=connection.session.peer)
        nursery.start_soon(connection.run)

    async def _drain(self, connections: trio.Nursery) -> None:
        self.draining = True
        for connection in list(self.connections):
            connection.stop_reading()
        try:
            self.seen.flush()  # the last notes go with the writer's last batch
            await trio.to_thread.run_sync(self.writer.stop)
        except StorageError:
            pass
        for connection in list(self.connections):
            connection.session.begin_close(1001, "server going away")
        with trio.move_on_after(self.config.shutdown_timeout_s):
            while self.connections:
                await trio.sleep(0.01)
        connections.cancel_scope.cancel()

    def spawn(self, fn, *args) -> None:  # noqa: ANN001
        """Run a background task (e.g. a mass message) until it ends or the server stops."""
        assert self._background is not None
        self._background.start_soon(fn, *args)

    def request_shutdown(self, timeout_s: float | None = None) -> None:
        """Drain and stop; open connections get `timeout_s` to take their last bytes."""
        if timeout_s is not None:
            self.config = dataclasses.replace(self.config, shutdown_timeout_s=timeout_s)
        self._shutdown.set()

    async def watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("signal %d: shutting down", signum)
                audit("drain", signal=signum, connections=len(self.connections))
                self.request_shutdown()
                return


def lock_data_dir(path: str):  # noqa: ANN202 - an open file kept for its lock
    """Refuse a second server on the same data directory."""
    lock = open(os.path.join(path, "corpchat.lock"), "a+")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise SystemExit(f"another corpchat server is using {path}") from None
    return lock
