"""The blocking admin client: one command over the server's admin socket.

`corpchat admin`, the load tester and the tests use it; it imports only
`corpchat.protocol` (the wire format is `protocol/admin.py`), so none of
them needs the server's code to talk to a server. Blocking on purpose: a
trio caller runs it in a thread (`trio.to_thread.run_sync`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

from corpchat.protocol.admin import (
    AdminError,
    AnswerReader,
    Result,
    Row,
    StreamEnd,
    encode_request,
)

__all__ = ["SOCKET_NAME", "AdminError", "AdminUnreachable", "call", "call_stream",
           "socket_path"]

SOCKET_NAME = "admin.sock"


def socket_path(data_dir: str) -> str:
    """Where the server of `data_dir` listens for admin commands."""
    return os.path.join(data_dir, SOCKET_NAME)


class AdminUnreachable(ConnectionError):
    """No server answers on the admin socket: missing, refused, or not ours to use."""

    def __init__(self, path: str, exc: OSError) -> None:
        where = os.path.abspath(path)
        if isinstance(exc, PermissionError):
            text = f"permission denied on the admin socket {where} (run as the server's user)"
        elif isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
            text = f"cannot reach the admin socket: is the server running? (looked for {where})"
        else:  # e.g. a path too long for a Unix socket
            text = f"cannot use the admin socket {where}: {exc.strerror or exc}"
        super().__init__(text)
        self.path = path


def _connect(path: str, timeout_s: float) -> socket.socket:
    """A connected client socket; AdminUnreachable (an OSError) when nobody answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        if isinstance(exc, TimeoutError):  # a server too busy to accept: not unreachable
            raise
        raise AdminUnreachable(path, exc) from exc
    return sock


def _disconnected() -> AdminError:
    return AdminError("disconnected", "the server closed the admin connection")


def call(path: str, cmd: str, args: dict[str, Any] | None = None,
         timeout_s: float = 30.0) -> Any:
    """Run one admin command (blocking); raises AdminError on refusal."""
    with _connect(path, timeout_s) as sock:
        sock.sendall(encode_request(cmd, args))
        reader = AnswerReader()
        while data := sock.recv(65536):
            reader.receive_data(data)
            for answer in reader.answers():
                if isinstance(answer, Result):
                    return answer.value
                raise AdminError("bad_answer", f"{cmd!r} answers in rows (a streamed command)")
        raise _disconnected()


def call_stream(path: str, cmd: str, args: dict[str, Any] | None = None,
                timeout_s: float = 60.0) -> Iterator[Any]:
    """Run a streaming admin command (blocking); yields its rows as they come."""
    with _connect(path, timeout_s) as sock:
        sock.sendall(encode_request(cmd, args))
        reader = AnswerReader()
        while data := sock.recv(65536):
            reader.receive_data(data)
            for answer in reader.answers():
                if isinstance(answer, StreamEnd):
                    return
                if isinstance(answer, Row):
                    yield answer.value
        raise _disconnected()
