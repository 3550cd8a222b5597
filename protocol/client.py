"""Client-side session logic, sans-IO: what a well-behaved client does.

Feed it each WebSocket message payload from the server with `receive()`;
it returns the events the application should see, and queues the payloads
to send (collect them with `data_to_send()`). It never does I/O itself, so
the terminal client, the load tester and the tests share it.

The rules it implements (docs/protocol.md, "Sync and resume"):

* After `welcome` it sends `sync` from its sync token (or adopts the
  server's current token on a first connection), and follows `more` pages.
* Every stored message has a server-wide position `pos`, and the server
  sends a connection its messages and acks in increasing `pos`. The token
  is the last position processed, so a message at or below it is a
  duplicate (from a sync page overlapping live delivery) and is dropped.
* While a sync is running, live `msg` and `ack` frames are held and
  replayed after the last page, so the token never skips a message.
* Unacknowledged sends are re-sent with the same `client_msg_id` after a
  reconnect; the server answers a repeat with the original ack. A send
  refused with an error is dropped, unless the error is a storage or
  internal failure or rate limit (RETRY_CODES).
* What it sends is paced (docs/protocol.md §8.3, `pacing.py`): at most 64
  sends unanswered, every frame within a bucket under the server's, and
  nothing for `retry_after_ms` after a `rate_limited`, whose refused
  request goes out again first. New sends queue behind the re-sends.
  `data_to_send()` gives what may go out now; the driver calls it again
  after each received payload and at `next_send_at()` (on `clock`).
* A driver feeds `receive()` every payload that arrived before a close,
  even after a write failed: the acks among them are what empties
  `unacked`.
* Frame types it does not know (from a later minor version) are ignored.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass

from .clock import Clock, SystemClock
from .codec import decode_server_frame, encode
from .errors import CloseCode, ErrorCode, ProtocolError
from .frames import Frame
from .frames_core import Ack, Error, Hello, History, Msg, Ping, Send, Sync, SyncPage, Welcome
from .frames_everyday import Edited, MuteEvent, ReactionEvent
from .frames_media import Attachment
from .pacing import Pacer, Pacing, PendingSend

# What takes a place in the stream: messages and, in 1.5, edits, reactions, mutes.
Positioned = Msg | Edited | ReactionEvent | MuteEvent

# Close codes after which a client should reconnect (after a back-off). 1008
# is a request flood (which pacing avoids) or too many connections of the
# user (refused at hello): both pass, and a chat client that stays offline
# until its user notices loses messages; the back-off keeps retries rare.
RECONNECT_CODES = frozenset({
    CloseCode.GOING_AWAY, CloseCode.POLICY_VIOLATION, CloseCode.RESYNC_REQUIRED,
    CloseCode.TIMEOUT, CloseCode.INTERNAL_ERROR, CloseCode.KICKED,
})

# Errors answering a `send` after which it stays queued and is re-sent on the
# next connection; any other error answering a send ends it.
RETRY_CODES = frozenset({ErrorCode.STORAGE_UNAVAILABLE, ErrorCode.INTERNAL_ERROR,
                         ErrorCode.RATE_LIMITED})


@dataclass(frozen=True, slots=True)
class SyncComplete:
    """Not a wire frame: the client has caught up; `sync` is its token."""

    sync: str


def should_reconnect(close_code: int | None) -> bool:
    """Whether a connection closed with this code should be re-opened.

    None means the transport broke without a close frame.
    """
    return close_code is None or close_code in RECONNECT_CODES


class ClientSession:
    """Protocol state of one client device across its connections."""

    def __init__(self, token: str, *, device: str | None = None,
                 sync_token: str | None = None, clock: Clock | None = None,
                 pacing: Pacing | None = None) -> None:
        self.token = token
        self.device = device
        self.sync_token = sync_token
        self.clock: Clock = clock or SystemClock()
        self.user: str | None = None
        self.session_id: str | None = None
        self._ids = itertools.count(1)
        self._pacer = Pacer(pacing or Pacing(), self.clock)  # what goes out, and when
        self._unacked: dict[str, Send] = {}  # client_msg_id -> request, in send order
        self._syncing = False
        self._held: list[Positioned | Ack] = []  # live frames that arrive while a sync runs
        self.ready = False

    # ----- outgoing -----

    def connect(self) -> int:
        """Start a (re)connection: queue `hello`. Returns its request id."""
        self._pacer.reset()
        self._held.clear()
        self._syncing = False
        self.ready = False
        rid = next(self._ids)
        self._queue(Hello(id=rid, token=self.token, device=self.device, client="corpchat-py"))
        return rid

    def send_text(self, text: str, *, to: str | None = None, conv: int | None = None,
                  client_msg_id: str | None = None, receipt: bool = False,
                  urgent: bool = False, attachments: tuple[Attachment, ...] = (),
                  mentions: tuple[str, ...] = (), reply_to: int | None = None) -> str:
        """Queue a message (1.4: with uploaded files); returns its client_msg_id.
        Re-sent until acked."""
        cmid = client_msg_id or secrets.token_hex(8)
        request = Send(id=next(self._ids), client_msg_id=cmid, text=text, to=to, conv=conv,
                       receipt=receipt or None, urgent=urgent or None,
                       attachments=attachments or None,
                       mentions=mentions or None, reply_to=reply_to)
        self._unacked[cmid] = request
        if self.ready:
            self._queue_send(request)  # behind the re-sends still waiting
        return cmid

    def history(self, conv: int, *, before: int | None = None, limit: int | None = None) -> int:
        rid = next(self._ids)
        self._queue(History(id=rid, conv=conv, before=before, limit=limit))
        return rid

    def ping(self) -> int:
        rid = next(self._ids)
        self._queue(Ping(id=rid))
        return rid

    def next_request_id(self) -> int:
        return next(self._ids)

    def queue(self, frame: Frame) -> None:
        """Queue any request frame (its `id` from next_request_id())."""
        self._queue(frame)

    def data_to_send(self) -> list[bytes]:
        """Payloads to send now, each as one binary WebSocket message, in order.

        Pacing may hold some back: call again after the next received payload,
        and at `next_send_at()`.
        """
        return self._pacer.release(self._unacked)

    def next_send_at(self) -> float | None:
        """When `data_to_send()` has more, in `clock.monotonic()` seconds (perhaps
        already past); None if nothing waits, or only for answers (the window)."""
        return self._pacer.next_send_at()

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    def _queue(self, frame: Frame) -> None:
        request_id = getattr(frame, "id", None)
        self._pacer.queue(request_id if isinstance(request_id, int) else None, encode(frame))

    def _queue_send(self, request: Send) -> None:
        self._pacer.queue_send(PendingSend(request.id, request.client_msg_id, encode(request)))

    def _start_sync(self) -> None:
        assert self.sync_token is not None
        self._syncing = True
        self._queue(Sync(id=next(self._ids), since=self.sync_token))

    # ----- incoming -----

    def receive(self, payload: bytes) -> list[Frame | SyncComplete]:
        """Process one server payload; return what the application sees."""
        try:
            frame = decode_server_frame(payload)
        except ProtocolError as exc:
            if exc.code == ErrorCode.UNKNOWN_TYPE:
                return []  # a frame type from a later minor version: ignore it
            raise
        self._note_answer(frame)
        match frame:
            case Welcome():
                return self._on_welcome(frame)
            case SyncPage():
                return self._on_sync_page(frame)
            case Msg() | Ack() | Edited() | ReactionEvent() | MuteEvent() if self._syncing:
                self._held.append(frame)
                return []
            case Msg() | Edited() | ReactionEvent() | MuteEvent():  # 1.5: events with a pos
                return self._on_msg(frame)
            case Ack():
                return self._on_ack(frame)
            case Error() if frame.code == ErrorCode.BAD_SYNC_TOKEN:
                raise ProtocolError(ErrorCode.BAD_SYNC_TOKEN, frame.message, remote=False)
            case Error() if frame.re is not None:
                self._on_refused(frame)
                return [frame]
            case _:
                return [frame]

    def _on_welcome(self, frame: Welcome) -> list[Frame | SyncComplete]:
        self.user, self.session_id = frame.user, frame.session
        if self.sync_token is None:
            self.sync_token = frame.sync
        self.ready = True
        self._start_sync()
        for request in self._unacked.values():  # in the order first sent, paced
            self._queue_send(request)
        return [frame]

    def _on_sync_page(self, page: SyncPage) -> list[Frame | SyncComplete]:
        events: list[Frame | SyncComplete] = []
        # 1.5: the page's events take their place among its messages by pos
        items: list[Positioned] = [*page.msgs, *(page.edited or ()), *(page.reaction or ()),
                                   *(page.mute or ())]
        if len(items) > len(page.msgs):
            items.sort(key=lambda item: item.pos)
        for item in items:
            events.extend(self._on_msg(item))
        if _pos(page.sync) > _pos(self.sync_token):
            self.sync_token = page.sync
        if page.more:
            self._queue(Sync(id=next(self._ids), since=self.sync_token or page.sync))
            return events
        self._syncing = False
        held, self._held = self._held, []
        for frame in held:
            events.extend(self._on_ack(frame) if isinstance(frame, Ack) else self._on_msg(frame))
        events.append(SyncComplete(self.sync_token or page.sync))
        return events

    def _on_msg(self, msg: Positioned) -> list[Frame | SyncComplete]:
        if msg.pos <= _pos(self.sync_token):
            return []
        self.sync_token = str(msg.pos)
        return [msg]

    def _note_answer(self, frame: Frame) -> None:
        """A reply frees its request's window slot on arrival, even an ack held
        during a sync; a `rate_limited` pauses the connection instead."""
        match frame:
            case Error(code=ErrorCode.RATE_LIMITED):
                self._pacer.rate_limited(frame.re, frame.retry_after_ms)
            case Msg():
                pass
            case _:
                re = getattr(frame, "re", None)
                if isinstance(re, int):
                    self._pacer.answered(re)

    def _on_refused(self, error: Error) -> None:
        """A send refused for good is not re-sent; a storage failure is, on reconnect;
        a rate-limited one on this connection too, after the pause (_note_answer)."""
        if error.code in RETRY_CODES:
            return
        for cmid, request in self._unacked.items():
            if request.id == error.re:
                del self._unacked[cmid]
                return

    def _on_ack(self, ack: Ack) -> list[Frame | SyncComplete]:
        self._unacked.pop(ack.client_msg_id, None)
        if ack.pos > _pos(self.sync_token):
            self.sync_token = str(ack.pos)
        return [ack]


def _pos(token: str | None) -> int:
    """The stream position a version-1 sync token names."""
    if token is None:
        return 0
    try:
        return int(token)
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_SYNC_TOKEN, f"not a v1 sync token: {token!r}",
                            remote=False) from None
