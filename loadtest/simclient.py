"""A simulated client device: protocol/ for the handshake and resume, a lean path after.

Connecting (and resuming after a drop) goes through `ClientSession`, the
same sans-IO logic every corpchat client uses: `hello`, `welcome`, `sync`
from the device's token with its pages, live frames held while syncing.
Once it reports `SyncComplete` the device switches to the hot path: each
payload is decoded with `decode_map` only (no frame objects), and a `msg`
or `ack` costs a few dictionary lookups and list appends. It keeps the
protocol's rule (docs/protocol.md, protocol/client.py): the token is the
highest `pos` processed, and a `msg` at or below it is one already shown —
a sync page can include a message committed just before it whose live
copy is fanned out just after it — so it is dropped and counted
(`stale_dropped`), not shown twice. Everything shown goes to the checker.

Sending is open-loop: `send_one` builds the text `lt:<index>:<n>:<t_ns>:`
padded to the configured size (t_ns is the send instant, so end-to-end
latency is the receive instant minus it, with no lookup), and the
client_msg_id `<t_ns>.<n>` (so the ack's latency needs no lookup either).
Unacked sends are kept by request id and re-sent, with the same
client_msg_id, after a reconnect — the server answers a repeat with the
original ack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import trio

from corpchat.protocol import (
    SERVER_FRAME_LIMITS,
    Ack,
    ClientSession,
    Error,
    Msg,
    ProtocolError,
    Send,
    SyncComplete,
    Welcome,
    decode_map,
    encode,
)

from .recorder import Recorder
from .wsclient import ReadHub, WsConnection, WsError

SEND_ID_BASE = 1 << 32  # our request ids; ClientSession numbers its own from 1
TEXT_TAG = "lt:"


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Who a simulated device is; `peer` is the handle it sends to, if any."""

    index: int
    handle: str
    token: str
    device: str  # unique across the run, e.g. "lt-3fa2-u17/0"
    peer: str | None = None


