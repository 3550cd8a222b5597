"""A plain HTTP request's body read a chunk at a time, for the exchanges that take over a
connection's reading (media uploads in server/media_http.py, streamed API routes in
server/api/exchange.py): the socket is read only when the consumer asks for the next
chunk (backpressure), each read within `idle_s`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from corpchat.protocol.server import HttpBody, HttpBodyEnd, State


async def body_chunks(connection: Any, idle_s: float, gone: type[Exception],
                      read_bytes: int | None = None,
                      received: Callable[[int], None] | None = None) -> AsyncIterator[bytes]:
    """The body's chunks; `gone` is raised when the client closes, stalls past `idle_s`
    or breaks the framing mid-body; `received(n)` is told each chunk's size first."""
    events, protocol = connection.http_events, connection.protocol
    while True:
        while events:
            event = events.popleft()
            if isinstance(event, HttpBody):
                if received is not None:
                    received(len(event.data))
                yield event.data
            elif isinstance(event, HttpBodyEnd):
                return
            else:  # bad framing (Refused): the protocol stopped reading
                raise gone()
        if protocol.state is not State.ANSWERING:
            raise gone()
        with trio.move_on_after(idle_s) as idle:
            try:
                data = await (connection.read() if read_bytes is None
                              else connection.read(read_bytes))
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
        if idle.cancelled_caught or not data:
            raise gone()
        events.extend(protocol.receive_data(data))
