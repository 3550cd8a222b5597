"""Who gets a descriptor: accepting under capacity errors, and the caps at accept.

A process out of descriptors must not end: an accept that fails with an
errno meaning "full" (trio's `ACCEPT_CAPACITY_ERRNOS`) is slept on and
retried, and logged at most once a second; any other error is raised, as in
trio's `serve_listeners`. So that the admin socket, LMDB and the push
gateway still find descriptors when the WebSocket side is full, a client
connection is refused at accept once fewer than `RESERVED_DESCRIPTORS`
would be left. Unauthenticated connections (no `hello` yet: they cost no
token) are capped per remote address and in total, so one address cannot
hold every descriptor with idle sockets.
"""

from __future__ import annotations

import errno
import logging
import resource
from collections import Counter

import trio

from corpchat.protocol.clock import Clock

from .config import ServerConfig

log = logging.getLogger("corpchat.server")
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_RETRY_S = 0.1  # trio's serve_listeners sleeps as long
CAPACITY_LOG_INTERVAL_S = 1.0
# Descriptors the server keeps for itself past its client connections: LMDB's
# two files and the data-dir lock, the listeners, the admin socket and its
# callers, the event loop's own, push-gateway HTTP connections, logs.
RESERVED_DESCRIPTORS = 64


class CapacityLog:
    """One log line per `CAPACITY_LOG_INTERVAL_S` at most, counting the rest."""

    def __init__(self, clock: Clock, what: str) -> None:
        self.clock, self.what = clock, what
        self._last: float | None = None
        self._quiet = 0  # failures since the last line

    def failed(self, exc: OSError) -> None:
        now = self.clock.monotonic()
        if self._last is not None and now - self._last < CAPACITY_LOG_INTERVAL_S:
            self._quiet += 1
            return
        log.error("accept on the %s failed (%s, %d more since the last report): "
                  "retrying every %.1f s", self.what, exc, self._quiet, ACCEPT_RETRY_S)
        self._last, self._quiet = now, 0


async def accept_retrying(listener: trio.SocketListener,
                          capacity: CapacityLog) -> trio.SocketStream:
    """The next connection; waits out capacity errors, raises any other."""
    while True:
        try:
            return await listener.accept()
        except OSError as exc:
            if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                raise
            capacity.failed(exc)
            await trio.sleep(ACCEPT_RETRY_S)


def raise_descriptor_limit(max_connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; warn when it cannot hold
    `max_connections` and the server's own descriptors. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # e.g. macOS: a hard limit past OPEN_MAX
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, hard, exc)
    needed = max_connections + RESERVED_DESCRIPTORS
    if soft < needed:
        log.warning("descriptor limit (RLIMIT_NOFILE) is %d, below max_connections %d + %d "
                    "for the server itself: at most %d connections will be accepted; raise "
                    "the hard limit (ulimit -Hn, LimitNOFILE=) to %d", soft, max_connections,
                    RESERVED_DESCRIPTORS, max(soft - RESERVED_DESCRIPTORS, 0), needed)
    return soft


class Unauthenticated:
    """One connection's place among the unauthenticated; `release` is idempotent."""

    __slots__ = ("admission", "address")

    def __init__(self, admission: Admission, address: str) -> None:
        self.admission: Admission | None = admission
        self.address = address

    def release(self) -> None:
        if self.admission is not None:
            self.admission.release(self.address)
            self.admission = None


class Admission:
    """The caps applied at accept, and the count of unauthenticated connections."""

    def __init__(self) -> None:
        self.by_address: Counter[str] = Counter()
        self.total = 0  # unauthenticated connections
        self.refused = 0  # connections closed at accept

    def admit(self, stream: trio.SocketStream, open_connections: int,
              config: ServerConfig) -> Unauthenticated | None:
        """A place for a new connection, or None: close it at once."""
        address = _peer_host(stream)
        per_address = config.max_unauthenticated_per_address
        if (open_connections >= config.max_connections or _descriptors_short(stream)
                or self.total >= config.max_unauthenticated
                or (per_address and self.by_address[address] >= per_address)):
            self.refused += 1
            return None
        self.by_address[address] += 1
        self.total += 1
        return Unauthenticated(self, address)

    def release(self, address: str) -> None:
        self.total -= 1
        self.by_address[address] -= 1
        if not self.by_address[address]:
            del self.by_address[address]


def _descriptors_short(stream: trio.SocketStream) -> bool:
    """Fewer than RESERVED_DESCRIPTORS would be left. A new descriptor takes the
    lowest free number (POSIX), so every number below this one is in use."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft != resource.RLIM_INFINITY and stream.socket.fileno() >= soft - RESERVED_DESCRIPTORS


def _peer_host(stream: trio.SocketStream) -> str:
    try:
        return str(stream.socket.getpeername()[0])
    except (OSError, IndexError):
        return "?"
