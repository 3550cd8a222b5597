"""A test-only WebSocket echo endpoint on the server's own WebSocket layer.

The Autobahn test suite (run here by `kosoku`, see tests/reliability/
test_autobahn.py and docs/conformance.md) needs a peer that echoes every
text and binary message. corpchat itself refuses text and answers binary
messages with msgpack frames, so this module puts a thin echo on top of the
*real* connection code instead of a look-alike:

- `EchoConnection` subclasses `corpchat.server.connection.Connection` and
  `EchoProtocol` the sans-IO `corpchat.protocol.server.ServerConnection`, so
  the reader loop, the request head parsing and upgrade hand-off, the
  handshake and idle timeouts, wsproto's handshake and framing, the fast
  binary-frame path, ping answers, the binary-message assembly with the
  frame-size limit (close 1009 past `ServerConfig().limits.max_frame_bytes`,
  64 KiB), the rejection of protocol errors and the closing handshake are
  the server's own code;
- outgoing bytes go through the server's `Session` (the non-blocking write
  path with its bounded buffer), binary echoes are built by
  `server/wsframes.binary_frame` (the fan-out serializer) and text echoes
  by wsproto, as the server builds its own control frames;
- the settings are `ServerConfig()`'s defaults.

What differs, and why:

- `_accept` accepts without a subprotocol when none is offered (Autobahn
  offers none; the real server refuses such a client with 400), and marks
  the session as past the handshake (the real server does that on `hello`);
- text messages are echoed (the real server closes with 1003), with the
  same size limit counted in UTF-8 bytes;
- `_on_payload` echoes instead of decoding msgpack, and `_on_message` skips
  the request rate limiter: that is application policy, and Autobahn's 9.7/9.8 cases
  send 1000 messages back to back.

Run it standalone for a full Autobahn run:

    .venv/bin/python -m tests.reliability.autobahn_echo --port 9001
    .venv/bin/kosoku 127.0.0.1:9001 -x '12.*' -x '13.*'
"""

from __future__ import annotations

import argparse
from typing import Any

import trio
from wsproto.events import TextMessage

from corpchat.protocol import SUBPROTOCOL, CloseCode
from corpchat.protocol.clock import SystemClock
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.protocol.server import Accept, Message, Reply, ServerConnection, Upgrade
from corpchat.server.admission import Unauthenticated
from corpchat.server.config import ServerConfig
from corpchat.server.connection import LINGER_DISCARD_BYTES, Connection
from corpchat.server.wsframes import binary_frame

ECHO_USER = "autobahn-echo"  # stands in for the authenticated user


class _NoHub:
    """The only hub call a connection makes on its own: unregister at the end."""

    def unregister(self, session: Any) -> None:
        pass


class EchoApp:
    """The parts of `App` a `Connection` touches, with the real default settings."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.clock = SystemClock()
        self.hub = _NoHub()
        self.handlers = None  # never reached: _on_payload is overridden
        self.draining = False
        self.connections = 0


class EchoProtocol(ServerConnection):
    """The server's sans-IO connection, echoing text; messages skip the rate limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._text: list[str] = []
        self._text_bytes = 0

    def _on_message(self, payload: bytes, frames: int) -> None:
        self._events.append(Message(payload))  # no rate limit on messages

    def _on_text(self, event: TextMessage) -> None:
        self._text.append(event.data)
        self._text_bytes += len(event.data.encode("utf-8"))
        if self._text_bytes > self.max_frame_bytes:
            self._text.clear()
            self._refuse(b"", CloseCode.MESSAGE_TOO_BIG, "message too large")
            return
        if event.message_finished:
            text = "".join(self._text)
            self._text.clear()
            self._text_bytes = 0
            assert self._ws is not None
            self._events.append(Reply(self._ws.send(TextMessage(data=text))))


class EchoConnection(Connection):
    """The server's connection, echoing messages instead of handling requests."""

    def __init__(self, app: EchoApp, stream: trio.SocketStream, nursery: trio.Nursery) -> None:
        # No admission caps here: a place that releases nothing; no registry to leave.
        super().__init__(app, stream, nursery,  # type: ignore[arg-type]
                         Unauthenticated(None, "echo"), set())  # type: ignore[arg-type]

    def _protocol(self) -> ServerConnection:
        config = self.app.config
        return EchoProtocol(TokenBucket(config.requests_per_s, config.request_burst,
                                        self.app.clock),
                            max_violations=config.max_rate_violations, limits=config.limits,
                            discard_bytes=LINGER_DISCARD_BYTES)

    def _accept(self, upgrade: Upgrade) -> None:
        offered = SUBPROTOCOL in upgrade.subprotocols
        self.session.push(self.protocol.send(Accept(SUBPROTOCOL if offered else None)))
        self.session.user = ECHO_USER  # past the handshake: the idle timeouts apply
        self.protocol.authenticated()
        self._on_events(self.protocol.resume())

    def _on_payload(self, payload: bytes) -> None:
        self.session.push(binary_frame(payload))


async def serve_echo(host: str = "127.0.0.1", port: int = 0, *,
                     config: ServerConfig | None = None,
                     task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the echo endpoint until cancelled; reports the bound port."""
    app = EchoApp(config)

    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:

        async def handle(stream: trio.SocketStream) -> None:
            app.connections += 1
            await EchoConnection(app, stream, nursery).run()  # never raises

        nursery.start_soon(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args(argv)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_echo, args.host, args.port)
            print(f"echo endpoint on ws://{args.host}:{port}/", flush=True)

    trio.run(run)


if __name__ == "__main__":
    main()
