"""A plain message's delivery frame is built without the Msg dataclass (issue 24),
and so are a mention's and a reply's (issue 20): each must be exactly the bytes of
`event_frame(message_event(msg))` (marked for its receiver)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from corpchat.server.everyday_fanout import marked
from corpchat.server.hub import is_plain, is_simple, message_event, plain_frame, simple_frame
from corpchat.server.wsframes import event_frame
from corpchat.store import Message
from corpchat.store.records import TEXT, Quote

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


# Issue 20, round 3: a mention's or a reply's variants are built without the dataclass
# too (simple_frame); each must be the bytes the dataclass path gives that receiver.
quotes = st.one_of(st.none(), st.builds(
    Quote, seq=ints, sender=handles, kind=st.sampled_from([TEXT, "image", "file"]),
    text=st.text(max_size=100), pos=ints))
mentions = st.one_of(st.just(()), st.lists(st.one_of(handles, st.just("all")), min_size=1,
                                             max_size=3).map(tuple))


@given(plain_messages, mentions, quotes, st.booleans(), st.booleans(), st.booleans())
def test_a_mention_s_or_a_reply_s_variants_are_the_dataclass_s(
        msg: Message, mentioned_handles: tuple[str, ...], quote: Quote | None, silent: bool,
        mentioned: bool, unquoted: bool) -> None:
    msg = replace(msg, mentions=mentioned_handles, quote=quote)
    assert is_simple(msg)
    event = message_event(msg)
    if silent or mentioned or unquoted:
        event = marked(event, silent, mentioned, unquoted)
    assert simple_frame(msg, silent, mentioned, unquoted) == event_frame(event)


def test_what_is_not_simple_takes_the_dataclass_path() -> None:
    msg = Message(conv=1, seq=1, pos=1, sender="ann", time_ms=1, text="hi", client_msg_id="c",
                  mentions=("ben",), quote=Quote(1, "ben", TEXT, "hi", 1))
    assert is_simple(msg) and not is_plain(msg)
    assert not is_simple(replace(msg, notice=True))
    assert not is_simple(replace(msg, version=2))
    assert not is_simple(replace(msg, sender="robot:7"))
    assert not is_simple(replace(msg, markdown=True))
