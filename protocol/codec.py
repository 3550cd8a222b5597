"""msgpack encoding and the guarded decoder for both directions.

Decoding is where untrusted bytes enter, so every step is bounded: the
frame's byte size, string/bin/array/map lengths (msgpack's own limits), map
keys (strings only), extensions (refused, and the timestamp type msgpack
decodes by itself is refused afterwards), and nesting depth. Whatever goes
wrong becomes a ProtocolError; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

from .errors import CloseCode, ErrorCode, ProtocolError
from .frames import CLIENT_FRAMES, SERVER_FRAMES, Frame
from .limits import DEFAULT_LIMITS, Limits

# What a client accepts from the server: pages are larger than requests.
SERVER_FRAME_LIMITS = Limits(max_frame_bytes=1024 * 1024, max_str_bytes=256 * 1024,
                             max_array_len=20_000)

_SCALARS = frozenset({str, int, bool, float, bytes, type(None)})


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def encode(frame: Frame) -> bytes:
    """The msgpack bytes of one frame (one WebSocket message payload)."""
    packed: bytes = msgpack.packb(frame.to_wire(), use_bin_type=True)  # msgpack has no hints
    return packed


def decode_map(data: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Bytes to a bounded, extension-free msgpack map."""
    if len(data) > limits.max_frame_bytes:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"frame of {len(data)} bytes exceeds {limits.max_frame_bytes}",
            close=CloseCode.MESSAGE_TOO_BIG,
        )
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_str_len=limits.max_str_bytes,
            max_bin_len=limits.max_bin_bytes,
            max_array_len=limits.max_array_len,
            max_map_len=limits.max_map_len,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"unreadable msgpack: {exc}",
                            close=CloseCode.PROTOCOL_ERROR) from None
    if type(value) is not dict:
        raise ProtocolError(ErrorCode.BAD_FRAME, "a frame must be a msgpack map",
                            close=CloseCode.PROTOCOL_ERROR)
    _check_depth(value, limits.max_depth)
    return value


def _check_depth(value: dict[Any, Any] | list[Any], budget: int) -> None:
    if budget <= 0:
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame nests too deeply",
                            close=CloseCode.PROTOCOL_ERROR)
    if type(value) is dict:
        # strict_map_key lets bin keys through; the protocol allows only str keys.
        if not all(type(key) is str for key in value):
            raise ProtocolError(ErrorCode.BAD_FRAME, "map keys must be strings",
                                close=CloseCode.PROTOCOL_ERROR)
        items: Iterable[Any] = value.values()
    else:
        items = value
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            _check_depth(item, budget - 1)
        elif kind not in _SCALARS:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"{kind.__name__} values are not allowed",
                                close=CloseCode.PROTOCOL_ERROR)


def _decode(data: bytes, table: dict[str, type[Frame]], limits: Limits) -> Frame:
    value = decode_map(data, limits)
    try:
        kind = value.get("type")
        if type(kind) is not str:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "frame has no string 'type'")
        cls = table.get(kind)
        if cls is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {value['type']!r}")
        return cls.from_wire(value)
    except ProtocolError as exc:
        exc.request_id = request_id(value)
        raise


def decode_client_frame(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """Decode a client-to-server frame (used by the server)."""
    return _decode(data, CLIENT_FRAMES, limits)


def decode_server_frame(data: bytes, limits: Limits = SERVER_FRAME_LIMITS) -> Frame:
    """Decode a server-to-client frame (used by clients)."""
    return _decode(data, SERVER_FRAMES, limits)


def request_id(value: dict[str, Any]) -> int | None:
    """The `id` of a decoded map if it is a valid one, for error replies."""
    rid = value.get("id")
    return rid if type(rid) is int and 0 <= rid < 2**63 else None
