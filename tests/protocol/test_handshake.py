"""The upgrade request read without wsproto (protocol/handshake.py) against wsproto's reading.

Whatever `parse_upgrade` accepts, wsproto accepts with the same subprotocols and
key (so the same 101); whatever wsproto refuses, `parse_upgrade` leaves to it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import Request
from wsproto.utilities import RemoteProtocolError

from corpchat.protocol.handshake import FastUpgrade, HandshakeRefused, Upgrading, parse_upgrade

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
COMMON = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
          b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: corpchat.v1\r\n\r\n")


def by_wsproto(head: bytes) -> Request | None:
    ws = WSConnection(ConnectionType.SERVER)
    try:
        ws.receive_data(head)
        return next((e for e in ws.events() if isinstance(e, Request)), None)
    except (RemoteProtocolError, UnicodeError):
        return None


def key_of(request: Request) -> bytes:
    return next(v for n, v in request.extra_headers if n == b"sec-websocket-key")


def test_the_common_head_is_read_here():
    assert parse_upgrade(COMMON) == FastUpgrade(("corpchat.v1",), KEY, COMMON)
    upgrading = Upgrading(COMMON)
    assert isinstance(upgrading.request, FastUpgrade)
    assert upgrading.subprotocols == ("corpchat.v1",)


@pytest.mark.parametrize("head", [
    COMMON.replace(b"GET", b"POST"),
    COMMON.replace(b"HTTP/1.1", b"HTTP/1.0"),
    COMMON.replace(b"Host: 127.0.0.1:8080\r\n", b""),
    COMMON.replace(b"Host: 127.0.0.1:8080", b"Host: xn--x"),  # the idna codec refuses it
    COMMON.replace(b"Connection: Upgrade", b"Connection: keep-alive"),
    COMMON.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"),
    COMMON.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
    COMMON.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
    COMMON.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"),
    COMMON.replace(b"\r\n\r\n", b"\r\nHost: other\r\n\r\n"),  # twice
    COMMON.replace(b"Upgrade: websocket", b"Upgrade:\twebsocket"),  # a tab
    COMMON.replace(b"\r\nUpgrade", b"\nUpgrade"),  # a bare LF
    COMMON.replace(b"\r\nUpgrade", b"\r\n Upgrade"),  # obs-fold
    COMMON.replace(b"corpchat.v1", "é".encode()),  # obs-text
])
def test_anything_uncommon_is_left_to_wsproto(head):
    assert parse_upgrade(head) is None


def test_a_head_wsproto_refuses_is_refused_with_its_answer():
    head = COMMON.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
    with pytest.raises(HandshakeRefused) as refused:
        Upgrading(head)
    assert refused.value.answer.startswith(b"HTTP/1.1 426 ")


def test_a_refusal_of_a_head_read_here_is_wsproto_s():
    from wsproto.events import RejectConnection

    upgrading = Upgrading(COMMON)
    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(COMMON)
    list(ws.events())
    assert upgrading.refuse(RejectConnection(status_code=503)) == ws.send(
        RejectConnection(status_code=503))


NAMES = st.sampled_from([b"Host", b"host", b"HOST", b"Upgrade", b"upgrade", b"Connection",
                         b"Sec-WebSocket-Key", b"sec-websocket-key", b"Sec-WebSocket-Version",
                         b"Sec-WebSocket-Protocol", b"sec-websocket-protocol", b"User-Agent",
                         b"Origin", b"Content-Length", b"Transfer-Encoding", b"X-A",
                         b"Sec-WebSocket-Extensions", b"Bad Name", b"", b"Host:"])
VALUES = st.one_of(
    st.sampled_from([b"websocket", b"WebSocket", b"Upgrade", b"keep-alive, Upgrade", b"upgrade,",
                     b"13", b"8", b"", b" ", b"127.0.0.1:80", b"[::1]:80", b"a..b", b"xn--x",
                     KEY, b"corpchat.v1", b"a, b ,c", b",", b"chat, corpchat.v1", b"x\ty",
                     b"0", b"chunked", b"\xff", b"a" * 70 + b".example"]),
    st.binary(max_size=12))


def heads() -> st.SearchStrategy[bytes]:
    line = st.sampled_from([b"GET / HTTP/1.1", b"GET /ws?x=1 HTTP/1.1", b"GET / HTTP/1.1",
                            b"POST / HTTP/1.1", b"GET / HTTP/1.0", b"GET  / HTTP/1.1",
                            b"get / HTTP/1.1"])
    base = [(b"Host", b"h:1"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", KEY), (b"Sec-WebSocket-Version", b"13")]
    benign = st.tuples(st.sampled_from([b"Sec-WebSocket-Protocol", b"User-Agent", b"Origin"]),
                       st.sampled_from([b"corpchat.v1", b"a, b ,c", b"", b"x y", b"chat"]))
    extra = st.one_of(st.lists(benign, max_size=3), st.lists(st.tuples(NAMES, VALUES), max_size=4))
    spaces = st.sampled_from([b"", b" ", b"  "])

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        keep = draw(st.sampled_from([1.0, 0.75]))  # every header wsproto needs, or some
        headers = [h for h in base if draw(st.floats(0, 1)) < keep]
        headers += draw(extra)
        headers = draw(st.permutations(headers))
        lines = [draw(line)]
        for name, value in headers:
            lines.append(name + b":" + draw(spaces) + value + draw(spaces))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    return build()


@settings(max_examples=600, deadline=None)
@given(heads())
def test_read_here_only_what_wsproto_reads_the_same(head):
    fast = parse_upgrade(head)
    if fast is None:
        return
    request = by_wsproto(head)
    assert request is not None, head
    assert (fast.subprotocols, fast.key) == (tuple(request.subprotocols), key_of(request))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_never_read_here(data):
    head = data + b"\r\n\r\n"
    fast = parse_upgrade(head)
    if fast is not None:
        request = by_wsproto(head)
        assert request is not None
        assert (fast.subprotocols, fast.key) == (tuple(request.subprotocols), key_of(request))
