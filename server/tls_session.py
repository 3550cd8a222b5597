"""The outbound side of a TLS connection: the same bounded buffer, written through SSLStream.

A plain Session writes fan-out's frames straight to the socket's descriptor
with no await. Under TLS that would put frames on the wire unencrypted, so
here `push` only queues (still synchronous: fan-out never awaits) and the
writer task sends the queue through the SSLStream, everything queued at that
moment in one `send_all` (one TLS record per 16 KiB, one system call for
many frames). The bound is the same: bytes queued plus bytes being sent; past
it the session closes for a resync.

A close decided while a send is in progress lets the send finish — cutting
an SSLStream mid-send breaks the stream, and the close frame after it (4001
for a revoked device, 4000 for a resync) would never go out — but only for
`grace_s` (the close timeout): a peer that stops reading is dropped then.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from .session import Session, Spawn

BATCH_FRAMES = 512  # frames joined into one send_all


class TlsSession(Session):
    __slots__ = ("stream", "grace_s", "_sending", "_wake", "_writer_done")

    def __init__(self, stream: trio.abc.Stream, peer: str, bound: int, connected_ms: int,
                 grace_s: float) -> None:
        super().__init__(-1, peer, bound, connected_ms)  # no descriptor: never the raw socket
        self.stream = stream
        self.grace_s = grace_s
        self._sending = 0  # bytes handed to the SSLStream and not yet sent
        self._wake = trio.Event()
        self._writer_done = trio.Event()

    def attach(self, spawn: Spawn, on_interrupt: Callable[[], None]) -> None:
        """Under TLS the writer task runs for the whole connection (every frame goes
        through the SSLStream's send_all, never a direct write)."""
        super().attach(spawn, on_interrupt)
        spawn(self.writer)

    @property
    def buffered_bytes(self) -> int:
        return self._out_bytes + self._sending

    def _write_direct(self, frames: list[bytes]) -> None:
        self._queue().extend(frames)
        self._out_bytes += sum(map(len, frames))
        self._after_queue()

    def _after_queue(self) -> None:
        self._blocked = True
        self._wake.set()
        if self.buffered_bytes > self.bound:
            self._overflow()

    def queue_close_frame(self, frame: bytes) -> None:
        if self.dead:
            return
        self._queue().append(frame)
        self._out_bytes += len(frame)
        self._wake.set()

    def _interrupt(self) -> None:
        self._wake.set()
        self._on_interrupt()
        waiting = self._waiting
        if waiting is None:
            return
        if self.dead:
            waiting.cancel()
        else:  # let the send in progress finish, within the grace
            waiting.deadline = min(waiting.deadline, trio.current_time() + self.grace_s)

    async def _send_queued(self) -> None:
        out = self._queue()
        batch = [out.popleft() for _ in range(min(len(out), BATCH_FRAMES))]
        data = b"".join(batch)
        self._out_bytes -= len(data)
        self._sending = len(data)
        try:
            with trio.CancelScope() as self._waiting:
                if self.closing and not self.dead:
                    self._waiting.deadline = trio.current_time() + self.grace_s
                await self.stream.send_all(data)
            if self._waiting.cancelled_caught:
                self._fail()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self._fail()
        finally:
            self._waiting = None
            self._sending = 0
        if not out:
            self._blocked = False
            self._out = None

    async def writer(self) -> None:
        """Send whatever is queued; return once the session closes."""
        try:
            while not self.closing:
                await self._wake.wait()
                self._wake = trio.Event()
                while self._out and not self.closing:
                    await self._send_queued()
        finally:
            self._writer_done.set()

    async def settle(self) -> None:
        """The send in progress when the close was decided finishes (within the grace)."""
        await self._writer_done.wait()

    async def flush_all(self) -> None:
        while self._out and not self.dead:
            await self._send_queued()

