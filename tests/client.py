"""A test client: our own protocol session over trio-websocket.

Tests use it as the peer of a real server. It keeps every event it saw so
assertions can look back, and offers `expect(kind)` to wait for the next
event of a type, under a deadline.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket_url

from corpchat.protocol import (
    SUBPROTOCOL,
    ClientSession,
    Frame,
    Hello,
    SyncComplete,
    Welcome,
    decode_server_frame,
    encode,
)
from corpchat.protocol.clock import Clock, ManualClock

EVENT_TIMEOUT_S = 5.0


@dataclass
class TestServer:
    app: Any
    url: str
    admin: Callable[..., Awaitable[Any]]  # admin("user.add", handle=..., corp=...)

    async def user(self, handle: str, corp: str | None = "acme") -> str:
        """Create a user (and its corp if needed); returns a token."""
        if corp is not None:
            try:
                await self.admin("corp.add", name=corp)
            except Exception:
                pass  # exists
        result = await self.admin("user.add", handle=handle, corp=corp, consumer=corp is None,
                                   token=True)
        return result["token"]


class TestClient:
    __test__ = False  # not a pytest class

    def __init__(self, nursery: trio.Nursery, url: str, token: str, *,
                 device: str | None = None, sync_token: str | None = None,
                 clock: Clock | None = None) -> None:
        self.nursery = nursery
        self.url = url
        self.session = ClientSession(token, device=device, sync_token=sync_token, clock=clock)
        self._nudged = trio.Event()  # the clock moved, or the session queued more
        self._send_lock = trio.Lock()
        self.session.clock.subscribe(lambda: self._nudged.set())
        self.ws: WebSocketConnection | None = None
        self.events: list[Frame | SyncComplete] = []
        self._unread: list[Frame | SyncComplete] = []
        self._arrived = trio.Event()
        self.closed_code: int | None = None

    async def connect(self, *, wait_sync: bool = True) -> TestClient:
        self.ws = await connect_websocket_url(self.nursery, self.url, subprotocols=[SUBPROTOCOL])
        self.session.connect()
        await self.flush()
        self.nursery.start_soon(self._read)
        self.nursery.start_soon(self._pace, self.ws)
        if wait_sync:
            await self.expect(SyncComplete)
        return self

    async def flush(self) -> None:
        assert self.ws is not None
        async with self._send_lock:  # several tasks flush: each batch goes out whole, in order
            for payload in self.session.data_to_send():
                await self.ws.send_message(payload)
        self._nudged.set()

    async def _pace(self, ws: WebSocketConnection) -> None:
        """Write what the session's pacing held back once it is due (§8.3): at
        `next_send_at()` on a real clock, or when a test moves a manual one."""
        clock = self.session.clock
        while self.ws is ws and not ws.closed:
            self._nudged = trio.Event()
            at = self.session.next_send_at()
            if at is not None and at <= clock.monotonic():
                try:
                    await self.flush()
                except ConnectionClosed:
                    return
                continue
            manual = isinstance(clock, ManualClock)  # it nudges when it moves
            delay = math.inf if at is None or manual else at - clock.monotonic()
            with trio.move_on_after(delay):
                await self._nudged.wait()

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            while True:
                data = await self.ws.get_message()
                for event in self.session.receive(data):
                    self.events.append(event)
                    self._unread.append(event)
                self._arrived.set()
                try:
                    await self.flush()
                except ConnectionClosed:
                    pass  # read on: the frames that came before the close count too
        except ConnectionClosed as exc:
            self.closed_code = exc.reason.code if exc.reason else None
            self._arrived.set()

    async def send(self, text: str, **kw: Any) -> str:
        cmid = self.session.send_text(text, **kw)
        await self.flush()
        return cmid

    async def expect(self, kind: type, timeout: float = EVENT_TIMEOUT_S) -> Any:
        """The next not-yet-taken event of this type."""
        with trio.fail_after(timeout):
            while True:
                for i, event in enumerate(self._unread):
                    if isinstance(event, kind):
                        del self._unread[i]
                        return event
                if self.closed_code is not None or (self.ws and self.ws.closed):
                    raise AssertionError(f"closed ({self.closed_code}) while waiting for {kind}")
                self._arrived = trio.Event()
                await self._arrived.wait()

    def taken(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.aclose()


# ----- helpers for wire-level tests (appended; TestClient above is unchanged) -----


class WireClient(TestClient):
    """A TestClient that also keeps every frame exactly as it arrived.

    ClientSession drops a `msg` at or below its sync token, so `events` cannot
    show a duplicate delivery; `wire` can.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.wire: list[Frame] = []
        receive = self.session.receive

        def recording(payload: bytes) -> list[Frame | SyncComplete]:
            self.wire.append(decode_server_frame(payload))
            return receive(payload)

        self.session.receive = recording  # type: ignore[method-assign]


async def send_frame(client: TestClient, frame: Frame) -> None:
    """Send a frame as is, bypassing ClientSession (for requests it would not build)."""
    assert client.ws is not None
    await client.ws.send_message(encode(frame))


async def wait_closed(client: TestClient, timeout: float = EVENT_TIMEOUT_S) -> int | None:
    """Wait until the server closes the client's connection; its close code."""
    with trio.fail_after(timeout):
        while client.closed_code is None and not (client.ws and client.ws.closed):
            client._arrived = trio.Event()
            await client._arrived.wait()
    if client.closed_code is None and client.ws is not None and client.ws.closed:
        return client.ws.closed.code
    return client.closed_code


class RawWs:
    """A WebSocket with no protocol logic: send any bytes, see every frame."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1000)

    @classmethod
    async def open(cls, nursery: trio.Nursery, url: str,
                   subprotocols: tuple[str, ...] = (SUBPROTOCOL,)) -> RawWs:
        with trio.fail_after(EVENT_TIMEOUT_S):
            ws = await connect_websocket_url(nursery, url, subprotocols=list(subprotocols),
                                             max_message_size=4 * 1024 * 1024)
        return cls(ws)

    async def send(self, payload: bytes | str) -> None:
        with trio.fail_after(EVENT_TIMEOUT_S):
            await self.ws.send_message(payload)

    async def request(self, frame: Frame) -> None:
        await self.send(encode(frame))

    async def receive(self, timeout: float = EVENT_TIMEOUT_S) -> Frame:
        """The next server frame (raises ConnectionClosed once closed)."""
        with trio.fail_after(timeout):
            return decode_server_frame(await self.ws.get_message())

    async def expect(self, kind: type, timeout: float = EVENT_TIMEOUT_S) -> Any:
        """The next frame of a type, skipping others (e.g. live `msg`s)."""
        with trio.fail_after(timeout):
            while True:
                frame = await self.receive(timeout)
                if isinstance(frame, kind):
                    return frame

    async def hello(self, token: str, device: str | None = None) -> Welcome:
        await self.request(Hello(id=next(self.ids), token=token, device=device))
        frame = await self.receive()
        assert isinstance(frame, Welcome), frame
        return frame

    async def closed_code(self, timeout: float = EVENT_TIMEOUT_S) -> tuple[list[Frame], int | None]:
        """Read until the server closes: (frames seen on the way, close code)."""
        frames: list[Frame] = []
        with trio.fail_after(timeout):
            while True:
                try:
                    frames.append(decode_server_frame(await self.ws.get_message()))
                except ConnectionClosed as exc:
                    return frames, exc.reason.code if exc.reason else None

    async def aclose(self) -> None:
        with trio.move_on_after(EVENT_TIMEOUT_S):
            await self.ws.aclose()
