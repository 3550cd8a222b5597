"""The media routes on the WebSocket port: `POST /media`, `GET|HEAD /media/<id>`.

docs/protocol.md §30 is the contract. This module decides what to answer from
a parsed request (method, target, headers) — credentials, ranges, ETags,
the file name's encoding — and leaves the bytes to the connection
(server/connection.py): an upload's body arrives as an async iterator of
chunks, read from the socket one at a time as the upload consumes them; a
download's file goes out with `os.sendfile` from worker threads
(`send_file`), never through the event loop's memory.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import trio

from corpchat.protocol.server import (
    HttpContinue,
    HttpRequest,
    HttpResponse,
    HttpResponseHead,
    State,
)
from corpchat.store import Store, User

from .images import THUMB_SIZES
from .media import MediaService, Servable, UploadRefused
from .media_threads import THREADS
from .request_body import body_chunks
from .upload_budget import RETRY_AFTER_S

log = logging.getLogger("corpchat.media")

Headers = Sequence[tuple[bytes, bytes]]
SENDFILE_BYTES = 4 * 1024 * 1024  # per sendfile call (a thread hop each)
# An upload's reads: each costs the event loop a wake-up, a parse and a hand-off to
# a media thread whatever its size, so larger reads cost it less per byte. Memory:
# one read per upload being received, and upload_bytes_in_flight bounds how many.
UPLOAD_READ_BYTES = 256 * 1024
TLS_CHUNK_BYTES = 256 * 1024  # a download's reads under TLS, each encrypted and sent
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole response: status, headers, a small body."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """A response whose body is part of a file: `length` bytes from `offset`."""

    status: int
    headers: list[tuple[bytes, bytes]]
    path: str
    offset: int
    length: int
    send_body: bool  # False for HEAD


def is_media(target: bytes) -> bool:
    path = target.split(b"?", 1)[0]
    return path == b"/media" or path.startswith(b"/media/")


def header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def json_answer(status: int, payload: dict[str, Any],
                extra: list[tuple[bytes, bytes]] | None = None) -> Answer:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Answer(status, [(b"content-type", b"application/json"), *(extra or [])], body)


def error_answer(status: int, code: str, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return json_answer(status, {"error": code, "message": message}, extra)


def _unauthorized() -> Answer:
    return error_answer(401, "auth_failed", "a valid bearer token or signed URL is needed",
                        [(b"www-authenticate", b'Bearer realm="corpchat"')])


def _not_found() -> Answer:
    return error_answer(404, "not_found", "no such media")


def bearer_user(store: Store, headers: Headers) -> User | None:
    """The user of an `Authorization: Bearer` token that `hello` would accept."""
    raw = header(headers, b"authorization")
    if raw is None or not raw[:7].lower() == b"bearer ":
        return None
    try:
        token = raw[7:].strip().decode("ascii")
    except UnicodeDecodeError:
        return None
    found = store.authenticate(token)
    return None if found is None else found[0]


def _query(target: bytes) -> dict[str, str]:
    _, _, raw = target.partition(b"?")
    try:
        parsed = parse_qs(raw.decode("ascii"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


# ----- uploads -----

def upload_precheck(media: MediaService, store: Store, method: bytes, target: bytes,
                    headers: Headers) -> tuple[User, str] | Answer:
    """Before the body: the route, the credentials, the declared size, the quotas."""
    if target.split(b"?", 1)[0] != b"/media" or method != b"POST":
        return error_answer(405, "bad_request", "POST /media uploads; GET /media/<id> fetches",
                            [(b"allow", b"POST")])
    user = bearer_user(store, headers)
    if user is None:
        return _unauthorized()
    name = _query(target).get("name", "")
    if len(name) > 1024:
        return error_answer(400, "bad_request", "the name is too long")
    declared = _content_length(headers)
    refused = media.precheck(user, declared)
    if refused is not None:
        return refusal_answer(refused)
    return user, name


def _content_length(headers: Headers) -> int | None:
    raw = header(headers, b"content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def refusal_answer(refused: UploadRefused) -> Answer:
    extra = []
    if refused.retry_after_s is not None:
        extra.append((b"retry-after", str(refused.retry_after_s).encode()))
    return error_answer(refused.status, refused.code, refused.message, extra)


async def upload(media: MediaService, user: User, name: str,
                 body: AsyncIterator[bytes]) -> Answer:
    result = await media.upload(user, name, body)
    if isinstance(result, UploadRefused):
        return refusal_answer(result)
    return json_answer(201, result.json(),
                       [(b"location", f"/media/{result.record.media_id}".encode())])


# ----- downloads -----

def download(media: MediaService, store: Store, method: bytes, target: bytes,
             headers: Headers) -> Answer | FileAnswer:
    """The answer to GET or HEAD /media/<id>[?thumb=N][&uid=&exp=&sig=]."""
    if method not in (b"GET", b"HEAD"):
        return error_answer(405, "bad_request", "GET or HEAD fetches a file",
                            [(b"allow", b"GET, HEAD")])
    media_id = unquote(target.split(b"?", 1)[0][len(b"/media/"):].decode("latin-1"))
    query = _query(target)
    viewer = _viewer(media, store, media_id, query, headers)
    if isinstance(viewer, Answer):
        return viewer
    thumb = query.get("thumb")
    if thumb is not None and (not thumb.isdigit() or int(thumb) not in THUMB_SIZES):
        return _not_found()
    servable = media.servable(viewer, media_id, int(thumb) if thumb else None)
    if servable is None:
        return _not_found()
    return _file_answer(servable, headers, send_body=method == b"GET")


def _viewer(media: MediaService, store: Store, media_id: str, query: dict[str, str],
            headers: Headers) -> User | Answer:
    if "sig" in query:
        try:
            uid, expires = int(query.get("uid", "")), int(query.get("exp", ""))
        except ValueError:
            return _unauthorized()
        signed = media.signed_user(media_id, uid, expires, query["sig"])
        user = None if signed is None else store.user(signed)
        return _unauthorized() if user is None or user.disabled else user
    user = bearer_user(store, headers)
    return _unauthorized() if user is None else user


def _file_answer(servable: Servable, headers: Headers, *, send_body: bool) -> Answer | FileAnswer:
    common = [(b"etag", servable.etag.encode()), (b"accept-ranges", b"bytes"),
              (b"cache-control", b"private, max-age=31536000, immutable"),
              (b"x-content-type-options", b"nosniff"),
              (b"content-security-policy", b"sandbox; default-src 'none'")]
    if _matches(header(headers, b"if-none-match"), servable.etag):
        return Answer(304, common)
    common += [(b"content-type", servable.mime.encode()),
               (b"content-disposition", content_disposition(servable.name, servable.inline))]
    size = servable.size
    wanted = header(headers, b"range")
    span = parse_range(wanted.decode("latin-1"), size) if wanted is not None else None
    if span == "unsatisfiable":
        return Answer(416, [*common, (b"content-range", f"bytes */{size}".encode())])
    if isinstance(span, tuple):
        start, end = span
        common.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        return FileAnswer(206, common, servable.path, start, end - start + 1, send_body)
    return FileAnswer(200, common, servable.path, 0, size, send_body)


def _matches(if_none_match: bytes | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")]
    return b"*" in tags or etag.encode() in tags


def parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """One byte range (RFC 9110 §14.1.2) as (first, last) inclusive; "unsatisfiable";
    or None to ignore the header (not one range of bytes: answer the whole file)."""
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = int(last) if last else size - 1
    if end < start:
        return None
    return start, min(end, size - 1)


def content_disposition(name: str, inline: bool) -> bytes:
    """RFC 6266 with the RFC 5987 `filename*` for names outside ASCII: the plain
    `filename` keeps printable ASCII only (others become `_`)."""
    kind = "inline" if inline else "attachment"
    if not name:
        return kind.encode()
    plain = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{encoded}".encode("ascii")


async def send_file_tls(tls: trio.SSLStream[Any], path: str, offset: int, length: int) -> int:
    """Part of a file through a TLS stream: 256 KiB reads in a media thread, each
    encrypted and sent before the next is read (sendfile cannot encrypt)."""
    sent = 0
    with open(path, "rb") as f:
        f.seek(offset)
        while sent < length:
            chunk = await THREADS.run(f.read, min(TLS_CHUNK_BYTES, length - sent))
            if not chunk:
                break
            await tls.send_all(chunk)
            sent += len(chunk)
    return sent


async def send_file(fd: int, path: str, offset: int, length: int) -> int:
    """Send part of a file to a non-blocking socket with `os.sendfile`, each call in a
    media thread (a cold file's disk reads never stall the event loop), waiting for
    the socket to drain between calls. Returns the bytes sent. Cancel-safe (between
    calls)."""
    sent = 0
    with open(path, "rb") as f:
        file_fd = f.fileno()
        while sent < length:
            await trio.lowlevel.wait_writable(fd)
            count = min(SENDFILE_BYTES, length - sent)
            try:
                n = await THREADS.run(os.sendfile, fd, file_fd, offset + sent, count)
            except BlockingIOError:
                continue
            if n == 0:  # the file shrank under us: it never does (content-addressed)
                break
            sent += n
    return sent


# ----- the exchange on a connection -----

class ClientGone(Exception):
    """The client closed, stalled or broke the framing mid-request."""


async def exchange(connection: Any, request: HttpRequest) -> None:
    """Serve one media request on a connection whose reader stopped, then close it.
    This task reads the rest of the request itself, through the connection's
    sans-IO protocol. Runs as a task of the connection (cancelled with it:
    cancel-safe); never raises."""
    app, session, protocol = connection.app, connection.session, connection.protocol
    try:
        if request.method == b"POST" or request.target.split(b"?", 1)[0] == b"/media":
            answer: Answer | FileAnswer = await _upload_exchange(connection, request)
        else:
            answer = download(app.media, app.store, request.method, request.target,
                              request.headers)
        if isinstance(answer, FileAnswer):
            connection.on_authenticated()  # a long download is no unauthenticated probe
            await _send_file_answer(connection, answer)
        else:
            session.push(protocol.send(response(answer)))
    except ClientGone:
        session.mark_dead()
    except Exception:
        log.exception("media request failed")
        if protocol.state is State.ANSWERING:
            session.push(protocol.send(response(
                error_answer(500, "internal_error", "internal error"))))
    finally:
        session.begin_close(1000)


def response(answer: Answer) -> HttpResponse:
    """An Answer as the protocol's command (its content type apart from the rest)."""
    kind = header(answer.headers, b"content-type") or b"application/octet-stream"
    rest = tuple((k, v) for k, v in answer.headers if k != b"content-type")
    return HttpResponse(answer.status, answer.body, kind, rest)


async def _upload_exchange(connection: Any, request: HttpRequest) -> Answer:
    app = connection.app
    checked = upload_precheck(app.media, app.store, request.method, request.target,
                              request.headers)
    if isinstance(checked, Answer):
        if checked.status in (413, 429, 507):
            app.media.counts.refused += 1
        return checked
    user, name = checked
    connection.on_authenticated()  # a valid token: no longer capped as unauthenticated
    ticket = await app.media.budget.turn(_content_length(request.headers),
                                         app.media.settings.upload_turn_wait_s)
    if ticket is None:  # uploads take turns (server/upload_budget.py): none came
        return error_answer(503, "server_busy", "too many uploads at once; retry later",
                            [(b"retry-after", str(RETRY_AFTER_S).encode())])
    try:
        if go_on := connection.protocol.send(HttpContinue()):  # it asked before its body
            connection.session.push(go_on)
        return await upload(app.media, user, name,
                            body_chunks(connection, app.config.idle_timeout_s, ClientGone,
                                        UPLOAD_READ_BYTES, ticket.received))
    finally:
        ticket.close()


async def _send_file_answer(connection: Any, answer: FileAnswer) -> None:
    session, media = connection.session, connection.app.media
    length = answer.length if answer.send_body else 0
    session.push(connection.protocol.send(
        HttpResponseHead(answer.status, tuple(answer.headers), answer.length)))
    if length == 0:
        return
    await session.flush_all()
    if session.dead:
        return
    try:
        if connection.tls is not None:  # the bytes go through the TLS stream
            sent = await send_file_tls(connection.tls, answer.path, answer.offset, length)
        else:
            sent = await send_file(session.fd, answer.path, answer.offset, length)
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        log.debug("download cut: %s", exc)
        session.mark_dead()
        return
    media.counts.downloads += 1
    media.counts.download_bytes += sent
