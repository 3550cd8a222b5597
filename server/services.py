"""What a feature module may use, passed to it narrowly and typed (not the App).

`Services` is the common part: store reads, `submit` a write (answered by its
context after the commit), the clock, the configuration and the hub's
delivery API. A feature that needs more declares its own dataclass
extending it (features/*.py); the composition root (server/app.py) builds
each one.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from corpchat.protocol.clock import Clock
from corpchat.search import IndexerProcess
from corpchat.store import GroupCommitWriter, StorageError, Store, User, WriteOp

from .api.router import Router
from .config import ServerConfig
from .handlers import RequestHandler
from .hub import UNANSWERED, Answers, ConvState, Hub
from .media import MediaService
from .ops import Write
from .passwords import Passwords
from .push import PushGateway
from .quiet import QuietHours
from .rates import Rates
from .seen import SeenTokens
from .session import Session
from .transfers import Transfers

__all__ = ["Clustered", "Connected", "Delivery", "Record", "Routing", "Running", "Services",
           "Spawn",
           "Submit", "Write", "extend", "record_to", "submit_to"]
# Submit a write nobody waits for and nothing answers.
Record = Callable[[WriteOp], None]
# Run a background task until it ends or the server stops (App.spawn).
Spawn = Callable[..., None]


class Submit(Protocol):
    """Hand a write to the group-commit writer; `context` answers it after commit."""

    def __call__(self, session: Session, op: WriteOp, context: Answers) -> None: ...


def submit_to(writer: GroupCommitWriter) -> Submit:
    def submit(session: Session, op: WriteOp, context: Answers) -> None:
        session.inflight += 1  # answered (sent_one) by the context
        try:
            writer.submit(op, context)
        except StorageError:
            session.inflight -= 1
            raise

    return submit


def record_to(writer: GroupCommitWriter) -> Record:
    def record(op: WriteOp) -> None:
        writer.submit(op, UNANSWERED)

    return record


class Delivery(Protocol):
    """What a handler asks of the hub: who is online, each conversation's membership
    as fan-out knows it, the realm rule on read state, and typing (sent at once)."""

    @property
    def head(self) -> int: ...

    def conversation(self, conv: int, *, keep: bool = True) -> ConvState | None: ...

    def sessions_of(self, uid: int) -> list[Session]: ...

    def register(self, session: Session) -> None: ...

    def read_visible(self, reader: User, viewer: User) -> bool: ...

    def typing(self, session: Session, conv: int) -> bool: ...


@dataclass(slots=True)
class Services:
    store: Store
    clock: Clock
    config: ServerConfig
    hub: Delivery
    submit: Submit


S = TypeVar("S", bound=Services)


def extend(kind: type[S], base: Services, **extra: Any) -> S:
    """A feature's services: the common ones and its own."""
    common = {f.name: getattr(base, f.name) for f in dataclasses.fields(Services)}
    return kind(**common, **extra)


class Connected(Protocol):
    """A client connection as the operator's tools see it."""

    @property
    def session(self) -> Session: ...


class Clustered(Protocol):
    """This process as a node of a cluster (corpchat.cluster.node.ClusterNode), as
    /healthz and the admin socket see it; None on the running server when alone."""

    @property
    def ready(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    async def status(self) -> dict[str, Any]: ...

    async def drain(self) -> dict[str, Any]: ...


class Routing(Protocol):
    """A cluster node as its sends see it (server/cluster_routes.py, docs/cluster.md §5):
    homes, forwarding, the log's head; and its doors, set before it starts."""

    apply: Callable[[int, int, bytes], None] | None
    serve: Callable[[bytes, Callable[[bytes], None]], None] | None

    @property
    def name(self) -> str: ...

    @property
    def home_epoch(self) -> int: ...

    def home_of(self, conv: int) -> str | None: ...

    def directory(self) -> str | None: ...

    def homes_here(self, conv: int) -> bool: ...

    def forward(self, node: str, payload: bytes,
                timeout_s: float) -> concurrent.futures.Future[bytes]: ...

    async def log_head(self, conv: int) -> int: ...


class Running(Protocol):
    """The running server as its connections and the operator's tools see it (the
    admin socket's commands, /metrics): every part, since an operator may inspect
    and change any of them. The App is the one implementation; the feature modules
    never get this."""

    @property
    def config(self) -> ServerConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> Store: ...

    @property
    def hub(self) -> Hub: ...

    @property
    def writer(self) -> GroupCommitWriter: ...

    @property
    def quiet(self) -> QuietHours: ...

    @property
    def push(self) -> PushGateway: ...

    @property
    def transfers(self) -> Transfers: ...

    @property
    def indexer(self) -> IndexerProcess | None: ...

    @property
    def media(self) -> MediaService: ...

    @property
    def api(self) -> Router: ...

    @property
    def rates(self) -> Rates: ...

    @property
    def seen(self) -> SeenTokens: ...

    @property
    def passwords(self) -> Passwords: ...

    @property
    def port(self) -> int | None: ...

    @property
    def handlers(self) -> RequestHandler: ...

    @property
    def connections(self) -> Collection[Connected]: ...

    @property
    def started_at(self) -> float: ...

    @property
    def draining(self) -> bool: ...

    @property
    def cluster(self) -> Clustered | None: ...

    async def write(self, op: WriteOp, *, bulk: bool = False) -> Any: ...

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None: ...

    def request_shutdown(self, timeout_s: float | None = None) -> None: ...
