"""One client connection's outbound side: a bounded buffer in front of the socket.

Fan-out calls `push`/`push_many` synchronously, with no await: the frames
are written straight to the non-blocking socket, and only what the kernel
does not take is kept, in order, for the session's writer task, which waits
for the socket to become writable. When the kept bytes pass their bound the
client is too slow: the session is marked for a resync close, its buffer is
cut back to the frame being written, and nothing more is queued for it —
memory stays bounded and nobody else waits.
"""

from __future__ import annotations

import itertools
import os
from collections import deque

import trio

from corpchat.protocol import CloseCode
from corpchat.store import User

_IOV_MAX = 512
MAX_HELD = 64  # held frames per session before they are written anyway
_session_ids = itertools.count(1)


class Session:
    """The server's view of one WebSocket connection."""

    __slots__ = (
        "id", "fd", "peer", "bound", "user", "device", "connected_ms", "inflight",
        "_out", "_out_bytes", "_head_sent", "_blocked", "_wake", "close_code", "close_reason",
        "dead", "room", "token_id", "_waiting", "held",
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
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._head_sent = 0  # bytes of _out[0] already written
        self._blocked = False
        self._wake = trio.Event()
        self.close_code: int | None = None  # set once a close is decided
        self.close_reason = ""
        self.dead = False  # the socket failed or is closed: drop everything
        self.room: trio.Event | None = None  # set when inflight sends drop below the cap
        self._waiting: trio.CancelScope | None = None  # the writer's wait for the socket
        # frames that ride in front of the next write (1.8: reaction events); fan-out
        # appends to it directly (everyday_fanout), at most MAX_HELD, then `release`
        self.held: list[bytes] | None = None

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
        if self.held:
            frames = self.held + frames
            self.held = None
        if self.closing or not frames:
            return
        if not self._out:
            self._write_direct(frames)
            return
        self._out.extend(frames)
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
            self._out.append(frame)
            self._out_bytes += len(frame)
            if sent:
                self._head_sent, sent = sent, 0
        self._blocked = True
        self._wake.set()
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
        keep = self._out[0] if self._head_sent else None
        self._out.clear()
        self._out_bytes = 0
        if keep is not None:
            self._out.append(keep)
            self._out_bytes = len(keep)
        self.close_code = CloseCode.RESYNC_REQUIRED
        self.close_reason = "outbound buffer full: resync"
        self._interrupt()

    def queue_close_frame(self, frame: bytes) -> None:
        """The last frame (a WebSocket close), queued even while closing."""
        if self.dead:
            return
        self._out.append(frame)
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
                self._wake.set()
                return
        self._blocked = False

    def _write(self) -> tuple[int, int]:
        """One non-blocking write of the buffer's head: (bytes sent, bytes offered)."""
        out = self._out
        if len(out) == 1:
            view = memoryview(out[0])[self._head_sent:]
            return os.write(self.fd, view), len(view)
        chunks: list[bytes | memoryview] = list(itertools.islice(out, 0, _IOV_MAX))
        if self._head_sent:
            chunks[0] = memoryview(chunks[0])[self._head_sent:]
        return os.writev(self.fd, chunks), sum(map(len, chunks))

    def _consume(self, sent: int) -> None:
        """Drop the chunks the kernel took; remember how far into the next one it got."""
        out = self._out
        sent += self._head_sent
        while out and sent >= len(out[0]):
            chunk = out.popleft()
            sent -= len(chunk)
            self._out_bytes -= len(chunk)
        self._head_sent = sent if out else 0

    def _fail(self) -> None:
        self.dead = True
        self._out.clear()
        self._out_bytes = 0
        self._head_sent = 0
        self._interrupt()

    def begin_close(self, code: int, reason: str = "") -> None:
        """Decide to close (the first decision wins); wakes the writer task."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self._interrupt()

    def _interrupt(self) -> None:
        """Wake the writer task, even out of a wait for a socket that never drains."""
        self._wake.set()
        if self._waiting is not None:
            self._waiting.cancel()

    def sent_one(self) -> None:
        """A send of this session was answered: let a throttled reader go on."""
        self.inflight -= 1
        if self.room is not None:
            self.room.set()
            self.room = None

    async def writer(self) -> None:
        """Flush whenever the kernel had no room; return once the session closes.

        Cancel-safe: cancelling it leaves unwritten bytes in the buffer.
        """
        while not self.closing:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._blocked and not self.closing:
                with trio.CancelScope() as self._waiting:
                    await trio.lowlevel.wait_writable(self.fd)
                    self._flush()
                self._waiting = None

    async def flush_all(self) -> None:
        """Write everything still queued (used while closing; put a deadline on it)."""
        while self._out and not self.dead:
            if self._blocked:
                await trio.lowlevel.wait_writable(self.fd)
            self._flush()

    def mark_dead(self) -> None:
        self._fail()
