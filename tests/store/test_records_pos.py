"""`message_pos` reads a stored message's position without decoding it."""

from hypothesis import given
from hypothesis import strategies as st

from corpchat.store.records import Message, message_pos


@given(pos=st.integers(min_value=0, max_value=2**64 - 1), text=st.text(max_size=300))
def test_message_pos_matches_decode(pos: int, text: str) -> None:
    msg = Message(conv=3, seq=9, pos=pos, sender="ann", time_ms=1, text=text,
                  client_msg_id="c1", to=None)
    data = msg.encode()
    assert message_pos(data) == Message.decode(3, 9, data).pos == pos
