"""RFC 6455 frame bytes without wsproto's machinery: what the server's hot paths need.

Outbound: server frames are unmasked and we negotiate no extensions, so the
bytes of a frame are the same for every connection — fan-out builds an
event's frame once and hands the same bytes to each session.
`binary_frame` writes exactly what wsproto's serializer writes
(tests/server/test_wsframes.py compares them), in a fraction of its time.

Inbound: `frame_head` reads a frame's header (cheap: no unmasking), so the
server connection (protocol/server.py) knows where every frame ends and can
hand wsproto only whole frames; `take_binary_frames` unmasks the common
case (a complete, single-frame, masked binary message) itself, at ≈ 1 µs
instead of wsproto's ≈ 14 µs a frame.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from wsproto.utilities import generate_accept_token

_U16 = struct.Struct("!BBH").pack
_U64 = struct.Struct("!BBQ").pack
BINARY_FIN = 0x82  # FIN, no RSV bits, opcode 2
CLOSE_OPCODE = 0x8


def binary_frame(payload: bytes) -> bytes:
    """One complete, unmasked binary WebSocket message carrying `payload`."""
    n = len(payload)
    if n < 126:
        return bytes((0x82, n)) + payload
    if n < 65536:
        return _U16(0x82, 126, n) + payload
    return _U64(0x82, 127, n) + payload


class FrameHead(NamedTuple):
    first: int  # FIN, RSV and opcode bits
    start: int  # where the payload begins (after the mask key, if any)
    stop: int  # where the frame ends

    @property
    def opcode(self) -> int:
        return self.first & 0x0F

    @property
    def fin(self) -> bool:
        return bool(self.first & 0x80)


def frame_head(data: bytes, at: int) -> FrameHead | None:
    """The header of the frame starting at `data[at]`, or None if it is not all there.

    Structural only: a header wsproto would refuse (RSV bits, a bad opcode, no
    mask, a non-minimal length) is read the same way, and the frame is left to
    wsproto to refuse.
    """
    end = len(data)
    if end - at < 2:
        return None
    length = data[at + 1] & 0x7F
    pos = at + 2
    if length == 126:
        if end - pos < 2:
            return None
        length = int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
    elif length == 127:
        if end - pos < 8:
            return None
        length = int.from_bytes(data[pos:pos + 8], "big")
        pos += 8
    if data[at + 1] & 0x80:
        if end - pos < 4:
            return None
        pos += 4
    return FrameHead(data[at], pos, pos + length)


def take_binary_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Unmask the complete, single-frame binary messages at the front of `data`.

    Returns their payloads and the bytes from the first frame that is anything
    else (see `scan_binary_frames`).
    """
    payloads: list[bytes] = []
    at = scan_binary_frames(data, 0, payloads)
    return payloads, data[at:] if at else data


def scan_binary_frames(data: bytes, at: int, payloads: list[bytes]) -> int:
    """Append the payloads of the complete single-frame binary messages from `data[at]` on;
    return where the first frame that is anything else begins.

    The common inbound case (a client request: FIN, opcode 2, no RSV bits,
    masked, length in 7 or 16 bits). Anything else — incomplete, fragmented,
    control, text, unmasked, RSV bits, a non-minimal or 64-bit length — is
    left where it is, for wsproto, so every refusal stays wsproto's. Only valid
    at a frame edge with no fragmented message in progress.
    """
    end = len(data)
    while end - at >= 6 and data[at] == BINARY_FIN and data[at + 1] & 0x80:
        length = data[at + 1] & 0x7F
        head = at + 2
        if length == 126:
            if end - at < 8:
                break
            length = (data[head] << 8) | data[head + 1]
            if length < 126:  # wsproto refuses a non-minimal length
                break
            head += 2
        elif length == 127:
            break
        stop = head + 4 + length
        if stop > end:
            break
        payloads.append(unmask(data[head + 4:stop], data[head:head + 4]))
        at = stop
    return at


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def upgrade_accepted(key: bytes, subprotocol: str | None) -> bytes:
    """The 101 answering a WebSocket upgrade with `Sec-WebSocket-Key: key`, exactly as
    wsproto's `AcceptConnection(subprotocol=...)` writes it (no extensions; tests/protocol
    compares the two), built here without h11's response writer."""
    lines = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Accept: ", generate_accept_token(key),
             b"\r\n"]
    if subprotocol is not None:
        lines += [b"Sec-WebSocket-Protocol: ", subprotocol.encode("ascii"), b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)
