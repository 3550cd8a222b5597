"""TLS on the listening port: wss:// and https:// with a generated certificate (trustme),
TLS 1.2 as the floor, certificate reload on SIGHUP without dropping connections, and
the terminal client over wss://."""

from __future__ import annotations

import dataclasses
import os
import signal
import ssl
import warnings

import pytest
import trio
import trustme
from trio_websocket import connect_websocket_url

from corpchat.protocol import (
    SUBPROTOCOL,
    DeviceRevoke,
    Hello,
    LoggedIn,
    Login,
    Ok,
    Ping,
    Pong,
    Send,
    Welcome,
    decode_server_frame,
    encode,
)
from corpchat.server import ServerConfig
from corpchat.server.tls import Tls, TlsUnusable

from ..conftest import running_server
from .test_client_cli import Running

PASSWORD = "tulip bicycle 42"


def write_cert(ca: trustme.CA, directory) -> tuple[str, str]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = os.fspath(directory / "chain.pem"), os.fspath(directory / "key.pem")
    cert.private_key_and_cert_chain_pem.write_to_path(chain)
    cert.private_key_pem.write_to_path(key)
    return chain, key


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_config(server_config, ca, tmp_path) -> ServerConfig:
    chain, key = write_cert(ca, tmp_path)
    return dataclasses.replace(server_config, tls_cert=chain, tls_key=key)


def wss(server) -> str:
    return server.url.replace("ws://", "wss://")


class Wss:
    """A minimal wss:// client connection: send a frame, read the next one."""

    def __init__(self, ws) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, nursery, url: str, context: ssl.SSLContext) -> Wss:
        with trio.fail_after(5):
            return cls(await connect_websocket_url(nursery, url, ssl_context=context,
                                                   subprotocols=[SUBPROTOCOL]))

    async def ask(self, frame):
        with trio.fail_after(5):
            await self.ws.send_message(encode(frame))
            return decode_server_frame(await self.ws.get_message())


async def https_get(port: int, path: str, context: ssl.SSLContext) -> bytes:
    with trio.fail_after(5):
        stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context,
                                                     https_compatible=True)
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        answer = b""
        while chunk := await stream.receive_some(65536):
            answer += chunk
        return answer


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1].strip("/"))


async def test_wss_and_https_on_the_same_port(nursery, tls_config, ca, clock):
    async with running_server(nursery, tls_config, clock) as server:
        token = await server.user("alice")
        ws = await Wss.open(nursery, wss(server), trusting(ca))
        welcome = await ws.ask(Hello(id=1, token=token))
        assert isinstance(welcome, Welcome) and welcome.user == "alice"
        pong = await ws.ask(Ping(id=2))
        assert isinstance(pong, Pong)
        answer = await https_get(port_of(server), "/healthz", trusting(ca))
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\nok\n")


async def test_the_invite_link_says_https_under_tls(nursery, tls_config, clock):
    async with running_server(nursery, tls_config, clock) as server:
        await server.admin("corp.add", name="acme")
        added = await server.admin("user.add", handle="alice", corp="acme")
        assert added["invite_link"].startswith("https://127.0.0.1:")


async def test_plain_ws_is_refused_and_tls_below_1_2_too(nursery, tls_config, ca, clock):
    async with running_server(nursery, tls_config, clock) as server:
        with pytest.raises(Exception):  # noqa: B017 - a plain client gets no WebSocket
            with trio.fail_after(5):
                await connect_websocket_url(nursery, server.url, subprotocols=[SUBPROTOCOL])
        old = trusting(ca)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():  # deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, trio.BrokenResourceError, OSError)):
            await https_get(port_of(server), "/healthz", old)
        # the refused handshakes did not stop the server
        assert (await https_get(port_of(server), "/healthz", trusting(ca))).endswith(b"ok\n")


async def test_sighup_reloads_the_certificate_and_keeps_connections(nursery, tls_config,
                                                                     tmp_path, clock):
    async with running_server(nursery, tls_config, clock) as server:
        token = await server.user("alice")
        tls = server.app.tls
        old_context = tls.context
        new_ca = trustme.CA()
        write_cert(new_ca, tmp_path)  # the same paths as tls_config's
        os.kill(os.getpid(), signal.SIGHUP)
        with trio.fail_after(5):
            while tls.context is old_context:
                await trio.sleep(0.01)
        ws = await Wss.open(nursery, wss(server), trusting(new_ca))
        assert isinstance(await ws.ask(Hello(id=1, token=token)), Welcome)
        assert tls.reloads == 1


