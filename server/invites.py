"""Invite links: the operator's `user add` and `user invite` print one; the person opens it.

A link is the address people reach the server at and the code in the URL's
fragment — `http://HOST:PORT/#invite=CODE` — so a browser never sends the code
in a request line or a Referer. The address is the `public_url` setting when
set (behind a proxy, or a name instead of an address), else the scheme (https
with TLS), the listening host (this machine's name for a wildcard address)
and the bound port.
"""

from __future__ import annotations

import socket
from typing import Any

from corpchat.protocol import Refusal

from .config import ServerConfig
from .ops import credentials as ops
from .services import Running

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def base_url(config: ServerConfig, port: int | None) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    host = socket.gethostname() if config.host in WILDCARD_HOSTS else config.host
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    scheme = "https" if config.tls else "http"
    return f"{scheme}://{host}:{port or config.port}"


def invite_link(config: ServerConfig, port: int | None, code: str) -> str:
    return f"{base_url(config, port)}/#invite={code}"


async def new_invite(app: Running, uid: int) -> dict[str, Any] | Refusal:
    """Make the user a new invite (the old one ends): the code, its link, its expiry."""
    now, ttl_ms = app.clock.now_ms(), app.config.invite_ttl_s * 1000
    made = await app.write(lambda w: ops.invite(w, uid, now, ttl_ms))
    if isinstance(made, Refusal):
        return made
    code, expires = made
    return {"invite": code, "link": invite_link(app.config, app.port, code),
            "expires_ms": expires}
