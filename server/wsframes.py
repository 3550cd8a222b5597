"""Server-to-client WebSocket frames, built once and shared by every receiver.

Server frames are unmasked and we negotiate no extensions, so the bytes of
a frame are the same for every connection: fan-out builds an event's frame
once (wsproto's own serializer) and hands the same bytes to each session.
"""

from __future__ import annotations

from wsproto.frame_protocol import FrameProtocol

from corpchat.protocol import Frame, encode

# Used only to serialize complete binary messages (fin=True), so it keeps no
# state between calls.
_SERIALIZER = FrameProtocol(client=False, extensions=[])


def binary_frame(payload: bytes) -> bytes:
    """One complete binary WebSocket message carrying `payload`."""
    return _SERIALIZER.send_data(payload, fin=True)


def event_frame(frame: Frame) -> bytes:
    """A protocol frame, msgpack-encoded, as WebSocket frame bytes."""
    return binary_frame(encode(frame))
