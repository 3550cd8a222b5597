"""The conversation log: one JetStream message per commit batch per conversation.

Stream `CORPCHAT_LOG`, subjects `chat.c.<conv>` (docs/cluster.md §3). Runs on
the NATS thread's loop. A publish carries `Nats-Msg-Id` (JetStream drops a
repeat inside its duplicate window) and `Nats-Expected-Last-Subject-Sequence`
= the last sequence of the conversation's subject this home knows: a publish
built on a stale view (a former home after failover) is refused, which is the
fence that keeps each conversation's order total and gap-free in the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgpack
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from .settings import ClusterSettings

log = logging.getLogger("corpchat.cluster")

LOG_STREAM = "CORPCHAT_LOG"
WRONG_LAST_SEQUENCE = (10071, 10164)  # JSStreamWrongLastSequenceErr(F), ...ConstantErr


def subject(conv: int) -> str:
    return f"chat.c.{conv}"


class Fenced(Exception):
    """A publish refused: the conversation's subject moved past what this node knew."""

    def __init__(self, conv: int, expected: int) -> None:
        super().__init__(f"conversation {conv}: the log is past sequence {expected}")
        self.conv, self.expected = conv, expected


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a conversation's subject: its stream sequence and the batch."""

    seq: int
    payload: bytes


def stream_config(settings: ClusterSettings, replicas: int) -> StreamConfig:
    """Limited by age and bytes, never message count (MaxMsgs is slow with many
    subjects); discarding the oldest, as LMDB keeps everything anyway."""
    return StreamConfig(name=LOG_STREAM, subjects=["chat.c.*"], storage=StorageType.FILE,
                        num_replicas=replicas, max_age=float(settings.log_max_age_s),
                        max_bytes=settings.log_max_bytes, discard=DiscardPolicy.OLD,
                        duplicate_window=settings.duplicate_window_s)


class ConversationLog:
    """Publishing and reading conversations' subjects, with the fence."""

    def __init__(self, js: JetStreamContext, settings: ClusterSettings) -> None:
        self.js, self.settings = js, settings
        self.last: dict[int, int] = {}  # conv -> its subject's last sequence, as known here
        self.published = 0  # batches acked

    # Every read here goes through the stream's leader, never a direct get: any
    # replica answers those, and one just restarted after a kill -9 lags, so a
    # head read there would hide the last batches (found by the chaos run).

    async def last_sequence(self, conv: int) -> int:
        """The stream sequence of the conversation's last message (0: none)."""
        try:
            msg = await self.js.get_last_msg(LOG_STREAM, subject(conv))
        except NotFoundError:
            return 0
        return msg.seq or 0

    async def last_logged(self, conv: int) -> tuple[int, int]:
        """(the subject's last stream sequence, the last message seq it holds); (0, 0)."""
        try:
            msg = await self.js.get_last_msg(LOG_STREAM, subject(conv))
        except NotFoundError:
            return 0, 0
        entries = msgpack.unpackb(msg.data or b"\x90")
        return msg.seq or 0, entries[-1][0] if entries else 0

    async def publish(self, conv: int, payload: bytes, msg_id: str) -> int:
        """Append one batch to the conversation; its stream sequence after PubAck.

        Raises Fenced when the subject has moved past what this node knew (and
        forgets what it knew, so the caller catches up before writing again)."""
        expected = self.last.get(conv)
        if expected is None:
            expected = await self.last_sequence(conv)
        headers = {"Nats-Msg-Id": msg_id,
                   "Nats-Expected-Last-Subject-Sequence": str(expected)}
        try:
            ack = await self.js.publish(subject(conv), payload, headers=headers,
                                        timeout=self.settings.publish_timeout_s)
        except APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCE:
                self.last.pop(conv, None)
                raise Fenced(conv, expected) from None
            raise
        # A repeat (a retry whose first answer was lost) is acked with the original's
        # sequence: the subject is at least there.
        self.last[conv] = max(expected, ack.seq)
        self.published += 1
        return ack.seq

    async def read(self, conv: int, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Up to `limit` of the conversation's messages after stream sequence `after`."""
        out: list[Entry] = []
        at = after
        while len(out) < limit:
            try:
                msg = await self.js.get_msg(LOG_STREAM, seq=at + 1, subject=subject(conv),
                                            next=True)
            except NotFoundError:
                break
            assert msg.seq is not None
            out.append(Entry(msg.seq, msg.data or b""))
            at = msg.seq
        return out
