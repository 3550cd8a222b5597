"""The simulated device of the group scenarios: a SimClient that also reads, rests,
counts receipts and sends the set-up requests (split from groupkit.py)."""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import trio

from corpchat.protocol import (
    SERVER_FRAME_LIMITS,
    Announce,
    Frame,
    ProtocolError,
    React,
    Read,
    Send,
    decode_map,
    encode,
)

from ..runner import WorkerFailed
from ..simclient import SEND_ID_BASE, TEXT_TAG, ClientSpec, SimClient

READ_ID_BASE = 1 << 40  # ids of `read` requests
REQUEST_ID_BASE = 1 << 48  # ids of set-up requests (group.create, contact.*)
REACT_ID_BASE = 1 << 44  # ids of `react` requests (issue 20)
REQUEST_TIMEOUT_S = 30.0


class SetupFailed(WorkerFailed):
    """A set-up request (group.create, contact.request, …) was refused or timed out."""


# ----- the simulated device -----


class Tracker:
    """Announce: when each seq reached its first and its last expected device."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrivals: dict[int, list[int]] = {}  # seq -> [count, first_ns, last_ns]
        self.complete: dict[int, trio.Event] = defaultdict(trio.Event)

    def hit(self, seq: int, now: int) -> None:
        got = self.arrivals.get(seq)
        if got is None:
            got = self.arrivals[seq] = [0, now, now]
        got[0] += 1
        got[2] = now
        if got[0] >= self.expected:
            self.complete[seq].set()


class GroupClient(SimClient):
    """A device of a group member (see the module docstring)."""

    def __init__(self, spec: ClientSpec, url: str, recorder: Any, size: int, hub: Any) -> None:
        super().__init__(spec, url, recorder, size, hub)
        self.conv: int | None = None  # the conversation it sends to and receives from
        self.announce = False  # sends are `announce` (corp notice board)
        self.receipt = False  # sends ask for receipts
        self.auto_read = False  # reads every receipt-requested message on arrival
        self.read_every_ns = 0  # with auto_read: at most one `read` per this (0: per message)
        self.quiet = False  # no latency samples (a slow member)
        self.stalled = False  # stopped reading
        self.resting = False  # on a break: every live msg must carry silent: true
        self.silent_msgs = 0  # checked messages that arrived with silent: true
        self.silent_mismatch = 0  # checked messages whose silent flag was not `resting`
        self.tracker: Tracker | None = None
        self._waiting: dict[int, list[Any]] = {}  # request id -> [event, reply]
        self._rids = itertools.count(REQUEST_ID_BASE)
        self._read_ids = itertools.count(READ_ID_BASE)
        self.system_msgs = 0
        self.reads_sent = 0
        self.reads_answered = 0
        self.reads_refused = 0
        self.win_reads = 0  # read replies (ok) that arrived inside the window
        self.msgs_read = 0  # receipt-requested messages that an answered read covered
        self.win_msgs_read = 0  # ... whose read was answered inside the window
        self._to_read: deque[int] = deque()  # receipt-requested seqs shown, not yet read
        self._read_due: tuple[int, int] | None = None  # (conv, seq) waiting for its turn
        self._read_last_ns = 0
        self.receipt_frames = 0
        self.receipt_readers: dict[int, set[str]] = {}  # own seq -> readers seen
        self.receipt_duplicates = 0  # a reader named twice for one seq
        self.receipt_seqs: list[int] = []  # own acked receipt-requested seqs
        self.receipts_complete = 0  # own seqs whose readers reached expected_readers
        self.expected_readers = 0
        # issue 20: every mention_every-th / reply_every-th message mentions a member /
        # replies to the last message seen (0: never); reacts to the messages whose
        # seq % react_modulus == react_slot (react_modulus 0: never)
        self.mention_every = self.reply_every = 0
        self.mention_handle = ""
        self.react_modulus = self.react_slot = 0
        self.last_seen_seq = 0
        self.reacts_sent = self.reaction_frames = 0
        self._react_ids = itertools.count(REACT_ID_BASE)

    # ----- sending -----

    def send_one(self, now_ns: int) -> None:
        n, text = self.next_text(now_ns)
        rid = SEND_ID_BASE + n
        cmid = f"{now_ns}.{n}"
        if self.announce:
            frame: Frame = Announce(id=rid, client_msg_id=cmid, text=text)
        else:
            mention = self.mention_every and n % self.mention_every == 0
            reply = self.reply_every and n % self.reply_every == 0 and self.last_seen_seq
            frame = Send(id=rid, client_msg_id=cmid, text=text, conv=self.conv,
                         receipt=True if self.receipt else None,
                         mentions=(self.mention_handle,) if mention else None,
                         reply_to=self.last_seen_seq if reply else None)
        self.queue(rid, encode(frame), now_ns)

    async def request(self, make: Callable[[int], Frame],
                      timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """Send one request and wait for the frame answering it; refusals raise."""
        if self.conn is None or not self.live:
            raise SetupFailed(f"{self.spec.device} is not connected")
        rid = next(self._rids)
        frame = make(rid)
        slot: list[Any] = [trio.Event(), None]
        self._waiting[rid] = slot
        try:
            self.conn.send(encode(frame))
            with trio.fail_after(timeout_s):
                await slot[0].wait()
        except trio.TooSlowError:
            raise SetupFailed(f"{frame.TYPE} from {self.spec.device}: no answer in "
                              f"{timeout_s:.0f} s") from None
        finally:
            self._waiting.pop(rid, None)
        reply = slot[1]
        if reply.get("type") == "error":
            raise SetupFailed(f"{frame.TYPE} from {self.spec.device} refused: "
                              f"{reply.get('code')}: {reply.get('message')}")
        return reply

    def pace_reads(self, every_ns: int, rng: random.Random) -> None:
        """At most one cursor per every_ns (0: one per message), each member's turns at
        its own phase, as people do not all look at the same instant."""
        self.read_every_ns = every_ns
        self._read_last_ns = time.monotonic_ns() - rng.randrange(every_ns) if every_ns else 0

    def _shown(self, conv: int, seq: int) -> None:
        """A receipt-requested message is on screen: read it now, or with the next
        cursor if one went out less than read_every_ns ago."""
        self._to_read.append(seq)
        self._read_due = (conv, seq)
        self.flush_read(time.monotonic_ns())

    def flush_read(self, now: int) -> None:
        """Send the waiting cursor if its turn has come."""
        if self._read_due is None or now - self._read_last_ns < self.read_every_ns:
            return
        conv, seq = self._read_due
        self._read_due = None
        self._read_last_ns = now
        self.reads_sent += 1
        assert self.conn is not None  # reads are due only while connected
        self.conn.send(encode(Read(id=next(self._read_ids), conv=conv, seq=seq)))

    @property
    def reading(self) -> bool:
        """A cursor is waiting for its turn or for its answer."""
        return self._read_due is not None or \
            self.reads_sent > self.reads_answered + self.reads_refused

    def stall(self) -> None:
        """Stop reading the socket for good: the server's frames pile up."""
        self.stalled = True
        if self.conn is not None:
            self.hub.discard(self.conn)

    # ----- receiving: the lean path, extended -----

    def _on_payload(self, payload: bytes) -> None:
        if self.session is not None:
            super()._on_payload(payload)
            return
        try:
            m = decode_map(payload, SERVER_FRAME_LIMITS)
            kind = m["type"]
            if kind == "msg":
                if self._on_msg(m["conv"], m["seq"], m["pos"], m["text"]):
                    silent = m.get("silent") is True
                    self.silent_msgs += silent
                    self.silent_mismatch += silent is not self.resting
                    if self.auto_read and m.get("receipt"):
                        self._shown(m["conv"], m["seq"])
                    self._everyday(m["conv"], m["seq"])
            elif kind == "reaction":
                self.reaction_frames += 1
            elif kind == "ack":
                self._on_group_ack(m["re"], m["conv"], m["seq"], m["pos"], m["client_msg_id"])
            elif kind == "receipt":
                self._on_receipt(m["seq"], m["readers"])
            else:
                self._on_reply(kind, m)
        except (ProtocolError, KeyError, TypeError, ValueError, IndexError):
            self.rec.bad_frames += 1

    def _on_msg(self, conv: int, seq: int, pos: int, text: str) -> bool:
        now = time.monotonic_ns()
        if pos <= self.pos:  # already shown: a sync page overlapped live delivery
            self.rec.stale_dropped += 1
            return False
        self.pos = pos
        if not text.startswith(TEXT_TAG):  # a system message: nobody acked it
            self.system_msgs += 1
            return False
        seqs = self.delivered.get(conv)
        if seqs is None:
            seqs = self.delivered[conv] = []
        seqs.append(seq)
        rec = self.rec
        rec.delivered += 1
        if self.tracker is not None:
            self.tracker.hit(seq, now)
        if rec.win_start_ns <= now < rec.win_end_ns:
            rec.win_delivered += 1
            if not self.quiet:
                rec.e2e_us.record((now - int(text.split(":", 4)[3])) // 1000)
        return True

    def _everyday(self, conv: int, seq: int) -> None:
        """Issue 20: remember the last seq (to reply to); react if it is this one's turn."""
        self.last_seen_seq = seq
        if self.react_modulus and seq % self.react_modulus == self.react_slot and self.live:
            assert self.conn is not None  # live: welcomed on this connection
            self.reacts_sent += 1
            self.conn.send(encode(React(id=next(self._react_ids), conv=conv, seq=seq,
                                        emoji="👍", on=True)))

    def _on_group_ack(self, rid: int, conv: int, seq: int, pos: int, cmid: str) -> None:
        track = self.receipt and rid in self.unacked
        self._on_ack(rid, conv, seq, pos, cmid)
        if track:
            self.receipt_seqs.append(seq)

    def _on_receipt(self, seq: int, readers: list[dict[str, Any]]) -> None:
        self.receipt_frames += 1
        seen = self.receipt_readers.get(seq)
        if seen is None:
            seen = self.receipt_readers[seq] = set()
        for reader in readers:
            user = reader["user"]
            if user in seen:
                self.receipt_duplicates += 1
                continue
            seen.add(user)
            if len(seen) == self.expected_readers:
                self.receipts_complete += 1

    def _on_reply(self, kind: str, m: dict[str, Any]) -> None:
        re = m.get("re")
        if type(re) is not int:
            return  # an event this client does not follow (contact, read, typing …)
        if READ_ID_BASE <= re < REQUEST_ID_BASE:
            if kind == "ok":
                self.reads_answered += 1
                covered, cursor = 0, m.get("seq", 0)
                while self._to_read and self._to_read[0] <= cursor:
                    self._to_read.popleft()
                    covered += 1
                self.msgs_read += covered
                rec = self.rec
                if rec.win_start_ns <= time.monotonic_ns() < rec.win_end_ns:
                    self.win_reads += 1
                    self.win_msgs_read += covered
            else:
                self.reads_refused += 1
                self.rec.refused[f"read:{m.get('code')}"] += 1
            return
        slot = self._waiting.get(re)
        if slot is not None:
            slot[1] = m
            slot[0].set()
        elif kind == "error":
            self._on_error(m.get("code"), re)
