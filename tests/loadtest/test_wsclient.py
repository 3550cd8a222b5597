"""The lean frame parser of the load generator, fed whole and split at every point."""

from __future__ import annotations

import struct

import pytest
from wsproto.frame_protocol import FrameProtocol

from corpchat.loadtest.wsclient import WsConnection, WsError, parse_url

SERVER = FrameProtocol(client=False, extensions=[])


def frames() -> tuple[bytes, list[bytes]]:
    small, medium, large = b"a" * 10, b"b" * 300, b"c" * 70_000
    data = SERVER.send_data(small, True) + SERVER.send_data(medium, True)
    data += SERVER.send_data(large, True)
    data += SERVER.send_data(b"frag-", False) + SERVER.send_data(b"ment", True)
    return bytes(data), [small, medium, large, b"frag-ment"]


def parse_in_chunks(data: bytes, cut: list[int]) -> list[bytes]:
    got: list[bytes] = []
    conn = WsConnection(got.append)
    start = 0
    for end in [*cut, len(data)]:
        conn.feed(data[start:end])
        start = end
    return got


def test_whole_and_split_at_every_point_give_the_same_messages():
    data, expected = frames()
    assert parse_in_chunks(data, []) == expected
    for cut in range(0, len(data), 97):
        assert parse_in_chunks(data, [cut]) == expected
    small = data[:400]
    assert parse_in_chunks(small, list(range(1, len(small)))) == expected[:2]


def test_a_close_frame_records_the_code_and_ends_the_connection():
    conn = WsConnection(lambda p: None)
    conn.feed(bytes(SERVER.close(4000, "resync")))
    assert conn.close_code == 4000
    assert conn.closed.is_set()


@pytest.mark.parametrize("frame", [
    bytes([0x82, 0x80 | 1]) + b"mask" + b"x",  # masked: servers must not mask
    bytes([0xC2, 1]) + b"x",  # RSV1 without an extension
    bytes([0x83, 1]) + b"x",  # a reserved opcode
    bytes([0x82, 127]) + struct.pack("!Q", 1 << 40),  # absurd length
])
def test_bad_frames_raise_our_error(frame):
    with pytest.raises(WsError):
        WsConnection(lambda p: None).feed(frame)


def test_urls():
    assert parse_url("ws://127.0.0.1:8765/") == ("127.0.0.1", 8765, "/")
    assert parse_url("ws://h:1/x?y=1") == ("h", 1, "/x?y=1")
    with pytest.raises(ValueError):
        parse_url("http://h/")
