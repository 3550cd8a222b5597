"""How `corpchat client` gets its device token: `--login HANDLE` (a password) or
`--invite LINK` (the link `corpchat admin user add` printed: the person chooses
a password). Both are one request before `hello` (docs/protocol.md §29) on a
connection of their own; the token they answer is then used like any other.
"""

from __future__ import annotations

import ssl
import sys
from urllib.parse import parse_qsl, urlsplit

from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from corpchat.protocol import (
    SUBPROTOCOL,
    Error,
    Frame,
    LoggedIn,
    Login,
    Redeem,
    decode_server_frame,
    encode,
)

DEFAULT_URL = "ws://127.0.0.1:8765/"


class SignInRefused(Exception):
    """The server answered `login` or `redeem` with an error (its code and message), or
    could not be reached."""


async def _token_for(url: str, request: Frame, ssl_context: ssl.SSLContext | None) -> str:
    try:
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL],
                                      ssl_context=ssl_context) as ws:
            await ws.send_message(encode(request))
            message = await ws.get_message()
    except (ConnectionClosed, HandshakeError, OSError) as exc:
        raise SignInRefused(f"cannot reach {url}: {exc}") from None
    reply = decode_server_frame(message) if isinstance(message, bytes) else None
    if isinstance(reply, LoggedIn):
        return reply.token
    if isinstance(reply, Error):
        raise SignInRefused(f"{reply.code}: {reply.message}")
    raise SignInRefused(f"unexpected answer {reply!r}")


async def sign_in(url: str, handle: str, password: str, device: str,
                  ssl_context: ssl.SSLContext | None = None) -> str:
    """A new device token for `handle` from its password (`login`)."""
    return await _token_for(url, Login(id=1, handle=handle, password=password,
                                       device=device), ssl_context)


async def redeem(url: str, invite: str, password: str, device: str,
                 ssl_context: ssl.SSLContext | None = None) -> str:
    """Set the first password with an invite (a link or its bare code) and get a
    device token (`redeem`); the invite ends."""
    return await _token_for(url, Redeem(id=1, invite=invite_code(invite), password=password,
                                        device=device), ssl_context)


def invite_code(invite: str) -> str:
    """The code of `http://HOST:PORT/#invite=CODE`, or `invite` itself when it is one."""
    return dict(parse_qsl(urlsplit(invite).fragment)).get("invite", invite)


def url_of_invite(invite: str | None) -> str:
    """The WebSocket URL of the server an invite link names (https → wss), else the
    default: `--invite LINK` needs no `--url`."""
    parts = urlsplit(invite or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return DEFAULT_URL
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/"


def password_for(handle: str) -> str:
    """The password of `--login`: asked for without echo on a terminal; piped, the first line."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"password for {handle}: ")
    return sys.stdin.readline().removesuffix("\n")


def new_password() -> str:
    """The password an invite sets: asked for twice without echo on a terminal (a typo
    would lock the person out); piped, the first line."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().removesuffix("\n")
    import getpass

    chosen = getpass.getpass("choose a password (10 characters or more): ")
    if getpass.getpass("the same password again: ") != chosen:
        raise SignInRefused("the two passwords differ; nothing was changed")
    return chosen
