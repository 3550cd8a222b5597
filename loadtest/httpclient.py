"""The load tester's HTTP/1.1 client for the API and the robots' webhooks.

Written on h11 and a trio stream, not httpx: httpx's per-request cost capped a
generator near 200 requests/s, and the robots' benchmark posts 1,000/s.
`KeptConnection` keeps one connection alive and sends one request at a time,
reopening it when the server closes it (its bound on requests, or idle);
`post_once` opens a connection for one request. Each answer is an `Answer`:
the status, the `Retry-After` header as sent (None without one) and the body.
A status of 0 means the connection closed before an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11
import trio

MAX_ANSWER_BYTES = 65536  # the API's answers are small JSON objects


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None = None
    body: bytes = b""


NO_ANSWER = Answer(0)


class KeptConnection:
    """One HTTP/1.1 connection kept alive, a request at a time, through h11's client
    side; reopened when the server closes it. Not safe to share between tasks."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.stream: trio.SocketStream | None = None
        self.http = h11.Connection(h11.CLIENT)
        self.opened = 0
        self.retried = 0  # requests sent again after an idle connection was closed
        self.responded = False  # the current request's answer has begun

    async def post(self, path: str, body: bytes,
                   headers: tuple[tuple[str, str], ...] = ()) -> Answer:
        """POST a JSON body; h11.ProtocolError, OSError and trio.BrokenResourceError
        propagate (the caller counts them; the next post reopens). A kept connection the
        server closed while it was idle (`keepalive_idle_s`) fails before any answer:
        then the request goes once more, on a new connection (the server never read it)."""
        reused = self.stream is not None and self.http.our_state is h11.IDLE
        try:
            answer = await self._exchange(path, body, headers)
        except (OSError, trio.BrokenResourceError, h11.ProtocolError):
            if not reused or self.responded:
                raise
            answer = NO_ANSWER
        if answer is NO_ANSWER and reused and not self.responded:
            await self.aclose()
            self.retried += 1
            return await self._exchange(path, body, headers)
        return answer

    async def _exchange(self, path: str, body: bytes,
                        headers: tuple[tuple[str, str], ...]) -> Answer:
        if self.stream is None or self.http.our_state is not h11.IDLE:
            await self._reopen()
        assert self.stream is not None
        self.responded = False
        http = self.http
        head = [("host", self.host), ("content-type", "application/json"),
                ("content-length", str(len(body))), *headers]
        await self.stream.send_all(http.send(h11.Request(method="POST", target=path,
                                                         headers=head))
                                   + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage()))
        return await self._answer()

    async def _answer(self) -> Answer:
        assert self.stream is not None
        http = self.http
        status, retry_after, chunks = 0, None, bytearray()
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                self.responded = True
                status = event.status_code
                retry_after = next((v.decode("latin-1") for k, v in event.headers
                                    if k == b"retry-after"), None)
            elif isinstance(event, h11.Data):
                if len(chunks) < MAX_ANSWER_BYTES:
                    chunks += event.data
            elif isinstance(event, h11.EndOfMessage):
                if http.our_state is h11.DONE and http.their_state is h11.DONE:
                    http.start_next_cycle()
                return Answer(status, retry_after, bytes(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                return NO_ANSWER  # h11 is not IDLE now: the next post reopens

    async def _reopen(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()
        self.stream = await trio.open_tcp_stream(self.host, self.port)
        self.http = h11.Connection(h11.CLIENT)
        self.opened += 1

    async def aclose(self) -> None:
        """Close the connection (also after an error: the next post opens a new one)."""
        if self.stream is not None:
            await trio.aclose_forcefully(self.stream)
            self.stream = None


async def post_once(host: str, port: int, path: str, body: bytes) -> int:
    """One request on its own connection, written by hand; the status (0: no answer)."""
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json"
                              b"\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
                              % (path.encode(), host.encode(), len(body), body))
        head = b""
        while b"\r\n" not in head:
            data = await stream.receive_some(4096)
            if not data:
                return 0
            head += data
        return int(head.split(b" ", 2)[1])


__all__ = ["NO_ANSWER", "Answer", "KeptConnection", "post_once"]
