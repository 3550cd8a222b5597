"""One client connection's outbound side: a bounded buffer in front of the socket.

Fan-out calls `push`/`push_many` synchronously, with no await: the frames
are written straight to the non-blocking socket, and only what the kernel
does not take is kept, in order, for a writer task, which waits for the
socket to become writable: started in the connection's nursery only while the
kernel has no room, so an idle connection is one task, its reader. When the
kept bytes pass their bound the client is too slow: the session is marked for
a resync close, its buffer is cut back to the frame being written, and
nothing more is queued for it —
memory stays bounded and nobody else waits.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from corpchat.protocol import CloseCode
from corpchat.store import User

_IOV_MAX = 512
Spawn = Callable[[Callable[[], Awaitable[None]]], None]  # start a task of the connection
MAX_HELD_BYTES = 16384  # held frames per session (some 64 reactions) before they are written
_session_ids = itertools.count(1)


class Session:
    """The server's view of one WebSocket connection."""

    __slots__ = (
        "id", "fd", "peer", "bound", "user", "device", "connected_ms", "inflight",
        "_out", "_out_bytes", "_head_sent", "_blocked", "close_code", "close_reason",
        "dead", "room", "token_id", "_waiting", "_spawn", "_on_interrupt", "_writing", "held",
    )

    def __init__(self, fd: int, peer: str, bound: int, connected_ms: int) -> None:
        self.id = f"s{next(_session_ids)}"
        self.fd = fd
        self.peer = peer
        self.bound = bound
        self.connected_ms = connected_ms
        self.user: User | None = None  # once authenticated
        self.device: str | None = None
        self.token_id: str | None = None
        self.inflight = 0  # sends submitted and not yet answered
        # Frames the kernel did not take yet; a deque only while there are some
        # (an idle connection keeps none: ≈ 760 bytes each).
        self._out: deque[bytes] | None = None
        self._out_bytes = 0
        self._head_sent = 0  # bytes of _out[0] already written
        self._blocked = False
        self.close_code: int | None = None  # set once a close is decided
        self.close_reason = ""
        self.dead = False  # the socket failed or is closed: drop everything
        self.room: trio.Event | None = None  # set when inflight sends drop below the cap
        self._waiting: trio.CancelScope | None = None  # the writer's wait for the socket
        # frames that ride in front of the next write (1.8: reaction events), joined;
        # fan-out appends to it directly (everyday_fanout), at most MAX_HELD_BYTES,
        # then `release`
        self.held: bytes | None = None
        self._spawn: Spawn | None = None  # starts a task of the connection (attach)
        self._on_interrupt: Callable[[], None] = _nothing  # wakes the connection's reader
        self._writing = False  # a writer task is running

    def attach(self, spawn: Spawn, on_interrupt: Callable[[], None]) -> None:
        """Run as part of a connection: writer tasks are started with `spawn` (one of the
        connection's tasks) when the kernel has no room; `on_interrupt` is called when
        the session decides to close."""
        self._spawn = spawn
        self._on_interrupt = on_interrupt

    def detach(self) -> None:
        """The connection's tasks are done: from here on, closing flushes by itself."""
        self._spawn = None
        self._on_interrupt = _nothing

    @property
    def authed_user(self) -> User:
        """The signed-in user. Handlers run only in the authenticated state
        (handlers._dispatch checks it once per frame), where `user` is set."""
        user = self.user
        assert user is not None, "a handler ran before hello"
        return user

    @property
    def buffered_bytes(self) -> int:
        return self._out_bytes - self._head_sent

    @property
    def closing(self) -> bool:
        return self.close_code is not None or self.dead

    def push(self, data: bytes) -> None:
        """Write one frame now, keeping what the kernel does not take. Never awaits."""
        self.push_many([data])

    def push_many(self, frames: list[bytes]) -> None:
        """Write frames with one system call, keeping what the kernel does not take;
        the held frames go first (they were committed before these)."""
        held = self.held
        if held is not None:
            self.held = None
            frames = [held + frames[0]] if len(frames) == 1 else [held, *frames]
        if self.closing or not frames:
            return
        if not self._out:
            self._write_direct(frames)
            return
        self._queue().extend(frames)
        self._out_bytes += sum(map(len, frames))
        self._after_queue()

    # ----- held frames (1.8: reaction events wait for the next write) -----

    def release(self) -> None:
        """Write the held frames now."""
        if self.held:
            self.push_many([])

    def _write_direct(self, frames: list[bytes]) -> None:
        """The common case: nothing is waiting, so the bytes go straight to the socket."""
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            sent = os.write(self.fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._fail()
            return
        if sent == len(data):
            return
        for frame in frames:  # keep the rest frame by frame: overflow cuts at frame edges
            if sent >= len(frame):
                sent -= len(frame)
                continue
            self._queue().append(frame)
            self._out_bytes += len(frame)
            if sent:
                self._head_sent, sent = sent, 0
        self._blocked = True
        self._start_writer()
        if self.buffered_bytes > self.bound:
            self._overflow()

    def _after_queue(self) -> None:
        # Only what the kernel did not take counts against the bound.
        if not self._blocked:
            self._flush()
        if self.buffered_bytes > self.bound:
            self._overflow()

    def _overflow(self) -> None:
        """Too slow: keep only a partly written frame; the connection will close."""
        keep = self._out[0] if self._out and self._head_sent else None
        self._out = None
        self._out_bytes = 0
        if keep is not None:
            self._queue().append(keep)
            self._out_bytes = len(keep)
        self.close_code = CloseCode.RESYNC_REQUIRED
        self.close_reason = "outbound buffer full: resync"
        self._interrupt()

    def queue_close_frame(self, frame: bytes) -> None:
        """The last frame (a WebSocket close), queued even while closing."""
        if self.dead:
            return
        self._queue().append(frame)
        self._out_bytes += len(frame)
        if not self._blocked:
            self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                sent, offered = self._write()
            except BlockingIOError:
                sent, offered = 0, 1
            except OSError:
                self._fail()
                return
            self._consume(sent)
            if sent < offered:
                self._blocked = True
                self._start_writer()
                return
        self._blocked = False
        self._out = None

    def _write(self) -> tuple[int, int]:
        """One non-blocking write of the buffer's head: (bytes sent, bytes offered)."""
        out = self._queue()
        if len(out) == 1:
            view = memoryview(out[0])[self._head_sent:]
            return os.write(self.fd, view), len(view)
        chunks: list[bytes | memoryview] = list(itertools.islice(out, 0, _IOV_MAX))
        if self._head_sent:
            chunks[0] = memoryview(chunks[0])[self._head_sent:]
        return os.writev(self.fd, chunks), sum(map(len, chunks))

    def _queue(self) -> deque[bytes]:
        out = self._out
        if out is None:
            out = self._out = deque()
        return out

    def _consume(self, sent: int) -> None:
        """Drop the chunks the kernel took; remember how far into the next one it got."""
        out = self._queue()
        sent += self._head_sent
        while out and sent >= len(out[0]):
            chunk = out.popleft()
            sent -= len(chunk)
            self._out_bytes -= len(chunk)
        self._head_sent = sent if out else 0

    def _fail(self) -> None:
        self.dead = True
        self._out = None
        self._out_bytes = 0
        self._head_sent = 0
        self._interrupt()

    def begin_close(self, code: int, reason: str = "") -> None:
        """Decide to close (the first decision wins); wakes the connection's reader."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self._interrupt()

    def _interrupt(self) -> None:
        """Wake the reader (the connection closes) and stop a writer's wait, even for a
        socket that never drains."""
        if self._waiting is not None:
            self._waiting.cancel()
        self._on_interrupt()

    def sent_one(self) -> None:
        """A send of this session was answered: let a throttled reader go on."""
        self.inflight -= 1
        if self.room is not None:
            self.room.set()
            self.room = None

    async def settle(self) -> None:
        """Wait for what must end before the connection's tasks are cancelled: nothing
        here (a writer's wait is cut, the close flushes the rest); TlsSession's send."""

    def _start_writer(self) -> None:
        """The kernel had no room: a task waits for it, if none does yet. Not while
        closing: the connection's close flushes what is left itself."""
        if not self._writing and self._spawn is not None and not self.closing:
            self._writing = True
            self._spawn(self._writer)

    async def _writer(self) -> None:
        """Flush as the socket drains; end once the kernel took everything or the
        session closes. Cancel-safe: cancelling it leaves unwritten bytes in the buffer."""
        try:
            while self._blocked and not self.closing:
                with trio.CancelScope() as self._waiting:
                    await trio.lowlevel.wait_writable(self.fd)
                    self._flush()
                self._waiting = None
        finally:
            self._waiting = None
            self._writing = False

    async def flush_all(self) -> None:
        """Write everything still queued (used while closing; put a deadline on it)."""
        while self._out and not self.dead:
            if self._blocked:
                await trio.lowlevel.wait_writable(self.fd)
            self._flush()

    def mark_dead(self) -> None:
        self._fail()


def _nothing() -> None:
    pass
