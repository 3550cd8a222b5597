"""The admin socket: a Unix socket in the data directory, like prosodyctl's.

One command per connection, in the framing of `corpchat.protocol.admin`
(one msgpack map each way, or a streamed answer row by row); the blocking
client is `corpchat.adminclient`. The socket is created with mode 0600
inside the 0700 data directory, and each caller's uid is checked with
SO_PEERCRED as well. Commands are registered by name.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from corpchat.adminclient import socket_path
from corpchat.protocol.admin import (
    AdminError,
    RequestReader,
    encode_refusal,
    encode_result,
    encode_row,
    encode_stream_end,
    encode_stream_start,
)

# admin_signin and admin_search register their commands
from . import admin_commands, admin_search, admin_signin  # noqa: F401
from .admin_commands import Stream
from .admission import CapacityLog, accept_retrying
from .audit import audit
from .services import Running

log = logging.getLogger("corpchat.admin")
Command = Callable[[Running, dict[str, Any]], Awaitable[Any]]
# Admin commands with an INFO audit line, and the fields it takes from the
# command's arguments and result: names and ids, never a token. Other commands
# get a DEBUG line naming the command.
AUDITED: dict[str, tuple[str, ...]] = {
    "kick": ("user", "device", "sessions_closed"),
    "user.add": ("handle", "corp", "consumer", "uid", "token_id", "invite_expires_ms"),
    "user.invite": ("handle", "expires_ms"),  # never the invite itself
    "user.password": ("handle",),  # never the password
    "user.disable": ("handle", "tokens_revoked", "sessions_closed"),
    "user.enable": ("handle",),
    "user.remove": ("handle", "tokens_revoked", "sessions_closed"),
    "token.issue": ("user", "token_id"),
    "token.revoke": ("token_id", "sessions_closed"),
    "backup": ("path", "bytes"),
    "drain": ("timeout_s", "connections"),
    "log-level": ("level",),
}
FIELD_NAMES = {"level": "log_level"}  # a field's name in the audit line, where it differs


class AdminSocketUnusable(OSError):
    """The server cannot create its admin socket (e.g. a path too long for AF_UNIX)."""


async def _send_all(conn: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        sent = await conn.send(view)
        view = view[sent:]


class AdminServer:
    def __init__(self, app: Running) -> None:
        self.app = app
        self.path = socket_path(app.config.data_dir)
        self.commands: dict[str, Command] = dict(admin_commands.COMMANDS)

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        if os.path.exists(self.path):
            os.unlink(self.path)  # stale: the data-dir lock says no server owns it
        old_umask = os.umask(0o177)
        try:
            await sock.bind(self.path)
        except OSError as exc:
            sock.close()
            raise AdminSocketUnusable(
                f"cannot create the admin socket {self.path}: {exc.strerror or exc}") from exc
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(64)
        # A SocketListener retries the errnos that mean "this caller gave up";
        # accept_retrying waits out a process out of descriptors.
        listener = trio.SocketListener(sock)
        capacity = CapacityLog(self.app.clock, "admin socket")
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    stream = await accept_retrying(listener, capacity)
                    nursery.start_soon(self._handle, stream.socket)
        finally:
            sock.close()
            if os.path.exists(self.path):
                os.unlink(self.path)

    async def _handle(self, conn: trio.socket.SocketType) -> None:
        with conn:
            try:
                with trio.fail_after(30):
                    reply = await self._answer(conn)
                if isinstance(reply, Stream):
                    await self._stream(conn, reply)
                else:
                    await _send_all(conn, reply)
            except (trio.TooSlowError, OSError) as exc:
                log.warning("admin connection failed: %s", exc)

    async def _stream(self, conn: trio.socket.SocketType, stream: Stream) -> None:
        """A long answer, one row per msgpack map; the peer's reading paces us."""
        await _send_all(conn, encode_stream_start())
        count = 0
        async for row in stream.rows:
            await _send_all(conn, encode_row(row))
            count += 1
        await _send_all(conn, encode_stream_end(count))

    async def _answer(self, conn: trio.socket.SocketType) -> bytes | Stream:
        """The answer's bytes, or the stream of its rows."""
        uid = _peer_uid(conn)
        if uid not in (os.getuid(), 0):
            audit("admin_forbidden", logging.WARNING, admin_uid=uid)
            return encode_refusal("forbidden", "this uid may not use the admin socket")
        name: Any = None
        args: Any = {}
        try:
            request = await _read_request(conn)
            name, args = request.get("cmd"), request.get("args") or {}
            command = self.commands.get(name) if isinstance(name, str) else None
            if command is None or not isinstance(args, dict):
                return encode_refusal("unknown_command", f"unknown command {name!r}; try 'help'")
            result = await command(self.app, args)
            # encoded here, so that a result msgpack cannot hold is an internal_error
            answer = result if isinstance(result, Stream) else encode_result(result)
            _audit_command(name, uid, args, result)
            return answer
        except AdminError as exc:
            _audit_command(name, uid, args, None, exc.code)
            return encode_refusal(exc.code, exc.message)
        except Exception as exc:
            log.exception("admin command failed")
            _audit_command(name, uid, args, None, "internal_error")
            return encode_refusal("internal_error", str(exc))


def _audit_command(name: Any, uid: int, args: Any, result: Any, error: str | None = None) -> None:
    """One audit line per admin command: its AUDITED fields, from args and result."""
    if name not in AUDITED:
        audit("admin", logging.DEBUG, cmd=str(name), admin_uid=uid, error=error)
        return
    found = {**(args if isinstance(args, dict) else {}),
             **(result if isinstance(result, dict) else {})}
    fields = {FIELD_NAMES.get(k, k): found[k] for k in AUDITED[name]
              if found.get(k) is not None}
    if error is None:
        audit(name, admin_uid=uid, **fields)
    else:
        audit(name, logging.WARNING, admin_uid=uid, error=error, **fields)


def _peer_uid(conn: trio.socket.SocketType) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


async def _read_request(conn: trio.socket.SocketType) -> dict[str, Any]:
    reader = RequestReader()
    while data := await conn.recv(65536):
        if (request := reader.receive_data(data)) is not None:
            return request
    raise AdminError("bad_request", "connection closed before a request")
