"""The admin socket's framing (protocol/admin.py): both readers fed whole, byte by
byte and split at every point, and garbage only ever raising AdminError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpchat.protocol.admin import (
    AdminError,
    AnswerReader,
    RequestReader,
    Result,
    Row,
    StreamEnd,
    StreamStart,
    encode_refusal,
    encode_request,
    encode_result,
    encode_row,
    encode_stream_end,
    encode_stream_start,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STREAM = encode_stream_start() + encode_row({"n": 1}) + encode_row("two") + encode_stream_end(2)


def pieces(data: bytes) -> list[list[bytes]]:
    """`data` whole, byte by byte, and split in two at every point."""
    return [[data], [data[i:i + 1] for i in range(len(data))],
            *([data[:i], data[i:]] for i in range(1, len(data)))]


def answers_of(chunks: list[bytes]) -> list[object]:
    reader, found = AnswerReader(), []
    for chunk in chunks:
        reader.receive_data(chunk)
        found += reader.answers()
    return found


def request_of(chunks: list[bytes]) -> dict | None:
    reader = RequestReader()
    for chunk in chunks:
        if (request := reader.receive_data(chunk)) is not None:
            return request
    return None


@pytest.mark.parametrize("chunks", pieces(encode_request("user.add", {"handle": "ann"})))
def test_a_request_arrives_however_it_is_split(chunks):
    assert request_of(chunks) == {"cmd": "user.add", "args": {"handle": "ann"}}


def test_a_request_without_args_carries_an_empty_map():
    assert request_of([encode_request("stats")]) == {"cmd": "stats", "args": {}}


@pytest.mark.parametrize(("data", "why"), [
    (msgpack.packb([1, 2]), "a request is a map"),
    (b"\xc1", "unreadable request"),  # a byte msgpack never uses
    (msgpack.packb({1: "x"}), "unreadable request"),  # keys are strings
])
def test_a_request_that_is_not_one_map_is_a_bad_request(data, why):
    with pytest.raises(AdminError, match=why) as refused:
        RequestReader().receive_data(data)
    assert refused.value.code == "bad_request"


def test_a_request_past_its_bound_is_a_bad_request():
    reader = RequestReader(max_bytes=64)
    with pytest.raises(AdminError) as refused:
        reader.receive_data(encode_request("x", {"text": "y" * 100}))
    assert refused.value.code == "bad_request"


@pytest.mark.parametrize("chunks", pieces(encode_result({"users": 3})))
def test_a_result_arrives_however_it_is_split(chunks):
    assert answers_of(chunks) == [Result({"users": 3})]


@pytest.mark.parametrize("chunks", pieces(STREAM))
def test_a_stream_arrives_row_by_row(chunks):
    assert answers_of(chunks) == [StreamStart(), Row({"n": 1}), Row("two"), StreamEnd(2)]


def test_a_refusal_raises_its_code_and_message():
    with pytest.raises(AdminError) as refused:
        answers_of([encode_refusal("not_found", "no user 'zed'")])
    assert (refused.value.code, refused.value.message) == ("not_found", "no user 'zed'")


@pytest.mark.parametrize("data", [msgpack.packb(7), b"\xc1", msgpack.packb({1: 2})])
def test_an_answer_that_is_not_a_map_is_a_bad_answer(data):
    with pytest.raises(AdminError) as refused:
        answers_of([data])
    assert refused.value.code == "bad_answer"


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_garbage_requests_only_ever_raise_admin_error(chunks):
    try:
        request = request_of(chunks)
    except AdminError as exc:
        assert exc.code == "bad_request"
    else:
        assert request is None or isinstance(request, dict)


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_garbage_answers_only_ever_raise_admin_error(chunks):
    try:
        answers_of(chunks)
    except AdminError:
        pass


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["ok", "result", "stream", "row", "end", "count",
                                       "error", "message"]) | st.text(max_size=4), inner,
                      max_size=4),
    max_leaves=12)


@FUZZ
@given(st.lists(values, max_size=4))
def test_any_msgpack_answer_gives_answers_or_admin_error(items):
    try:
        found = answers_of([b"".join(msgpack.packb(item) for item in items)])
    except AdminError:
        return
    assert all(isinstance(a, Result | StreamStart | Row | StreamEnd) for a in found)