async def test_a_connection_opened_before_a_reload_stays(nursery, tls_config, ca, tmp_path,
                                                         clock):
    async with running_server(nursery, tls_config, clock) as server:
        token = await server.user("alice")
        ws = await Wss.open(nursery, wss(server), trusting(ca))
        assert isinstance(await ws.ask(Hello(id=1, token=token)), Welcome)
        write_cert(trustme.CA(), tmp_path)
        assert server.app.tls.reload()
        assert isinstance(await ws.ask(Ping(id=2)), Pong)


def test_a_reload_that_fails_keeps_the_old_certificate(ca, tmp_path):
    chain, key = write_cert(ca, tmp_path)
    tls = Tls(chain, key)
    before = tls.context
    with open(key, "w") as f:
        f.write("not a key")
    assert not tls.reload() and tls.context is before
    with pytest.raises(TlsUnusable):
        Tls(chain, key)


async def test_revoked_device_is_closed_with_4001_over_tls(nursery, tls_config, ca, clock):
    async with running_server(nursery, tls_config, clock) as server:
        await server.user("alice")
        await server.admin("user.password", handle="alice", password=PASSWORD)
        context = trusting(ca)
        laptop = await Wss.open(nursery, wss(server), context)
        phone = await Wss.open(nursery, wss(server), context)
        tokens = []
        for n, ws in enumerate((laptop, phone)):
            logged = await ws.ask(Login(id=n, handle="alice", password=PASSWORD, device="d"))
            assert isinstance(logged, LoggedIn)
            assert isinstance(await ws.ask(Hello(id=9, token=logged.token)), Welcome)
            tokens.append(logged.token_id)
        assert isinstance(await laptop.ask(DeviceRevoke(id=3, token_id=tokens[1])), Ok)
        with trio.fail_after(5):
            while not phone.ws.closed:
                try:
                    await phone.ws.get_message()
                except Exception:  # noqa: BLE001 - ConnectionClosed ends the loop
                    break
        assert phone.ws.closed.code == 4001


async def test_the_terminal_client_chats_over_wss(nursery, tls_config, ca, clock):
    async with running_server(nursery, tls_config, clock) as server:
        context = trusting(ca)
        alice = await Running(nursery, wss(server), await server.user("alice"),
                              ssl_context=context).connected()
        bob = await Running(nursery, wss(server), await server.user("bob"),
                            ssl_context=context).connected()
        await alice.terminal.type("/to bob", "over tls")
        await bob.terminal.wait_for("alice -> bob: over tls")
        for running in (alice, bob):
            await running.terminal.type("/quit")
            assert await running.finished() == 0


def test_plain_is_the_embedded_default():
    config = ServerConfig()
    assert (config.host, config.tls) == ("127.0.0.1", False)
    with pytest.raises(ValueError):
        ServerConfig(tls_cert="chain.pem")  # without its key


async def test_a_tls_client_that_stops_reading_is_closed_not_waited_for(nursery, tls_config,
                                                                          ca, clock):
    """The outbound bound holds under TLS too: a reader that stops is closed for a
    resync (or dropped once its grace is over), and the sender is never held up."""
    config = dataclasses.replace(tls_config, outbound_buffer_bytes=64 * 1024,
                                 requests_per_s=100_000.0, request_burst=100_000)
    async with running_server(nursery, config, clock) as server:
        context = trusting(ca)
        stalled = await Wss.open(nursery, wss(server), context)
        assert isinstance(await stalled.ask(Hello(id=1, token=await server.user("alice"))),
                          Welcome)
        sender = await Wss.open(nursery, wss(server), context)
        assert isinstance(await sender.ask(Hello(id=1, token=await server.user("bob"))),
                          Welcome)
        text = "x" * 4000
        with trio.fail_after(30):
            n = 0
            while not server.app.hub.stats.slow_closes:
                n += 1
                await sender.ws.send_message(encode(Send(id=n, client_msg_id=f"m{n}",
                                                         text=text, to="alice")))
                await sender.ws.get_message()  # its ack: the sender is never held up
        assert server.app.hub.stats.slow_closes == 1
        assert isinstance(await sender.ask(Ping(id=10**6)), Pong)
