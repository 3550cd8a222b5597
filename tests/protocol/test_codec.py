"""The codec: round trips of every frame class, the guarded decoder's limits and
exact types, and garbage only ever raising ProtocolError.

Frame strategies are built from each dataclass's type hints (the hints
protocol/frames.py turns into wire checks), and the classes are read from the
registries at run time, so frames added by later revisions are covered
without touching this file.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, Union

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpchat.protocol import (
    CLIENT_FRAMES,
    DEFAULT_LIMITS,
    SERVER_FRAME_LIMITS,
    SERVER_FRAMES,
    CloseCode,
    ErrorCode,
    Frame,
    Limits,
    Ping,
    ProtocolError,
    decode_client_frame,
    decode_map,
    decode_server_frame,
    encode,
)
from corpchat.protocol.frames import MAX_UINT

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECODERS = [decode_client_frame, decode_server_frame]


# ----- strategies ------------------------------------------------------------------------


uints = st.integers(min_value=0, max_value=MAX_UINT)
short_text = st.text(max_size=24)


def for_hint(hint: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return st.none() | for_hint(inner)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        item = frames_of(inner) if isinstance(inner, type) and issubclass(inner, Frame) \
            else for_hint(inner)
        return st.lists(item, max_size=3).map(tuple)
    if isinstance(hint, type) and issubclass(hint, Frame):
        return frames_of(hint)
    if hint is int:
        return uints
    if hint is str:
        return short_text
    if hint is bool:
        return st.booleans()
    if hint == dict[str, int]:
        return st.dictionaries(short_text, uints, max_size=6)
    raise TypeError(f"no strategy for {hint!r}")


@cache
def frames_of(cls: type[Frame]) -> st.SearchStrategy[Frame]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: for_hint(hints[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return st.builds(cls, **fields)


ALL_TYPES = sorted(set(CLIENT_FRAMES) | set(SERVER_FRAMES) | {"x.future"})
FIELD_NAMES = sorted({key for table in (CLIENT_FRAMES, SERVER_FRAMES) for cls in table.values()
                      for _attr, key, _check, _required in cls._spec})

_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats() | st.text(max_size=20) | st.binary(max_size=20)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8))
    | st.builds(msgpack.Timestamp, st.integers(0, 2**34 - 1), st.integers(0, 999_999_999))
)
_keys = (st.text(max_size=8) | st.sampled_from(FIELD_NAMES) | st.integers(-5, 5)
         | st.binary(max_size=4))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5)


# Any msgpack value, nested, including extensions and non-string keys.
values = st.recursive(_scalars, _containers, max_leaves=25)

# Maps that look like frames (a known type, known field names, any values), so
# the input reaches the field checks and not only the msgpack reader.
frame_like = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(ALL_TYPES),
    st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=6),
)


def packed(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


# ----- round trips ----------------------------------------------------------------------


ROUND_TRIP = settings(max_examples=50, deadline=None)

CLASSES = [
    pytest.param(cls, decode, id=f"{direction}:{kind}")
    for direction, table, decode in (("client", CLIENT_FRAMES, decode_client_frame),
                                     ("server", SERVER_FRAMES, decode_server_frame))
    for kind, cls in sorted(table.items())
]


@pytest.mark.parametrize(("cls", "decode"), CLASSES)
@ROUND_TRIP
@given(data=st.data())
def test_round_trip_in_canonical_encoding(cls: type[Frame], decode: Any,
                                          data: st.DataObject) -> None:
    frame = data.draw(frames_of(cls))
    encoded = encode(frame)
    assert decode(encoded) == frame
    # Canonical: `type` first, then the fields in declaration order, nil ones left out.
    wire = msgpack.unpackb(encoded, raw=False)
    assert list(wire) == ["type"] + [key for attr, key, _check, _req in cls._spec
                                     if getattr(frame, attr) is not None]
    assert wire["type"] == cls.TYPE
    # Decoders accept any key order.
    shuffled = data.draw(st.permutations(list(frame.to_wire().items())))
    assert decode(msgpack.packb(dict(shuffled), use_bin_type=True)) == frame


def test_msg_sender_travels_as_from() -> None:
    cls = SERVER_FRAMES["msg"]
    frame = cls(conv=1, seq=1, pos=1, sender="bob")
    wire = frame.to_wire()
    assert wire["from"] == "bob" and "sender" not in wire


def test_pages_nest_full_msg_maps() -> None:
    msg = SERVER_FRAMES["msg"](conv=1, seq=1, pos=1, sender="bob", text="hi")
    page = SERVER_FRAMES["sync.page"](re=1, msgs=(msg,), sync="1", more=False)
    wire = msgpack.unpackb(encode(page), raw=False)
    assert wire["msgs"] == [msgpack.unpackb(encode(msg), raw=False)]
    assert wire["msgs"][0]["type"] == "msg"


def _refused(data: bytes, decoder: Any = decode_client_frame, **kw: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decoder(data, **kw)
    assert info.value.remote
    return info.value


def _only_protocol_errors(data: bytes) -> None:
    for decoder in DECODERS:
        try:
            decoder(data)
        except ProtocolError as exc:
            assert exc.code in set(ErrorCode)
            assert exc.close is None or exc.close in set(CloseCode)


# ----- garbage --------------------------------------------------------------------------


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    _only_protocol_errors(data)


@pytest.mark.slow
@FUZZ
@given(values)
def test_arbitrary_msgpack_values_raise_only_protocol_error(value: Any) -> None:
    _only_protocol_errors(packed(value))


@pytest.mark.slow
@FUZZ
@given(frame_like)
def test_frame_like_maps_raise_only_protocol_error(value: dict[str, Any]) -> None:
    _only_protocol_errors(packed(value))


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_mutated_valid_frames_raise_only_protocol_error(data: st.DataObject) -> None:
    table = data.draw(st.sampled_from([CLIENT_FRAMES, SERVER_FRAMES]))
    cls = data.draw(st.sampled_from(sorted(table.values(), key=lambda c: c.TYPE)))
    raw = bytearray(encode(data.draw(frames_of(cls))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _only_protocol_errors(bytes(raw))


# ----- what the reader refuses ----------------------------------------------------------


def test_frame_over_the_byte_limit_is_too_large() -> None:
    data = packed({"type": "ping", "id": 1}) + b"\x00" * DEFAULT_LIMITS.max_frame_bytes
    error = _refused(data)
    assert (error.code, error.close) == (ErrorCode.FRAME_TOO_LARGE, CloseCode.MESSAGE_TOO_BIG)


def test_frame_of_exactly_the_byte_limit_is_read() -> None:
    base = len(packed({"type": "ping", "id": 1, "a": "", "b": ""}))
    room = DEFAULT_LIMITS.max_frame_bytes - base - 2 * 2  # str 16 headers for both strings
    half = room // 2
    data = packed({"type": "ping", "id": 1, "a": "x" * half, "b": "y" * (room - half)})
    assert len(data) == DEFAULT_LIMITS.max_frame_bytes
    assert decode_client_frame(data) == Ping(id=1)


def test_server_frames_may_be_larger_than_client_frames() -> None:
    data = packed({"type": "pong", "re": 1, "server_time": 5, "pad": ["x" * 30_000] * 4})
    assert len(data) > DEFAULT_LIMITS.max_frame_bytes
    assert decode_server_frame(data).re == 1
    assert _refused(data).code == ErrorCode.FRAME_TOO_LARGE
    too_big = packed({"type": "pong", "re": 1, "server_time": 5, "pad": ["x"] * 10})
    too_big += b"\x00" * SERVER_FRAME_LIMITS.max_frame_bytes
    assert _refused(too_big, decode_server_frame).code == ErrorCode.FRAME_TOO_LARGE


@pytest.mark.parametrize(("name", "value"), [
    ("string over max_str_bytes", "x" * (DEFAULT_LIMITS.max_str_bytes + 1)),
    ("bin over max_bin_bytes", b"x" * (DEFAULT_LIMITS.max_bin_bytes + 1)),
    ("array over max_array_len", [0] * (DEFAULT_LIMITS.max_array_len + 1)),
    ("map over max_map_len", {str(i): 0 for i in range(DEFAULT_LIMITS.max_map_len + 1)}),
    ("timestamp extension", msgpack.Timestamp(1_800_000_000, 5)),
    ("extension type 0", msgpack.ExtType(0, b"\x01")),
    ("extension type 127", msgpack.ExtType(127, b"")),
    ("bin key in a nested map", {b"k": 1}),
    ("int key in a nested map", {1: 1}),
    ("nil key in a nested map", {None: 1}),
    ("float key in a nested map", {1.5: 1}),
    ("array nested 8 deep under the top map", [[[[[[[[]]]]]]]]),
])
def test_unreadable_values_are_bad_frames(name: str, value: Any) -> None:
    error = _refused(packed({"type": "ping", "id": 1, "x": value}))
    assert (error.code, error.close) == (ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR), name
    assert error.request_id is None


@pytest.mark.parametrize("depth", [9, 50, 1000, 20_000, 300_000])
def test_deep_nesting_is_a_bad_frame(depth: int) -> None:
    arrays = b"\x81\xa1x" + b"\x91" * (depth - 2) + b"\x90"  # a map, then arrays
    maps = b"\x81\xa1x" * (depth - 1) + b"\x80"
    roomy = Limits(max_frame_bytes=1 << 20)  # so that depth, not size, is what fails
    for data in (arrays, maps):
        assert _refused(data, limits=roomy).code == ErrorCode.BAD_FRAME


def test_depth_limit_counts_the_top_level_map() -> None:
    ok = b"\x83\xa4type\xa4ping\xa2id\x01\xa1x" + b"\x91" * 6 + b"\x90"  # 8 levels
    assert decode_client_frame(ok) == Ping(id=1)
    assert _refused(ok, limits=Limits(max_depth=7)).code == ErrorCode.BAD_FRAME


@pytest.mark.parametrize("header", [
    b"\xdc\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xde\xff\xff", b"\xdf\xff\xff\xff\xff",
    b"\xd9\xff", b"\xda\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff",
])
def test_huge_length_headers_are_refused_without_allocating(header: bytes) -> None:
    assert _refused(b"\x81\xa1x" + header).code == ErrorCode.BAD_FRAME


def test_limits_are_taken_from_the_argument() -> None:
    data = packed({"type": "ping", "id": 1, "x": [1, 2, 3]})
    assert decode_client_frame(data) == Ping(id=1)
    assert _refused(data, limits=Limits(max_array_len=2)).code == ErrorCode.BAD_FRAME
    assert _refused(data, limits=Limits(max_frame_bytes=len(data) - 1)).code == \
        ErrorCode.FRAME_TOO_LARGE
    assert _refused(data, limits=Limits(max_map_len=2)).code == ErrorCode.BAD_FRAME


def test_decode_map_returns_the_plain_map() -> None:
    assert decode_map(packed({"type": "x", "n": [1, {"a": None}]})) == \
        {"type": "x", "n": [1, {"a": None}]}


# ----- exact types ---------------------------------------------------------------------


def _int_fields(cls: Any) -> list[str]:
    return [key for _attr, key, check, _req in cls._spec if check.__name__ == "_check_uint"]


INT_FIELDS = [
    pytest.param(direction, kind, key, id=f"{direction}:{kind}.{key}")
    for direction, table in (("client", CLIENT_FRAMES), ("server", SERVER_FRAMES))
    for kind, cls in sorted(table.items())
    for key in _int_fields(cls)
]


@pytest.mark.parametrize(("direction", "kind", "key"), INT_FIELDS)
@pytest.mark.parametrize("bad", [True, False, 1.0, math.nan, -1, 2**63, "1", b"\x01"],
                         ids=repr)
def test_int_fields_take_only_unsigned_ints(direction: str, kind: str, key: str, bad: Any) -> None:
    table = CLIENT_FRAMES if direction == "client" else SERVER_FRAMES
    decoder = decode_client_frame if direction == "client" else decode_server_frame
    wire = _minimal(table[kind])
    wire[key] = bad
    assert _refused(packed(wire), decoder).code == ErrorCode.BAD_REQUEST


def _minimal(cls: Any) -> dict[str, Any]:
    """The smallest valid wire map of `cls`: required fields only, simple values."""
    hints = typing.get_type_hints(cls)
    wire: dict[str, Any] = {"type": cls.TYPE}
    for f, (_attr, key, _check, required) in zip(dataclasses.fields(cls), cls._spec, strict=True):
        if required:
            wire[key] = _simplest(hints[f.name])
    return cls.from_wire(wire).to_wire()


def _simplest(hint: Any) -> Any:
    if typing.get_origin(hint) is tuple:
        return []
    if isinstance(hint, type) and issubclass(hint, Frame):
        return _minimal(hint)
    return {int: 1, str: "x", bool: False}.get(hint, {})


REQUIRED_FIELDS = [
    pytest.param(direction, kind, key, id=f"{direction}:{kind}.{key}")
    for direction, table in (("client", CLIENT_FRAMES), ("server", SERVER_FRAMES))
    for kind, cls in sorted(table.items())
    for _attr, key, _check, required in cls._spec if required
]


@pytest.mark.parametrize(("direction", "kind", "key"), REQUIRED_FIELDS)
def test_missing_or_nil_required_field_is_a_bad_request(direction: str, kind: str,
                                                         key: str) -> None:
    table = CLIENT_FRAMES if direction == "client" else SERVER_FRAMES
    decoder = decode_client_frame if direction == "client" else decode_server_frame
    wire = _minimal(table[kind])
    for variant in ({k: v for k, v in wire.items() if k != key}, {**wire, key: None}):
        error = _refused(packed(variant), decoder)
        assert (error.code, error.close) == (ErrorCode.BAD_REQUEST, None)
        if direction == "client" and key != "id":
            assert error.request_id == wire["id"]


def test_bool_for_int_is_refused_and_int_for_bool_too() -> None:
    ack = {"type": "ack", "re": 1, "conv": 1, "seq": 1, "pos": 1, "time": 1,
           "client_msg_id": "c"}
    assert decode_server_frame(packed(ack)).duplicate is False
    for bad in (0, 1, "true", 0.0):
        assert _refused(packed({**ack, "duplicate": bad}), decode_server_frame).code == \
            ErrorCode.BAD_REQUEST
    assert _refused(packed({**ack, "seq": True}), decode_server_frame).code == \
        ErrorCode.BAD_REQUEST


def test_unknown_type_carries_the_request_id() -> None:
    error = _refused(packed({"type": "teleport", "id": 77, "where": "mars"}))
    assert (error.code, error.request_id, error.close) == (ErrorCode.UNKNOWN_TYPE, 77, None)


def test_bad_request_carries_the_request_id_when_it_is_valid() -> None:
    assert _refused(packed({"type": "sync", "id": 5})).request_id == 5
    assert _refused(packed({"type": "sync", "id": True, "since": "0"})).request_id is None
    assert _refused(packed({"type": "sync", "id": -5, "since": "0"})).request_id is None


def test_unknown_fields_are_ignored() -> None:
    data = packed({"type": "ping", "id": 3, "future": {"nested": [1.5, None, b"\x00"]},
                   "nan": math.nan})
    assert decode_client_frame(data) == Ping(id=3)


def test_nil_for_an_optional_field_is_absent() -> None:
    frame = decode_client_frame(packed({"type": "sync", "id": 1, "since": "0", "limit": None}))
    assert frame.limit is None
    assert "limit" not in frame.to_wire()
