"""The stored Message record across revisions: 1.4 appended the attachments, 1.5
its fields after them; records written before either still read."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from corpchat.store.records import Message, Origin, Quote, StoredAttachment, pack

PICTURE = StoredAttachment("m1", "cat.png", 1234, "image/png", "ab" * 32, "image", 64, 48)


def _plain() -> Message:
    return Message(7, 3, 42, "olga", 1_700_000_000_000, "hello", "c1", kind="text")


def test_a_record_from_before_1_4_still_reads() -> None:
    old = pack([42, "olga", 1_700_000_000_000, "hello", "c1", None, "text", None, [], None,
                None, False, True, False])
    msg = Message.decode(7, 3, old)
    assert (msg.text, msg.receipt, msg.attachments, msg.mentions, msg.version) == \
        ("hello", True, (), (), 0)


def test_a_plain_message_keeps_its_old_size() -> None:
    assert len(Message.decode(7, 3, _plain().encode()).encode()) == len(_plain().encode())
    assert _plain().encode() == pack([42, "olga", 1_700_000_000_000, "hello", "c1", None,
                                      "text", None, [], None, None, False, False, False])


@given(files=st.booleans(), mentions=st.booleans(), quote=st.booleans(),
       forwarded=st.booleans(), version=st.integers(0, 3))
def test_attachments_and_everyday_fields_round_trip_together(
        files: bool, mentions: bool, quote: bool, forwarded: bool, version: int) -> None:
    msg = replace(_plain(), attachments=(PICTURE,) if files else (),
                  mentions=("mia", "all") if mentions else (),
                  quote=Quote(1, "mia", "image", "look", 40) if quote else None,
                  forwarded=Origin("gus", 1_600_000_000_000, 9, 2) if forwarded else None,
                  version=version, edited_ms=1_700_000_000_500 if version else 0)
    assert Message.decode(7, 3, msg.encode()) == msg


@given(card=st.none() | st.tuples(st.text(min_size=1, max_size=5), st.just("https://x.example"),
                                  st.text(max_size=5), st.text(max_size=5)),
       markdown=st.booleans(), files=st.booleans(), mentions=st.booleans())
def test_1_10_card_and_markdown_round_trip_after_the_older_fields(
        card: tuple[str, str, str, str] | None, markdown: bool, files: bool,
        mentions: bool) -> None:
    msg = replace(_plain(), card=card, markdown=markdown,
                  attachments=(PICTURE,) if files else (),
                  mentions=("mia",) if mentions else ())
    back = Message.decode(7, 3, msg.encode())
    assert back == msg
    assert back.wire_kind == ("card" if card else "image" if files else None)


def test_a_1_5_record_reads_without_a_card() -> None:
    msg = replace(_plain(), mentions=("mia",))
    raw = msg.encode()
    assert Message.decode(7, 3, raw).card is None and not Message.decode(7, 3, raw).markdown
