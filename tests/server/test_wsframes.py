"""The fan-out serializer writes exactly the bytes wsproto would, and the
pre-encoded `ok`, `ack` and `reaction` are exactly the dataclasses' frames."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol

from corpchat.protocol import Ack, Ok, ReactionChange, ReactionEvent
from corpchat.server.wsframes import (
    ack_frame,
    binary_frame,
    event_frame,
    ok_frame,
    reaction_frame,
)

WSPROTO = FrameProtocol(client=False, extensions=[])


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_binary_frame_matches_wsproto(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert binary_frame(payload) == WSPROTO.send_data(payload, fin=True)


@pytest.mark.parametrize("re, conv, seq", [(0, 1, 1), (7, 2**20, 2**33), (2**31, 5, 0)])
def test_ok_frame_matches_the_dataclass(re: int, conv: int, seq: int) -> None:
    assert ok_frame(re, conv, seq) == event_frame(Ok(re=re, conv=conv, seq=seq))
    assert ok_frame(re, conv, seq, conv + 1) == event_frame(Ok(re=re, conv=conv, seq=seq,
                                                               pos=conv + 1))


emoji = st.sampled_from(["👍", "❤️", "😂", "👍🏽", "🇨🇳", "x"])


@given(conv=st.integers(0, 2**40), seq=st.integers(0, 2**40), pos=st.integers(0, 2**40),
       reactions=st.dictionaries(emoji, st.integers(0, 2**20), max_size=6),
       changes=st.lists(st.tuples(st.text(max_size=20), emoji, st.booleans()), max_size=5))
def test_reaction_frame_matches_the_dataclass(conv, seq, pos, reactions, changes):
    assert reaction_frame(conv, seq, pos, reactions, changes) == event_frame(ReactionEvent(
        conv=conv, seq=seq, pos=pos, reactions=reactions,
        changes=tuple(ReactionChange(user=u, emoji=e, on=on) for u, e, on in changes) or None))


@given(re=st.integers(0, 2**40), conv=st.integers(0, 2**40), seq=st.integers(0, 2**40),
       pos=st.integers(0, 2**40), time=st.integers(0, 2**50),
       cmid=st.text(max_size=40), duplicate=st.booleans(),
       resting=st.one_of(st.none(), st.integers(0, 2**50)))
def test_ack_frame_matches_the_dataclass(re, conv, seq, pos, time, cmid, duplicate, resting):
    assert ack_frame(re, conv, seq, pos, time, cmid, duplicate, resting) == event_frame(Ack(
        re=re, conv=conv, seq=seq, pos=pos, time=time, client_msg_id=cmid,
        duplicate=duplicate, recipient_resting_until=resting))


# ----- the inbound fast path: the same messages as wsproto, or leaves the bytes to it -----

from wsproto import ConnectionType  # noqa: E402
from wsproto.connection import Connection  # noqa: E402
from wsproto.events import BytesMessage, Message, Ping, TextMessage  # noqa: E402

from corpchat.server.wsframes import take_binary_frames  # noqa: E402

frame_event = st.one_of(
    st.binary(max_size=300).map(lambda b: BytesMessage(data=b)),
    st.just(BytesMessage(data=b"x" * 200)),  # a 16-bit length
    st.just(BytesMessage(data=b"y" * 70000)),  # a 64-bit length: left to wsproto
    st.binary(max_size=50).map(lambda b: BytesMessage(data=b, message_finished=False)),
    st.text(max_size=20).map(lambda t: TextMessage(data=t)),
    st.binary(max_size=20).map(lambda b: Ping(payload=b)),
)


def _drain(server: Connection, data: bytes, out: list) -> list:
    server.receive_data(data)
    try:
        for event in server.events():
            out.append(event)
    except Exception as exc:  # noqa: BLE001 - the refusal itself is compared
        out.append(exc)
    return out


def _through_wsproto(data: bytes) -> list:
    return _drain(Connection(ConnectionType.SERVER), data, [])


def _through_fast_path(data: bytes) -> list:
    payloads, rest = take_binary_frames(data)
    out: list = [BytesMessage(data=p, frame_finished=True, message_finished=True)
                 for p in payloads]
    return _drain(Connection(ConnectionType.SERVER), rest, out)


def _key(event: object) -> tuple:
    if isinstance(event, Message):
        return (type(event).__name__, bytes(event.data) if isinstance(event.data, bytes | bytearray)
                else event.data, event.frame_finished, event.message_finished)
    return (type(event).__name__, str(event) if isinstance(event, Exception) else repr(event))


@given(events=st.lists(frame_event, max_size=6), cut=st.integers(min_value=0, max_value=400))
def test_fast_path_gives_what_wsproto_gives(events: list, cut: int) -> None:
    # each frame from a fresh client: sequences a real client would refuse to send, too
    data = b"".join(bytes(Connection(ConnectionType.CLIENT).send(e)) for e in events)
    data = data[:len(data) - min(cut, len(data))] if cut % 3 == 0 else data
    assert [_key(e) for e in _through_fast_path(data)] == [_key(e) for e in _through_wsproto(data)]


@pytest.mark.parametrize("data", [
    b"\x82\x05hello",  # unmasked: wsproto refuses
    b"\x82\xfe\x00\x05abcd" + b"hello",  # non-minimal 16-bit length
    b"\xc2\x80abcd",  # RSV1
])
def test_fast_path_leaves_bad_frames_to_wsproto(data: bytes) -> None:
    payloads, rest = take_binary_frames(data)
    assert payloads == [] and rest == data
