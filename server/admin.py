"""The admin socket: a Unix socket in the data directory, like prosodyctl's.

Framing: the client sends one msgpack map {"cmd": NAME, "args": {...}} and
reads one map back, {"ok": true, "result": ...} or {"ok": false, "error":
CODE, "message": TEXT}; then the connection closes. The socket is created
with mode 0600 inside the 0700 data directory, and each caller's uid is
checked with SO_PEERCRED as well. Commands are registered by name.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgpack
import trio

from . import admin_commands
from .admission import CapacityLog, accept_retrying
from .audit import audit

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("corpchat.admin")
SOCKET_NAME = "admin.sock"
MAX_REQUEST_BYTES = 1024 * 1024
Command = Callable[["App", dict[str, Any]], Awaitable[Any]]
# Admin commands with an INFO audit line, and the fields it takes from the
# command's arguments and result: names and ids, never a token. Other commands
# get a DEBUG line naming the command.
AUDITED: dict[str, tuple[str, ...]] = {
    "kick": ("user", "device", "sessions_closed"),
    "user.add": ("handle", "corp", "consumer", "uid", "token_id"),
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


class AdminError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Stream:
    """A command's answer given row by row (e.g. an archive export)."""

    def __init__(self, rows: AsyncIterator[Any]) -> None:
        self.rows = rows


async def _send_all(conn: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        sent = await conn.send(view)
        view = view[sent:]


def socket_path(data_dir: str) -> str:
    return os.path.join(data_dir, SOCKET_NAME)


class AdminServer:
    def __init__(self, app: App) -> None:
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
                    await _send_all(conn, msgpack.packb(reply, use_bin_type=True))
            except (trio.TooSlowError, OSError) as exc:
                log.warning("admin connection failed: %s", exc)

    async def _stream(self, conn: trio.socket.SocketType, stream: Stream) -> None:
        """A long answer, one row per msgpack map; the peer's reading paces us."""
        await _send_all(conn, msgpack.packb({"ok": True, "stream": True}))
        count = 0
        async for row in stream.rows:
            await _send_all(conn, msgpack.packb({"row": row}, use_bin_type=True))
            count += 1
        await _send_all(conn, msgpack.packb({"end": True, "count": count}))

    async def _answer(self, conn: trio.socket.SocketType) -> dict[str, Any] | Stream:
        uid = _peer_uid(conn)
        if uid not in (os.getuid(), 0):
            audit("admin_forbidden", logging.WARNING, admin_uid=uid)
            return _error("forbidden", "this uid may not use the admin socket")
        name: Any = None
        args: Any = {}
        try:
            request = await _read_request(conn)
            name, args = request.get("cmd"), request.get("args") or {}
            command = self.commands.get(name) if isinstance(name, str) else None
            if command is None or not isinstance(args, dict):
                return _error("unknown_command", f"unknown command {name!r}; try 'help'")
            result = await command(self.app, args)
            _audit_command(name, uid, args, result)
            return result if isinstance(result, Stream) else {"ok": True, "result": result}
        except AdminError as exc:
            _audit_command(name, uid, args, None, exc.code)
            return _error(exc.code, exc.message)
        except Exception as exc:
            log.exception("admin command failed")
            _audit_command(name, uid, args, None, "internal_error")
            return _error("internal_error", str(exc))


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


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


def _peer_uid(conn: trio.socket.SocketType) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


async def _read_request(conn: trio.socket.SocketType) -> dict[str, Any]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=MAX_REQUEST_BYTES)
    while True:
        data = await conn.recv(65536)
        if not data:
            raise AdminError("bad_request", "connection closed before a request")
        try:
            unpacker.feed(data)
            for request in unpacker:
                if not isinstance(request, dict):
                    raise AdminError("bad_request", "a request is a map")
                return request
        except (ValueError, msgpack.UnpackException, msgpack.BufferFull) as exc:
            raise AdminError("bad_request", f"unreadable request: {exc}") from None


def call(path: str, cmd: str, args: dict[str, Any] | None = None,
         timeout_s: float = 30.0) -> Any:
    """Run one admin command (blocking); raises AdminError on refusal."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(msgpack.packb({"cmd": cmd, "args": args or {}}, use_bin_type=True))
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 * 1024 * 1024)
        while True:
            data = sock.recv(65536)
            if not data:
                raise AdminError("disconnected", "the server closed the admin connection")
            unpacker.feed(data)
            for reply in unpacker:
                if reply.get("ok"):
                    return reply.get("result")
                raise AdminError(reply.get("error", "error"), reply.get("message", ""))


def call_stream(path: str, cmd: str, args: dict[str, Any] | None = None,
                timeout_s: float = 60.0) -> Iterator[Any]:
    """Run a streaming admin command (blocking); yields its rows as they come."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(msgpack.packb({"cmd": cmd, "args": args or {}}, use_bin_type=True))
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 * 1024 * 1024)
        while data := sock.recv(65536):
            unpacker.feed(data)
            for reply in unpacker:
                if reply.get("end"):
                    return
                if "row" in reply:
                    yield reply["row"]
                elif not reply.get("ok"):
                    raise AdminError(reply.get("error", "error"), reply.get("message", ""))
        raise AdminError("disconnected", "the server closed the admin connection")