class SimClient:
    """One device: its connection, its token, what it sent and what it saw."""

    def __init__(self, spec: ClientSpec, url: str, recorder: Recorder, size: int,
                 hub: ReadHub) -> None:
        self.spec = spec
        self.hub = hub
        self.url = url
        self.rec = recorder
        self.size = size
        self.pos = 0  # sync token: the highest stream position processed
        self.n = 0
        self.unacked: dict[int, bytes] = {}  # request id -> encoded send
        self.acked: dict[int, list[int]] = {}  # conv -> seqs acked to this device
        self.delivered: dict[int, list[int]] = {}  # conv -> seqs shown, in order
        self.conv_peer: dict[int, str] = {}  # conv -> the handle it was sent to
        self.conn: WsConnection | None = None
        self.session: ClientSession | None = None  # set while (re)connecting and syncing
        self.live = False  # welcome seen: sends go out now
        self.welcomed = trio.Event()
        self.synced = trio.Event()
        self._scope: trio.CancelScope | None = None
        self._pad = "x" * size

    # ----- connection lifecycle -----

    async def connect(self, nursery: trio.Nursery, *, until: str = "synced") -> None:
        """Open a connection, say hello and wait for `until` ("welcome" or "synced").

        Put a deadline around it; on failure the connection is dropped.
        """
        self.welcomed, self.synced = trio.Event(), trio.Event()
        self.session = ClientSession(self.spec.token, device=self.spec.device,
                                     sync_token=str(self.pos) if self.pos else None)
        conn = self.conn = WsConnection(self._on_payload)
        try:
            early = await conn.open(self.url)
            await nursery.start(self._serve, conn)
            self.session.connect()
            self._flush_session()
            if early:
                conn.feed(early)
            await (self.welcomed if until == "welcome" else self.synced).wait()
        except BaseException:
            self.drop()
            if conn.stream is not None:
                await trio.aclose_forcefully(conn.stream)
            raise

    async def _serve(self, conn: WsConnection, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            self._scope = scope
            self.hub.add(conn)
            task_status.started()
            try:
                await conn.writer()  # returns once the connection is over
            finally:
                self.hub.discard(conn)
        if not conn.ended_by_us:
            self.rec.disconnects[str(conn.close_code or conn.error)] += 1
        if self.conn is conn:  # not a newer connection of this device
            self.live = False
        if conn.stream is not None:
            await trio.aclose_forcefully(conn.stream)

    def drop(self) -> None:
        """Lose the connection abruptly (a reset, no close handshake)."""
        self.live = False
        self.session = None
        if self.conn is not None:
            self.conn.abort()
        if self._scope is not None:
            self._scope.cancel()

    async def close(self) -> None:
        """A normal close (1000). Cancel-safe."""
        self.live = False
        if self.conn is not None:
            await self.conn.aclose()
        if self._scope is not None:
            self._scope.cancel()

    # ----- sending -----

    def send_one(self, now_ns: int) -> None:
        """Queue one message to the peer, stamped with `now_ns`; write it if connected."""
        n, text = self.next_text(now_ns)
        rid = SEND_ID_BASE + n
        self.queue(rid, encode(Send(id=rid, client_msg_id=f"{now_ns}.{n}", text=text,
                                    to=self.spec.peer)), now_ns)

    def next_text(self, now_ns: int) -> tuple[int, str]:
        """The next message's number and its text: tag, sender, number, send time, padding
        (the checker reads the first four back from each delivery)."""
        self.n = n = self.n + 1
        text = f"{TEXT_TAG}{self.spec.index}:{n}:{now_ns}:"
        return n, text + self._pad[:self.size - len(text)]

    def queue(self, rid: int, payload: bytes, now_ns: int) -> None:
        """Keep a send unacked (re-sent after a reconnect), count it in the measured window
        when it falls there, and write it if connected."""
        self.unacked[rid] = payload
        rec = self.rec
        rec.sent += 1
        if rec.win_start_ns <= now_ns < rec.win_end_ns:
            rec.win_sent += 1
        if self.live:
            assert self.conn is not None  # live: welcomed on this connection
            self.conn.send(payload)

    def _flush_session(self) -> None:
        assert self.session is not None and self.conn is not None
        for payload in self.session.data_to_send():
            self.conn.send(payload)

    # ----- receiving -----

    def _on_payload(self, payload: bytes) -> None:
        try:
            if self.session is not None:
                self._on_session_payload(payload)
                return
            m = decode_map(payload, SERVER_FRAME_LIMITS)
            kind = m["type"]
            if kind == "msg":
                self._on_msg(m["conv"], m["seq"], m["pos"], m["text"])
            elif kind == "ack":
                self._on_ack(m["re"], m["conv"], m["seq"], m["pos"], m["client_msg_id"])
            elif kind == "error":
                self._on_error(m.get("code"), m.get("re"))
        except (ProtocolError, KeyError, TypeError, ValueError, IndexError):
            self.rec.bad_frames += 1

    def _on_session_payload(self, payload: bytes) -> None:
        session = self.session
        assert session is not None
        for event in session.receive(payload):
            match event:
                case Msg():
                    self._on_msg(event.conv, event.seq, event.pos, event.text)
                case Ack():
                    self._on_ack(event.re, event.conv, event.seq, event.pos,
                                 event.client_msg_id)
                case Welcome():
                    self._on_welcome()
                case SyncComplete():
                    self.pos = max(self.pos, int(event.sync))
                    self.session = None  # the lean path from now on
                    self.synced.set()
                case Error():
                    self._on_error(event.code, event.re)
        if self.session is not None:
            self._flush_session()

    def _on_welcome(self) -> None:
        self._flush_session()  # the sync request goes before the re-sends
        assert self.conn is not None  # a welcome came on this connection
        for payload in self.unacked.values():
            self.conn.send(payload)
        self.live = True
        self.welcomed.set()

    def _on_msg(self, conv: int, seq: int, pos: int, text: str) -> bool:
        """Count a message shown; False if it was shown already."""
        now = time.monotonic_ns()
        if pos <= self.pos:  # already shown: a sync page overlapped live delivery
            self.rec.stale_dropped += 1
            return False
        self.pos = pos
        seqs = self.delivered.get(conv)
        if seqs is None:
            seqs = self.delivered[conv] = []
        seqs.append(seq)
        rec = self.rec
        rec.delivered += 1
        if rec.win_start_ns <= now < rec.win_end_ns:
            rec.win_delivered += 1
            if text.startswith(TEXT_TAG):
                rec.e2e_us.record((now - int(text.split(":", 4)[3])) // 1000)
        return True

    def _on_ack(self, rid: int, conv: int, seq: int, pos: int, cmid: str) -> None:
        now = time.monotonic_ns()
        if pos > self.pos:
            self.pos = pos
        rec = self.rec
        if self.unacked.pop(rid, None) is None:
            rec.unexpected_acks += 1
            return
        seqs = self.acked.get(conv)
        if seqs is None:
            seqs = self.acked[conv] = []
            self.conv_peer[conv] = self.spec.peer or ""
        seqs.append(seq)
        rec.acked += 1
        if rec.win_start_ns <= now < rec.win_end_ns:
            rec.win_acked += 1
            rec.ack_us.record((now - int(cmid.partition(".")[0])) // 1000)

    def _on_error(self, code: object, rid: object) -> None:
        self.rec.refused[str(code)] += 1
        if isinstance(rid, int):
            self.unacked.pop(rid, None)


__all__ = ["ClientSpec", "SimClient", "WsError"]
