"""A cluster node's sends and its view of the log (docs/cluster.md §4-§5).

Built by the composition root only on a cluster node; knows the node only as
`services.Routing` (no NATS here). Three paths:

- **A send** is routed by its conversation's home (the hash over the live
  nodes): here, it is the ordinary handler, after this node has applied the
  conversation's log up to its head once per stint as its home (a former
  home's batches first); elsewhere, it is forwarded (NATS request/reply) with
  the sender's uid, and the home runs the ordinary handler for a stand-in
  session whose first frame is the answer. A direct send that opens a new
  conversation goes to the directory home (partition 0's), which gives it an
  id of a partition it is home of, so the conversation's first writer is its
  home.
- **A relayed ack** is sent only once this node has applied the message from
  the log (so after the home's PubAck), with this node's `pos`: the client's
  sync token stays a position of the node it talks to.
- **The log**: every batch is applied to this LMDB through the writer
  (store/replica.py: same conv, seq, ids; this node's pos; once), then fanned
  out to the local sessions as a local commit is, and answers the forwarded
  sends it holds.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass, field
from typing import Any

import msgpack
import trio

from corpchat.cluster.batches import read_batch
from corpchat.cluster.loop import wait
from corpchat.protocol import ErrorCode, ProtocolError, Send
from corpchat.protocol.codec import encode
from corpchat.store import GroupCommitWriter, Message, StorageError, Store, User
from corpchat.store.conversations import direct_conv
from corpchat.store.messages import stream_pos
from corpchat.store.replica import applied_seq, apply_logged

from .hub import Hub, Out, error_frame
from .routes import Route
from .services import Routing, Spawn
from .session import Session
from .wsframes import ack_frame, binary_frame

log = logging.getLogger("corpchat.cluster")

MAX_HOPS = 2  # a node with no direct conversation asks the directory, which may pass it on
FORWARD_TIMEOUT_S = 30.0  # a home's answer (its PubAck's wait included) and its arrival here


def unframe(data: bytes) -> bytes:
    """The payload of one unmasked server WebSocket frame (what a session is given)."""
    n = data[1] & 0x7F
    start = 2 if n < 126 else 4 if n == 126 else 10
    return data[start:]


class Forwarded(Session):
    """The sender of a forwarded request, as the home's handlers see it: its first frame
    (the ack or the error) is the answer."""

    __slots__ = ("hops", "respond")

    def __init__(self, user: User, hops: int, respond: Any) -> None:
        super().__init__(-1, "cluster", 0, 0)
        self.user, self.hops, self.respond = user, hops, respond

    def push_many(self, frames: list[bytes]) -> None:
        if frames and self.respond is not None:
            respond, self.respond = self.respond, None
            respond(unframe(frames[0]))


@dataclass(eq=False)
class Waiter:
    """A send forwarded from here, until this node has applied it and acked."""

    session: Session
    request_id: int
    done: trio.Event = field(default_factory=trio.Event)


class ClusterRouting:
    def __init__(self, node: Routing, store: Store, writer: GroupCommitWriter, hub: Hub,
                 spawn: Spawn) -> None:
        self.node, self.store, self.writer, self.hub, self.spawn = node, store, writer, hub, spawn
        # (uid, client_msg_id) -> the forwarded sends waiting for it (a retry sent
        # before the first one's answer came waits beside it)
        self.waiting: dict[tuple[int, str], list[Waiter]] = {}
        self.checked: dict[int, int] = {}  # conv -> the home epoch its log was applied in
        self.catching: dict[int, list[tuple[Any, Session, Send]]] = {}  # conv -> held sends
        self.applied = 0  # the last log stream sequence applied here and fanned out
        self.original: Route | None = None
        self.handle: Any = None  # RequestHandler.handle (a forwarded request's frame)
        self.token: trio.lowlevel.TrioToken | None = None
        self.forwarded = self.served = self.replicated = 0  # sends out, in; messages applied

    def wrap(self, route: Route) -> Route:
        self.original = route
        return Route(self.route_send, route.services, route.before_login)

    def attach(self, token: trio.lowlevel.TrioToken, handle: Any) -> None:
        """Before the node starts: its doors into this server."""
        self.token, self.handle = token, handle
        self.applied = self.store.read(applied_seq)
        self.node.apply = self.apply
        self.node.serve = self.serve
        self.store.direct_ids = self.node.homes_here

    # ----- a send -----

    def route_send(self, services: Any, session: Session, frame: Send) -> None:
        conv = self._conv_of(session.authed_user, frame)
        home = self.node.directory() if conv is None else self.node.home_of(conv)
        hops = session.hops if isinstance(session, Forwarded) else 0
        if home is not None and home != self.node.name and hops < MAX_HOPS:
            self._forward(home, session, frame, hops)
        elif conv is not None and self.checked.get(conv) != self.node.home_epoch:
            queued = self.catching.get(conv)  # sends wait in their order while it catches up
            if queued is None:
                self.catching[conv] = [(services, session, frame)]
                self.spawn(self._catch_up, conv)
            else:
                queued.append((services, session, frame))
        else:
            self._write(services, session, frame)

    def _conv_of(self, sender: User, frame: Send) -> int | None:
        if frame.conv is not None:
            return frame.conv
        recipient = self.store.user_by_handle(frame.to or "")
        if recipient is None:
            return None  # the handler refuses it wherever it runs
        return self.store.read(direct_conv, uid=sender.uid, peer=recipient.uid)

    def _write(self, services: Any, session: Session, frame: Send) -> None:
        assert self.original is not None
        try:
            self.original.handler(services, session, frame)
        except ProtocolError as exc:
            session.push(error_frame(exc.code, exc.message, frame.id))
        except StorageError:
            session.push(error_frame(ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable",
                                     frame.id))

    async def _catch_up(self, conv: int) -> None:
        """This node's first write of `conv` as its home: the batches its former home
        logged are applied here first, so the seq it gives follows them."""
        epoch = self.node.home_epoch
        ok = True
        try:
            head = await self.node.log_head(conv)
            with trio.fail_after(FORWARD_TIMEOUT_S):
                while self.applied < head:
                    await trio.sleep(0.02)
            self.checked[conv] = epoch
        except Exception as exc:
            log.warning("conversation %d: the log could not be caught up (%s)", conv, exc)
            ok = False
        for services, session, frame in self.catching.pop(conv, []):
            if ok:
                self._write(services, session, frame)
            else:
                session.push(error_frame(ErrorCode.STORAGE_UNAVAILABLE,
                                         "the conversation's log is not caught up", frame.id))

    def _forward(self, home: str, session: Session, frame: Send, hops: int) -> None:
        """Sent now, so that a session's sends reach the home in the order it sent them."""
        uid = session.authed_user.uid
        self.forwarded += 1
        key = (uid, frame.client_msg_id)
        waiter = Waiter(session, frame.id)
        self.waiting.setdefault(key, []).append(waiter)
        session.inflight += 1  # answered by _settle
        future = self.node.forward(home, msgpack.packb([uid, hops + 1, encode(frame)]),
                                   FORWARD_TIMEOUT_S)
        self.spawn(self._answer, home, future, key, waiter)

    async def _answer(self, home: str, future: concurrent.futures.Future[bytes],
                      key: tuple[int, str], waiter: Waiter) -> None:
        try:
            with trio.fail_after(FORWARD_TIMEOUT_S):
                raw = await wait(future)
                answer = msgpack.unpackb(raw)
                if answer.get("type") != "ack":  # an error: relayed as it is
                    self._settle(key, waiter, binary_frame(raw))
                    return
                await self._relay_ack(key, waiter, answer)
        except Exception as exc:  # no answer, or not applied here in time: not acked
            log.warning("send forwarded to %s: %s", home, exc.__class__.__name__)
            self._settle(key, waiter, error_frame(
                ErrorCode.STORAGE_UNAVAILABLE, "the conversation's home did not answer",
                waiter.request_id))

    async def _relay_ack(self, key: tuple[int, str], waiter: Waiter,
                         answer: dict[str, Any]) -> None:
        """The home acked: once the message is applied here, ack it with its pos here
        (apply() does it for a new message; a repeat is looked up)."""
        conv, seq = answer["conv"], answer["seq"]
        while not waiter.done.is_set():
            pos = self.store.read(stream_pos, conv=conv, seq=seq)
            if pos is not None and answer.get("duplicate"):
                self._settle(key, waiter, ack_frame(
                    waiter.request_id, conv, seq, pos, answer["time"],
                    answer.get("client_msg_id"), True, answer.get("recipient_resting_until")))
                return
            with trio.move_on_after(0.05):
                await waiter.done.wait()

    def _settle(self, key: tuple[int, str], waiter: Waiter, frame: bytes) -> None:
        if waiter.done.is_set():
            return
        waiters = self.waiting.get(key, [])
        if waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self.waiting[key]
        waiter.done.set()
        waiter.session.push(frame)
        waiter.session.sent_one()

    # ----- a request forwarded here -----

    def serve(self, payload: bytes, respond: Any) -> None:
        """On the NATS thread: the request is handled on the event loop."""
        assert self.token is not None
        self.token.run_sync_soon(self._serve, payload, respond)

    def _serve(self, payload: bytes, respond: Any) -> None:
        uid, hops, frame = msgpack.unpackb(payload)
        user = self.store.user(uid)
        if user is None:  # users are provisioned on every node (docs/cluster.md §2)
            request_id = msgpack.unpackb(frame).get("id")
            respond(unframe(error_frame(ErrorCode.NOT_FOUND,
                                        "no such user on the conversation's home", request_id)))
            return
        self.served += 1
        self.handle(Forwarded(user, hops, respond), frame)

    # ----- the log -----

    def apply(self, stream_seq: int, conv: int, payload: bytes) -> None:
        """On the NATS thread, in stream order: the writer applies it in that order."""
        batch = read_batch(conv, payload)
        self.writer.submit(lambda w: apply_logged(w, conv, batch, stream_seq),
                           Applied(self, conv, stream_seq))

    def applied_batch(self, conv: int, stream_seq: int, stored: list[Message], gap: int,
                      out: Out) -> None:
        if gap:
            log.error("conversation %d: the log's batch at %d does not follow this view "
                      "(first missing seq %d)", conv, stream_seq, gap)
        self.replicated += len(stored)
        for msg in stored:
            sender = self.store.user_by_handle(msg.sender)
            waiters = self.waiting.pop((sender.uid, msg.client_msg_id), []) \
                if sender is not None and msg.client_msg_id else []
            for waiter in waiters:
                if not waiter.done.is_set():
                    waiter.done.set()
                    out[waiter.session].append(ack_frame(
                        waiter.request_id, msg.conv, msg.seq, msg.pos, msg.time_ms,
                        msg.client_msg_id, False, self.hub.resting_peer(msg, waiter.session)))
                    waiter.session.sent_one()
            self.hub.fan_out(msg, out, skip=waiters[0].session if waiters else None,
                             push=False)  # its home pushed (one push per message)
        self.applied = max(self.applied, stream_seq)


class Applied:
    """The context of a logged batch applied here: fanned out like a local commit."""

    __slots__ = ("routing", "conv", "stream_seq")

    def __init__(self, routing: ClusterRouting, conv: int, stream_seq: int) -> None:
        self.routing, self.conv, self.stream_seq = routing, conv, stream_seq

    def answer(self, hub: Hub, result: Any, out: Out) -> None:
        if not isinstance(result, tuple):  # the commit failed: the writer logged it
            log.error("applying the log at %d failed: %s", self.stream_seq, result)
            return
        stored, gap = result
        self.routing.applied_batch(self.conv, self.stream_seq, stored, gap, out)
