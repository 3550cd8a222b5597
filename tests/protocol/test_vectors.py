"""The golden vectors in tests/vectors/ against the real codec.

The vectors are frozen files (docs/protocol.md, "Test vectors"): a change
of the codec that changes a byte fails here, on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from corpchat.protocol import (
    CLIENT_FRAMES,
    SERVER_FRAMES,
    ProtocolError,
    decode_client_frame,
    decode_server_frame,
    encode,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

# The frames of version 1's core and their fields in canonical order (the
# spec's tables). Later fields and frames (group conversations, recall, ...)
# are appended by their revision and get their vectors with it.
CORE_CLIENT_FIELDS = {
    "hello": ["id", "token", "device", "client"],
    "send": ["id", "client_msg_id", "text", "to", "conv"],
    "sync": ["id", "since", "limit"],
    "history": ["id", "conv", "before", "limit"],
    "ping": ["id"],
}
CORE_SERVER_FIELDS = {
    "welcome": ["re", "user", "session", "server_time", "sync", "limits", "protocol"],
    "msg": ["conv", "seq", "pos", "from", "time", "text", "client_msg_id", "to"],
    "ack": ["re", "conv", "seq", "pos", "time", "client_msg_id", "duplicate"],
    "sync.page": ["re", "msgs", "sync", "more"],
    "history.page": ["re", "conv", "msgs", "more"],
    "pong": ["re", "server_time"],
    "error": ["code", "message", "re", "retry_after_ms"],
}

def _load(name: str) -> list[dict[str, Any]]:
    with open(VECTORS / name, encoding="utf-8") as f:
        data = json.load(f)
    assert data["protocol"] == "corpchat.v1"
    return data["vectors"]


def _decoder(direction: str):
    return {"client": decode_client_frame, "server": decode_server_frame}[direction]


def _cases(name: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in _load(name)]


CANONICAL = [
    pytest.param("client", v, id=f"client: {v['name']}") for v in _load("client_frames.json")
] + [
    pytest.param("server", v, id=f"server: {v['name']}") for v in _load("server_frames.json")
]


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_canonical_vector_decodes_to_its_frame(direction: str, vector: dict[str, Any]) -> None:
    frame = _decoder(direction)(bytes.fromhex(vector["hex"]))
    assert frame.to_wire() == vector["frame"]
    assert list(frame.to_wire()) == list(vector["frame"])  # canonical key order


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_canonical_vector_encodes_to_its_hex(direction: str, vector: dict[str, Any]) -> None:
    table = CLIENT_FRAMES if direction == "client" else SERVER_FRAMES
    frame = table[vector["frame"]["type"]].from_wire(vector["frame"])
    assert encode(frame).hex() == vector["hex"]


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_any_msgpack_encoder_reproduces_the_hex_from_the_json(
        direction: str, vector: dict[str, Any]) -> None:
    """The JSON `frame`, packed in file order with the smallest encodings, is the hex."""
    assert msgpack.packb(vector["frame"], use_bin_type=True).hex() == vector["hex"]


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_every_proper_prefix_of_a_vector_is_refused(direction: str, vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    for cut in range(len(data)):
        with pytest.raises(ProtocolError) as info:
            _decoder(direction)(data[:cut])
        assert info.value.code == "bad_frame"


def test_vectors_cover_every_core_frame_type() -> None:
    client = {v["frame"]["type"] for v in _load("client_frames.json")}
    server = {v["frame"]["type"] for v in _load("server_frames.json")}
    assert client == set(CORE_CLIENT_FIELDS)
    assert server == set(CORE_SERVER_FIELDS)


@pytest.mark.parametrize(("table", "core"), [(CLIENT_FRAMES, CORE_CLIENT_FIELDS),
                                             (SERVER_FRAMES, CORE_SERVER_FIELDS)])
def test_core_fields_come_first_in_canonical_order(table: Any, core: dict[str, list[str]]) -> None:
    """New fields are appended, so the core vectors keep their bytes."""
    for kind, fields in core.items():
        keys = [key for _attr, key, _check, _required in table[kind]._spec]
        assert keys[: len(fields)] == fields, kind


def test_vectors_cover_every_core_field() -> None:
    seen: dict[str, set[str]] = {}
    for name in ("client_frames.json", "server_frames.json"):
        for v in _load(name):
            seen.setdefault(v["frame"]["type"], set()).update(v["frame"])
    for kind, fields in {**CORE_CLIENT_FIELDS, **CORE_SERVER_FIELDS}.items():
        assert set(fields) | {"type"} == seen[kind], kind


@pytest.mark.parametrize("vector", _cases("accepted.json"))
def test_non_canonical_encodings_are_accepted(vector: dict[str, Any]) -> None:
    frame = _decoder(vector["direction"])(bytes.fromhex(vector["hex"]))
    assert frame.to_wire() == vector["frame"]
    assert encode(frame).hex() == vector["canonical_hex"]
    assert vector["hex"] != vector["canonical_hex"]


@pytest.mark.parametrize("vector", _cases("invalid.json"))
def test_invalid_payloads_are_refused_with_their_code(vector: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        _decoder(vector["direction"])(bytes.fromhex(vector["hex"]))
    error = info.value
    assert error.remote
    assert (error.code, error.close) == (vector["code"], vector["close"])
    if vector["direction"] == "client":
        assert error.request_id == vector["re"]
