"""The web client's static files (web/ in the repository, `corpchat.web` when installed).

Every file is read once, at the first request, and answered from memory with
its Content-Type, a strong ETag (a hash of its bytes: 304 on a matching
If-None-Match) and a strict Content-Security-Policy: scripts, styles, images
and fonts from this origin only, the WebSocket to this server only, no frames,
no plugins, no inline script. Browsers revalidate on every load
(`no-cache`), so an upgraded server is picked up at once.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

# Served file types; anything else in web/ (the package's __init__.py) is not served.
CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".json": b"application/json",
    ".txt": b"text/plain; charset=utf-8",
    ".webmanifest": b"application/manifest+json",
}

# A Host header we repeat in the policy: a host name or address and a port, nothing else.
_HOST = re.compile(rb"^(?:[A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: bytes
    etag: bytes


@dataclass(frozen=True, slots=True)
class StaticAnswer:
    status: int  # 200, or 304 when the client's copy is current
    headers: list[tuple[bytes, bytes]]
    body: bytes  # empty for a 304


@functools.cache
def files() -> dict[bytes, StaticFile]:
    """URL path → file, for every servable file of the package corpchat.web."""
    root = resources.files("corpchat.web")
    found: dict[bytes, StaticFile] = {}
    _walk(root, "/", found)
    if b"/index.html" in found:
        found[b"/"] = found[b"/index.html"]
    return found


def _walk(folder, prefix: str, found: dict[bytes, StaticFile]) -> None:  # noqa: ANN001 - Traversable
    for entry in folder.iterdir():
        if entry.is_dir():
            if not entry.name.startswith((".", "__")):
                _walk(entry, f"{prefix}{entry.name}/", found)
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        kind = CONTENT_TYPES.get(suffix)
        if kind is None:
            continue
        body = entry.read_bytes()
        tag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        found[f"{prefix}{entry.name}".encode()] = StaticFile(body, kind, tag)


def policy(host: bytes | None) -> bytes:
    """The Content-Security-Policy. `connect-src 'self'` covers the page's own ws:/wss: origin
    in CSP Level 3 browsers (Chromium, Firefox), not in older Safari; naming the WebSocket
    origin explicitly works everywhere. The host is only echoed when it is well-formed."""
    sockets = b""
    if host is not None and _HOST.match(host):
        sockets = b" ws://" + host + b" wss://" + host
    return (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            b"font-src 'self'; connect-src 'self'" + sockets + b"; manifest-src 'self'; "
            b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def files_on_disk() -> list:
    """The package's files (for the size check of the tests)."""
    from pathlib import Path

    return [p for p in Path(str(resources.files("corpchat.web"))).rglob("*") if p.is_file()]


def lookup(path: bytes) -> StaticFile | None:
    return files().get(path)


def answer(file: StaticFile, *, if_none_match: bytes | None, host: bytes | None) -> StaticAnswer:
    """The response to a GET or HEAD of `file` (Content-Type and -Length are the caller's;
    protocol/server.py sends no body for HEAD or 304)."""
    headers = [(b"etag", file.etag), (b"cache-control", b"no-cache"),
               (b"content-security-policy", policy(host)),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
    if if_none_match is not None and _matches(if_none_match, file.etag):
        return StaticAnswer(304, headers, b"")
    return StaticAnswer(200, headers, file.body)


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 §13.1.2: `*`, or any listed tag equal by weak comparison."""
    tags = [t.strip() for t in if_none_match.split(b",")]
    return b"*" in tags or any(t.removeprefix(b"W/") == etag for t in tags)
