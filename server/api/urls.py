"""Which callback URLs the server will call."""

from __future__ import annotations

from urllib.parse import urlsplit


def callback_url_problem(url: str, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why the server will not call `url`, or None: http(s) with a host only, and
    (when the operator lists any, `platform.callback_hosts`) only the listed hosts."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return "the callback URL is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        return "the callback URL must be an http(s) URL with a host"
    if allowed_hosts and parts.hostname.lower() not in allowed_hosts:
        return f"{parts.hostname} is not in the callback_hosts allow-list"
    return None
