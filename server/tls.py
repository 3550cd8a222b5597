"""TLS on the listening port: wss:// and https:// with stdlib `ssl` through trio's SSLStream.

One SSLContext serves every new connection; `reload()` (on SIGHUP) builds a
fresh one from the same files and swaps it in: connections already open keep
the context they shook hands with, so nothing is dropped, and a certificate
that fails to load leaves the old one serving (logged, not fatal). TLS 1.2 is
the minimum; Python's defaults choose the ciphers (forward-secret AEAD only
for 1.2, every 1.3 suite).

A TLS connection cannot take the plain fast path (reading and writing the
socket's descriptor directly): the bytes on the wire are records, not
frames. server/connection.py and server/session.py therefore go through the
SSLStream for TLS connections and keep os.read/os.write for plain ones.
"""

from __future__ import annotations

import logging
import signal
import ssl

import trio

log = logging.getLogger("corpchat.server")


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for this certificate chain and key (raises OSError/SSLError)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])  # WebSocket upgrades ride HTTP/1.1
    context.load_cert_chain(cert_file, key_file)
    return context


class TlsUnusable(Exception):
    """The certificate or key cannot be loaded at start (the server does not start)."""


class Tls:
    """The serving context, reloadable."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        try:
            self.context = server_context(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsUnusable(f"cannot use the TLS certificate {cert_file} and key "
                              f"{key_file}: {exc}") from None
        self.reloads = 0

    def reload(self) -> bool:
        """Load the files again for new connections; False (old context kept) on failure."""
        try:
            self.context = server_context(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            log.error("TLS certificate reload failed, still serving the old one: %s", exc)
            return False
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.cert_file)
        return True

    async def reload_on_sighup(self) -> None:
        """Reload whenever the process gets SIGHUP (certbot's deploy hook, logrotate style)."""
        with trio.open_signal_receiver(signal.SIGHUP) as signals:
            async for _ in signals:
                self.reload()

    def wrap(self, stream: trio.SocketStream) -> trio.SSLStream[trio.SocketStream]:
        # Not https_compatible: aclose sends close_notify (a client then knows an HTTP
        # answer or a close frame is whole); a peer's EOF without one just ends the read.
        return trio.SSLStream(stream, self.context, server_side=True)
