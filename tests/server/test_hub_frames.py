"""A plain message's delivery frame is built without the Msg dataclass (issue 24):
it must be exactly the bytes of `event_frame(message_event(msg))`."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from corpchat.server.hub import is_plain, message_event, plain_frame
from corpchat.server.wsframes import event_frame
from corpchat.store import Message
from corpchat.store.records import TEXT

ints = st.integers(min_value=0, max_value=2**53)
handles = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=20)

plain_messages = st.builds(
    Message, conv=ints, seq=ints, pos=ints, sender=handles, time_ms=ints,
    text=st.text(max_size=200), client_msg_id=st.one_of(st.just(""), st.text(max_size=36)),
    to=st.one_of(st.none(), handles), kind=st.sampled_from([TEXT, "system"]),
    event=st.one_of(st.none(), st.sampled_from(["create", "add", "recall"])),
    users=st.lists(handles, max_size=4).map(tuple), name=st.one_of(st.none(), st.text()),
    ref=st.one_of(st.none(), ints), recalled=st.booleans(), receipt=st.booleans(),
    urgent=st.booleans())


@given(plain_messages)
def test_a_plain_message_s_frame_is_the_dataclass_s(msg: Message) -> None:
    assert is_plain(msg)
    assert plain_frame(msg) == event_frame(message_event(msg))


def test_what_is_not_plain_takes_the_dataclass_path() -> None:
    msg = Message(conv=1, seq=1, pos=1, sender="ann", time_ms=1, text="hi", client_msg_id="c")
    assert is_plain(msg)
    assert not is_plain(replace(msg, mentions=("ben",)))
    assert not is_plain(replace(msg, notice=True))
    assert not is_plain(replace(msg, sender="robot:7"))
    assert not is_plain(replace(msg, markdown=True))  # 1.10's fields are not a plain frame's
    assert not is_plain(replace(msg, card=("Leave approved", "https://hr.example/l/1", "", "")))


@given(plain_messages, st.booleans())
def test_whatever_is_plain_has_the_dataclass_s_frame(msg: Message, markdown: bool) -> None:
    card = replace(msg, card=("t", "https://x.example", "", ""), markdown=markdown)
    for variant in (card, replace(msg, markdown=markdown)):
        if is_plain(variant):
            assert plain_frame(variant) == event_frame(message_event(variant))
