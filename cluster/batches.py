"""What a home publishes for one commit batch: per conversation, one log entry.

The payload is msgpack `[[seq, pos, record], ...]`, the messages the batch
committed to that conversation in seq order, each as LMDB stores it
(`Message.encode()`), so that another node can materialise it exactly
(docs/cluster.md §3-§4). Pure: no NATS.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from corpchat.store import Message
from corpchat.store.messages import get_message
from corpchat.store.scan import Dbs, Txn


@dataclass(frozen=True, slots=True)
class LogBatch:
    """One conversation's part of a commit batch, as published."""

    conv: int
    payload: bytes | None  # None: only repeats of stored messages (nothing new to log)
    msg_id: str
    first_seq: int
    last_seq: int


def msg_id(node: str, messages: list[Message]) -> str:
    """Nats-Msg-Id: `sender.client_msg_id` for a batch of one message, so that a retry
    reaching another home inside the duplicate window is dropped by JetStream itself;
    otherwise `node.conv.first seq`, unique to this home's batch."""
    if len(messages) == 1 and messages[0].client_msg_id:
        only = messages[0]
        return f"{only.sender}.{only.client_msg_id}"
    first = messages[0]
    return f"{node}.{first.conv}.{first.seq}"


def log_batches(node: str, committed: list[tuple[Message, bool]]) -> list[LogBatch]:
    """(message, is a repeat) of one commit batch → one LogBatch per conversation.

    A conversation the batch only repeated to (a retried client_msg_id) gets an
    entry without payload: its ack still waits for what was published before it."""
    by_conv: dict[int, list[Message]] = {}
    repeated: dict[int, Message] = {}  # conv -> its repeat of the highest seq
    for message, duplicate in committed:
        if duplicate:
            if message.conv not in repeated or message.seq > repeated[message.conv].seq:
                repeated[message.conv] = message
        else:
            by_conv.setdefault(message.conv, []).append(message)
    out = []
    for conv, messages in by_conv.items():
        messages.sort(key=lambda m: m.seq)
        payload = msgpack.packb([[m.seq, m.pos, m.encode()] for m in messages])
        out.append(LogBatch(conv, payload, msg_id(node, messages), messages[0].seq,
                            messages[-1].seq))
    for conv, message in repeated.items():
        if conv not in by_conv:
            out.append(LogBatch(conv, None, "", message.seq, message.seq))
    return out


def stored_range(txn: Txn, db: Dbs, *, conv: int, after: int, upto: int) -> list[Message]:
    """The stored messages of `conv` with after < seq <= upto, in seq order."""
    found = (get_message(txn, db, conv=conv, seq=seq) for seq in range(after + 1, upto + 1))
    return [m for m in found if m is not None]


def read_batch(conv: int, payload: bytes) -> list[Message]:
    """The messages of a published batch (what a materialising node applies)."""
    return [Message.decode(conv, seq, record) for seq, _pos, record in
            msgpack.unpackb(payload)]
