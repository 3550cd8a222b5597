"""The admin socket's wire format, sans-IO: bytes in, requests and answers out.

One connection carries one command. The client sends one msgpack map,
`{"cmd": NAME, "args": {...}}`, and reads its answer:

- `{"ok": true, "result": ...}`, or a refusal `{"ok": false, "error": CODE,
  "message": TEXT}`; then the connection closes;
- or, for a long answer (e.g. an archive export), `{"ok": true, "stream":
  true}`, then one `{"row": ...}` map per row, then `{"end": true, "count": N}`.

Both ends live here so that the server's admin socket, `corpchat admin` and
the load tester speak it from one text, without the server's code (the
blocking client is `corpchat.adminclient`). Whatever bytes arrive, the readers
give requests or answers or raise `AdminError` (code `bad_request` or
`bad_answer`) — never another exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

MAX_REQUEST_BYTES = 1024 * 1024
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a whole answer, e.g. a `user list` of many users


class AdminError(Exception):
    """A refused command, or an exchange that failed: a stable code and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ----- the client's side -----

def encode_request(cmd: str, args: dict[str, Any] | None = None) -> bytes:
    return _pack({"cmd": cmd, "args": args or {}})


@dataclass(frozen=True, slots=True)
class Result:
    """The answer of a command that succeeded."""

    value: Any


@dataclass(frozen=True, slots=True)
class StreamStart:
    """A long answer follows, row by row."""


@dataclass(frozen=True, slots=True)
class Row:
    value: Any


@dataclass(frozen=True, slots=True)
class StreamEnd:
    count: int


Answer = Result | StreamStart | Row | StreamEnd


class AnswerReader:
    """The client's end of one connection: feed it what the socket gave, read answers."""

    def __init__(self, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max_bytes)

    def receive_data(self, data: bytes) -> None:
        try:
            self._unpacker.feed(data)
        except msgpack.BufferFull:
            raise AdminError("bad_answer", "the answer is too large") from None

    def answers(self) -> Iterator[Answer]:
        """Each answer complete so far; a refusal raises its AdminError."""
        try:
            for item in self._unpacker:
                yield _answer(item)
        except (ValueError, msgpack.UnpackException) as exc:
            raise AdminError("bad_answer", f"unreadable answer: {exc}") from None


def _answer(item: object) -> Answer:
    if not isinstance(item, dict):
        raise AdminError("bad_answer", "an answer is a map")
    if item.get("end"):
        count = item.get("count")
        return StreamEnd(count if isinstance(count, int) else 0)
    if "row" in item:
        return Row(item["row"])
    if item.get("ok"):
        return StreamStart() if item.get("stream") else Result(item.get("result"))
    raise AdminError(str(item.get("error", "error")), str(item.get("message", "")))


# ----- the server's side -----

class RequestReader:
    """The server's end of one connection: the first request the bytes hold."""

    def __init__(self, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=True,
                                          max_buffer_size=max_bytes)

    def receive_data(self, data: bytes) -> dict[str, Any] | None:
        """The request once complete, else None (send more); AdminError on garbage."""
        try:
            self._unpacker.feed(data)
            for request in self._unpacker:
                if not isinstance(request, dict):
                    raise AdminError("bad_request", "a request is a map")
                return request
        except (ValueError, msgpack.UnpackException, msgpack.BufferFull) as exc:
            raise AdminError("bad_request", f"unreadable request: {exc}") from None
        return None


def encode_result(result: Any) -> bytes:
    return _pack({"ok": True, "result": result})


def encode_refusal(code: str, message: str) -> bytes:
    return _pack({"ok": False, "error": code, "message": message})


def encode_stream_start() -> bytes:
    return _pack({"ok": True, "stream": True})


def encode_row(row: Any) -> bytes:
    return _pack({"row": row})


def encode_stream_end(count: int) -> bytes:
    return _pack({"end": True, "count": count})


def _pack(value: dict[str, Any]) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data
