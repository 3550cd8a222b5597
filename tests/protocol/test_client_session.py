"""ClientSession, the reference resume algorithm (docs/protocol.md, "Resume").

First a table of scripted cases: each step is a call on the session or a
server frame it receives; each case states what the application sees, what
the session sends, and where its sync token ends. Then a property test runs
the session against a small model of the server through random
interleavings of commits, deliveries and dropped connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpchat.protocol import (
    Ack,
    ClientSession,
    CloseCode,
    Error,
    ErrorCode,
    Frame,
    Hello,
    Msg,
    Pong,
    ProtocolError,
    Send,
    Sync,
    SyncComplete,
    SyncPage,
    Welcome,
    decode_client_frame,
    encode,
    should_reconnect,
)
from corpchat.protocol.clock import ManualClock
from corpchat.protocol.pacing import Pacing

T = 1_800_000_000_000


def welcome(sync: str, re: int = 1) -> Welcome:
    return Welcome(re=re, user="alice", session="s1", server_time=T, sync=sync, limits={})


def msg(pos: int, conv: int = 7, sender: str = "bob") -> Msg:
    return Msg(conv=conv, seq=pos, pos=pos, sender=sender, time=T, text=f"m{pos}",
               client_msg_id=f"b{pos}", to="alice")


def page(sync: str, *positions: int, more: bool = False) -> SyncPage:
    return SyncPage(re=0, msgs=tuple(msg(p) for p in positions), sync=sync, more=more)


def ack(cmid: str, pos: int, duplicate: bool = False, re: int = 0) -> Ack:
    return Ack(re=re, conv=7, seq=pos, pos=pos, time=T, client_msg_id=cmid, duplicate=duplicate)


def show(event: Frame | SyncComplete) -> tuple[Any, ...]:
    """What the application saw, in short."""
    match event:
        case Msg():
            return ("msg", event.pos)
        case Ack():
            return ("ack", event.client_msg_id, event.pos)
        case SyncComplete():
            return ("synced", event.sync)
        case Welcome():
            return ("welcome",)
        case Error():
            return ("error", event.code)
        case _:
            return (event.TYPE,)


def sent(payload: bytes) -> tuple[Any, ...]:
    """What the session sent, in short."""
    frame = decode_client_frame(payload)
    match frame:
        case Hello():
            return ("hello",)
        case Sync():
            return ("sync", frame.since)
        case Send():
            return ("send", frame.client_msg_id)
        case _:
            return (frame.TYPE,)


@dataclass
class Case:
    name: str
    steps: list[Any]
    events: list[tuple[Any, ...]]
    out: list[tuple[Any, ...]]
    token: str | None
    start_token: str | None = None
    unacked: int = 0
    tags: list[str] = field(default_factory=list)


CONNECT = ("connect",)


def SEND(cmid: str) -> tuple[str, str]:  # noqa: N802 - reads like the other steps
    return ("send", cmid)


CASES = [
    Case("a first connection adopts welcome.sync and syncs from it",
         [CONNECT, welcome("42"), page("42")],
         events=[("welcome",), ("synced", "42")],
         out=[("hello",), ("sync", "42")], token="42"),
    Case("a known token is kept, not replaced by welcome.sync",
         [CONNECT, welcome("99"), page("99", 11, 12)], start_token="10",
         events=[("welcome",), ("msg", 11), ("msg", 12), ("synced", "99")],
         out=[("hello",), ("sync", "10")], token="99"),
    Case("pages are followed while more is set",
         [CONNECT, welcome("30"), page("12", 11, 12, more=True), page("30", 15)],
         start_token="10",
         events=[("welcome",), ("msg", 11), ("msg", 12), ("msg", 15), ("synced", "30")],
         out=[("hello",), ("sync", "10"), ("sync", "12")], token="30"),
    Case("live msgs are held during sync and replayed without duplicates",
         [CONNECT, welcome("12"), msg(13), msg(14), page("13", 11, 12, 13)],
         start_token="10",
         events=[("welcome",), ("msg", 11), ("msg", 12), ("msg", 13), ("msg", 14),
                 ("synced", "14")],
         out=[("hello",), ("sync", "10")], token="14"),
    Case("held msgs stay held across several pages",
         [CONNECT, welcome("20"), msg(21), page("15", 11, 15, more=True), msg(22),
          page("21", 18, 21)],
         start_token="10",
         events=[("welcome",), ("msg", 11), ("msg", 15), ("msg", 18), ("msg", 21),
                 ("msg", 22), ("synced", "22")],
         out=[("hello",), ("sync", "10"), ("sync", "15")], token="22"),
    Case("msgs at or below the token are dropped",
         [CONNECT, welcome("20"), page("20"), msg(20), msg(19), msg(21), msg(21), msg(23)],
         start_token="20",
         events=[("welcome",), ("synced", "20"), ("msg", 21), ("msg", 23)],
         out=[("hello",), ("sync", "20")], token="23"),
    Case("a send before the connection is ready waits for welcome",
         [SEND("c1"), CONNECT, welcome("5"), page("5")], start_token="5",
         events=[("welcome",), ("synced", "5")],
         out=[("hello",), ("sync", "5"), ("send", "c1")], token="5", unacked=1),
    Case("unacked sends are re-sent after connect() with the same client_msg_id",
         [CONNECT, welcome("5"), page("5"), SEND("c1"), SEND("c2"), ack("c1", 6),
          CONNECT, welcome("7"), page("7", 7)],
         start_token="5",
         events=[("welcome",), ("synced", "5"), ("ack", "c1", 6), ("welcome",), ("msg", 7),
                 ("synced", "7")],
         out=[("hello",), ("sync", "5"), ("send", "c1"), ("send", "c2"),
              ("hello",), ("sync", "6"), ("send", "c2")],
         token="7", unacked=1),
    Case("a duplicate ack does not move the token back",
         [CONNECT, welcome("50"), page("50"), ack("c1", 30, duplicate=True)],
         start_token="50",
         events=[("welcome",), ("synced", "50"), ("ack", "c1", 30)],
         out=[("hello",), ("sync", "50")], token="50"),
    Case("an ack moves the token forward",
         [CONNECT, welcome("50"), page("50"), ack("c1", 51)], start_token="50",
         events=[("welcome",), ("synced", "50"), ("ack", "c1", 51)],
         out=[("hello",), ("sync", "50")], token="51"),
    Case("an ack during sync is held and replayed",
         [CONNECT, welcome("50"), ack("c1", 60), page("55", 55)], start_token="50",
         events=[("welcome",), ("msg", 55), ("ack", "c1", 60), ("synced", "60")],
         out=[("hello",), ("sync", "50")], token="60"),
    Case("a duplicate ack during sync is held and does not move the token",
         [CONNECT, welcome("60"), ack("c1", 55, duplicate=True), page("60", 55, 60)],
         start_token="50",
         events=[("welcome",), ("msg", 55), ("msg", 60), ("ack", "c1", 55), ("synced", "60")],
         out=[("hello",), ("sync", "50")], token="60"),
    Case("held msgs and acks replay in arrival order, each by its own rule",
         [CONNECT, welcome("50"), msg(51), ack("c1", 52), msg(53), ack("c2", 40, duplicate=True),
          ack("c3", 54), page("51", 51)],
         start_token="50",
         events=[("welcome",), ("msg", 51), ("ack", "c1", 52), ("msg", 53), ("ack", "c2", 40),
                 ("ack", "c3", 54), ("synced", "54")],
         out=[("hello",), ("sync", "50")], token="54"),
    Case("a reconnect forgets held frames and syncs again from the token",
         [CONNECT, welcome("20"), msg(25), CONNECT, welcome("25"), page("25", 21, 25)],
         start_token="20",
         events=[("welcome",), ("welcome",), ("msg", 21), ("msg", 25), ("synced", "25")],
         out=[("hello",), ("sync", "20"), ("hello",), ("sync", "20")], token="25"),
    Case("frames of an unknown type (a later minor version) are ignored",
         [CONNECT, welcome("5"), page("5"), b"\x82\xa4type\xa9x.future1\xa1n\x01"],
         start_token="5",
         events=[("welcome",), ("synced", "5")],
         out=[("hello",), ("sync", "5")], token="5"),
    Case("a send refused for good is not re-sent",
         [CONNECT, welcome("5"), page("5"), SEND("c1"),
          Error(code=ErrorCode.NOT_CONTACT, message="no", re=3), CONNECT, welcome("5"),
          page("5")],
         start_token="5",
         events=[("welcome",), ("synced", "5"), ("error", "not_contact"), ("welcome",),
                 ("synced", "5")],
         out=[("hello",), ("sync", "5"), ("send", "c1"), ("hello",), ("sync", "5")],
         token="5"),
    Case("a send that met a storage failure is re-sent on the next connection",
         [CONNECT, welcome("5"), page("5"), SEND("c1"),
          Error(code=ErrorCode.STORAGE_UNAVAILABLE, message="disk", re=3), CONNECT,
          welcome("5"), page("5")],
         start_token="5",
         events=[("welcome",), ("synced", "5"), ("error", "storage_unavailable"), ("welcome",),
                 ("synced", "5")],
         out=[("hello",), ("sync", "5"), ("send", "c1"), ("hello",), ("sync", "5"),
              ("send", "c1")],
         token="5", unacked=1),
    Case("other frames pass through to the application",
         [CONNECT, welcome("5"), page("5"), Pong(re=9, server_time=T)], start_token="5",
         events=[("welcome",), ("synced", "5"), ("pong",)],
         out=[("hello",), ("sync", "5")], token="5"),
]


def run(case: Case) -> tuple[ClientSession, list[tuple[Any, ...]], list[bytes]]:
    session = ClientSession("tok", device="phone", sync_token=case.start_token)
    events: list[tuple[Any, ...]] = []
    out: list[bytes] = []
    for step in case.steps:
        if step == CONNECT:
            session.connect()
        elif isinstance(step, tuple) and step[0] == "send":
            session.send_text(f"text of {step[1]}", to="bob", client_msg_id=step[1])
        else:
            payload = step if isinstance(step, bytes) else encode(step)
            events.extend(show(e) for e in session.receive(payload))
        out.extend(session.data_to_send())
    return session, events, out


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_client_session(case: Case) -> None:
    session, events, out = run(case)
    assert events == case.events
    assert [sent(p) for p in out] == case.out
    assert session.sync_token == case.token
    assert session.unacked == case.unacked


def test_resent_request_is_byte_identical() -> None:
    session = ClientSession("tok", sync_token="5")
    session.send_text("hello", to="bob", client_msg_id="c1")
    first = []
    for _ in range(2):
        session.connect()
        session.receive(encode(welcome("5")))
        first.append([p for p in session.data_to_send() if sent(p)[0] == "send"])
    assert first[0] == first[1] and len(first[0]) == 1


def test_bad_sync_token_is_raised_to_the_application() -> None:
    session = ClientSession("tok", sync_token="99")
    session.connect()
    session.receive(encode(welcome("5")))
    with pytest.raises(ProtocolError) as info:
        session.receive(encode(Error(code=ErrorCode.BAD_SYNC_TOKEN, message="future", re=2)))
    assert info.value.code == ErrorCode.BAD_SYNC_TOKEN and not info.value.remote


def test_garbage_from_the_server_raises_protocol_error() -> None:
    session = ClientSession("tok")
    with pytest.raises(ProtocolError):
        session.receive(b"\xc1")


@pytest.mark.parametrize(("code", "again"), [
    (None, True),
    (CloseCode.NORMAL, False),
    (CloseCode.GOING_AWAY, True),
    (CloseCode.PROTOCOL_ERROR, False),
    (CloseCode.UNSUPPORTED_DATA, False),
    (CloseCode.POLICY_VIOLATION, True),  # a flood, or too many connections: after a back-off
    (CloseCode.MESSAGE_TOO_BIG, False),
    (CloseCode.INTERNAL_ERROR, True),
    (CloseCode.RESYNC_REQUIRED, True),
    (CloseCode.AUTH_FAILED, False),
    (CloseCode.TIMEOUT, True),
    (CloseCode.KICKED, True),
    (1006, False),
])
def test_should_reconnect(code: int | None, again: bool) -> None:
    assert should_reconnect(code) is again


# ----- pacing (docs/protocol.md §8.3, "Pacing re-sends") -------------------------------


def cs(first: int, last: int, prefix: str = "c") -> list[str]:
    """client_msg_ids first..last, as `paced_out` shows the sends."""
    return [f"{prefix}{i}" for i in range(first, last + 1)]


def paced_out(frame: Frame) -> str:
    """A sent frame in short: a send by its client_msg_id, anything else by its type."""
    return frame.client_msg_id if isinstance(frame, Send) else frame.TYPE


@dataclass
class PacedCase:
    name: str
    steps: list[Any]
    out: list[str]  # what went out, in order, over all steps
    next_at: float | None  # session.next_send_at() at the end (the clock starts at 0)
    pacing: Pacing = field(default_factory=Pacing)


def QUEUE(n: int) -> tuple[str, int]:  # noqa: N802 - n sends offline: c1, c2, ...
    return ("queue", n)


def NEW(cmid: str) -> tuple[str, str]:  # noqa: N802 - a send while connected
    return ("new", cmid)


def ACK(name: str) -> tuple[str, str]:  # noqa: N802 - the server acks this send
    return ("ack", name)


def LIMITED(name: str | None, retry_after_ms: int) -> tuple[str, str | None, int]:  # noqa: N802
    """The server refuses the request `name` (a client_msg_id or a frame type) as rate_limited."""
    return ("limited", name, retry_after_ms)


def ADVANCE(seconds: float) -> tuple[str, float]:  # noqa: N802
    return ("advance", seconds)


ANSWER_ALL = ("answer all",)  # the server acks every send as soon as it is written
WELCOME = welcome("5", re=0)
PACED = [
    PacedCase("after welcome at most 64 re-sends go out, behind the sync",
              [QUEUE(100), CONNECT, WELCOME],
              out=["hello", "sync", *cs(1, 64)], next_at=None),
    PacedCase("each answer, an ack or an error with its re, lets one more out",
              [QUEUE(100), CONNECT, WELCOME, ACK("c1"), ("refused", "c2")],
              out=["hello", "sync", *cs(1, 64), "c65", "c66"], next_at=None),
    PacedCase("an ack held by a running sync still opens the window",
              [QUEUE(70), CONNECT, WELCOME, ACK("c5"), ACK("c6")],
              out=["hello", "sync", *cs(1, 64), "c65", "c66"], next_at=None),
    PacedCase("acks as fast as it sends: 300 frames at once, then 150 a second",
              [QUEUE(400), CONNECT, WELCOME, ANSWER_ALL, ADVANCE(1 / 150), ANSWER_ALL,
               ADVANCE(0.1)],
              out=["hello", "sync", *cs(1, 298), "c299", *cs(300, 314)], next_at=0.1 + 2 / 150),
    PacedCase("rate_limited: nothing until retry_after_ms, then the refused send first",
              [QUEUE(10), CONNECT, WELCOME, LIMITED("c3", 500), ACK("c1"), ADVANCE(0.499)],
              out=["hello", "sync", *cs(1, 10)], next_at=0.5),
    PacedCase("after the pause the refused send goes out again, at the sustained rate",
              [QUEUE(10), CONNECT, WELCOME, LIMITED("c3", 500), ADVANCE(0.5)],
              out=["hello", "sync", *cs(1, 10), "c3"], next_at=None),
    PacedCase("a rate_limited pause also holds frames other than sends",
              [QUEUE(1), CONNECT, WELCOME, LIMITED("c1", 20), ("ping",)],
              out=["hello", "sync", "c1"], next_at=0.02),
    PacedCase("a refused sync is sent again after the pause",
              [CONNECT, WELCOME, LIMITED("sync", 100), ADVANCE(0.1)],
              out=["hello", "sync", "sync"], next_at=None),
    PacedCase("a rate_limited without re (1.0, 1.1) only pauses",
              [QUEUE(2), CONNECT, WELCOME, LIMITED(None, 100), ACK("c1"), ADVANCE(0.1)],
              out=["hello", "sync", "c1", "c2"], next_at=None),
    PacedCase("new sends queue behind the re-sends, in order",
              [QUEUE(3), CONNECT, WELCOME, NEW("n1"), NEW("n2"), ACK("c1"), ACK("c2"),
               ACK("c3"), ACK("n1")],
              out=["hello", "sync", "c1", "c2", "c3", "n1", "n2"], next_at=None,
              pacing=Pacing(window=2)),
    PacedCase("a send refused as rate_limited goes out again before later ones",
              [QUEUE(3), CONNECT, WELCOME, NEW("n1"), LIMITED("c2", 10), ACK("c1"),
               ADVANCE(0.1), ACK("c2")],
              out=["hello", "sync", "c1", "c2", "c2", "c3", "n1"], next_at=None,
              pacing=Pacing(window=2)),
    PacedCase("requests other than sends do not wait for the window",
              [QUEUE(3), CONNECT, WELCOME, page("9", 6, 9, more=True), ("ping",)],
              out=["hello", "sync", "c1", "sync", "ping"], next_at=None,
              pacing=Pacing(window=1)),
    PacedCase("a reconnect starts again: a fresh window and bucket, re-sends first",
              [QUEUE(3), CONNECT, WELCOME, page("5"), ANSWER_ALL, NEW("n1"), CONNECT, WELCOME],
              out=["hello", "sync", *cs(1, 3), "hello", "sync", "n1"], next_at=None,
              pacing=Pacing(window=2, burst=5)),
    PacedCase("a reconnect re-sends what is still unacked, in the order first sent",
              [QUEUE(3), CONNECT, WELCOME, page("5"), NEW("n1"), ACK("c1"), CONNECT, WELCOME],
              out=["hello", "sync", "c1", "c2", "c3", "hello", "sync", "c2", "c3"],
              next_at=None, pacing=Pacing(window=2)),
]


class PacedRun:
    """A session on a manual clock, and the server's side of the steps."""

    def __init__(self, pacing: Pacing) -> None:
        self.clock = ManualClock()
        self.session = ClientSession("tok", sync_token="5", clock=self.clock, pacing=pacing)
        self.out: list[str] = []
        self.ids: dict[str, int] = {}  # a request (client_msg_id or type) -> its last id
        self.unanswered: list[Send] = []
        self.queued = 0

    def flush(self) -> int:
        payloads = self.session.data_to_send()
        for payload in payloads:
            frame = decode_client_frame(payload)
            self.out.append(paced_out(frame))
            self.ids[paced_out(frame)] = getattr(frame, "id", 0)
            if isinstance(frame, Send):
                self.unanswered.append(frame)
        return len(payloads)

    def receive(self, frame: Frame) -> None:
        self.session.receive(encode(frame))
        self.flush()

    def ack(self, cmid: str) -> Ack:
        pos = 100 + len(self.out)
        return Ack(re=self.ids[cmid], conv=7, seq=pos, pos=pos, time=T, client_msg_id=cmid)

    def step(self, step: Any) -> None:
        match step:
            case ("queue", int(n)):
                for _ in range(n):
                    self.queued += 1
                    self.session.send_text("x", to="bob", client_msg_id=f"c{self.queued}")
            case ("new", str(cmid)):
                self.session.send_text("x", to="bob", client_msg_id=cmid)
            case ("ack", str(cmid)):
                self.receive(self.ack(cmid))
            case ("refused", str(cmid)):
                self.receive(Error(code=ErrorCode.NOT_CONTACT, message="no", re=self.ids[cmid]))
            case ("limited", name, int(ms)):
                re = None if name is None else self.ids[name]
                self.receive(Error(code=ErrorCode.RATE_LIMITED, message="slow down", re=re,
                                   retry_after_ms=ms))
            case ("advance", float(seconds)):
                self.clock.advance(seconds)
            case ("answer all",):
                while self.unanswered:
                    self.receive(self.ack(self.unanswered.pop(0).client_msg_id))
            case ("ping",):
                self.session.ping()
            case ("connect",):
                self.session.connect()
                self.unanswered.clear()
            case _:
                self.receive(step)
        self.flush()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in PACED])
def test_paced_sending(case: PacedCase) -> None:
    run = PacedRun(case.pacing)
    for step in case.steps:
        run.step(step)
    assert run.out == case.out
    next_at = run.session.next_send_at()
    assert next_at == (None if case.next_at is None else pytest.approx(case.next_at))


def test_paced_sends_never_exceed_the_servers_bucket() -> None:
    """However fast the acks come, the frames sent by any time t stay within the
    server's bucket (400 + 200 t), and those unanswered within the window."""
    run = PacedRun(Pacing())
    run.step(QUEUE(2000))
    run.step(CONNECT)
    run.step(WELCOME)
    run.step(page("5"))  # caught up: acks are processed, not held
    while run.session.unacked:
        assert len(run.unanswered) <= 64
        assert len(run.out) <= 400 + 200 * run.clock.monotonic()
        run.step(ANSWER_ALL)
        if (at := run.session.next_send_at()) is not None:
            run.clock.advance(max(at - run.clock.monotonic(), 0.001))
            run.flush()
    assert run.out[2:] == cs(1, 2000)
    assert run.clock.monotonic() == pytest.approx((2000 + 2 - 300) / 150, abs=0.01)


# ----- against a model of the server ---------------------------------------------------


class ModelServer:
    """The server's rules for one user, reduced to what resume depends on.

    Every committed message is visible to the user. A connection registered
    by `hello` gets every later commit live, in commit order, interleaved
    with the replies to its requests; its own sends are answered with an
    ack, never a msg. A repeated client_msg_id is answered with the original
    ack. Sync pages come in position order; the last page's token is the head.
    """

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.log: list[tuple[int, str, str | None]] = []  # (pos, sender, cmid) at pos-1
        self.by_cmid: dict[str, int] = {}
        self.to_client: list[bytes] = []
        self.connected = False

    @property
    def head(self) -> int:
        return len(self.log)

    def commit(self, sender: str, cmid: str | None) -> int:
        self.log.append((self.head + 1, sender, cmid))
        return self.head

    def commit_other(self) -> None:
        pos = self.commit("bob", None)
        if self.connected:
            self.to_client.append(encode(self._msg(pos)))

    def _msg(self, pos: int) -> Msg:
        _pos, sender, cmid = self.log[pos - 1]
        return Msg(conv=7, seq=pos, pos=pos, sender=sender, time=T, text=f"m{pos}",
                   client_msg_id=cmid or f"b{pos}")

    def request(self, payload: bytes) -> None:
        frame = decode_client_frame(payload)
        match frame:
            case Hello():
                self.connected = True
                self.to_client.append(encode(welcome(str(self.head), frame.id)))
            case Sync():
                since = int(frame.since)
                assert since <= self.head
                msgs = [self._msg(p) for p in range(since + 1, self.head + 1)]
                more = len(msgs) > self.page_size
                msgs = msgs[: self.page_size]
                token = msgs[-1].pos if more else self.head
                self.to_client.append(encode(SyncPage(re=frame.id, msgs=tuple(msgs),
                                                      sync=str(token), more=more)))
            case Send():
                duplicate = frame.client_msg_id in self.by_cmid
                if not duplicate:
                    self.by_cmid[frame.client_msg_id] = self.commit("alice", frame.client_msg_id)
                pos = self.by_cmid[frame.client_msg_id]
                self.to_client.append(encode(Ack(re=frame.id, conv=7, seq=pos, pos=pos, time=T,
                                                 client_msg_id=frame.client_msg_id,
                                                 duplicate=duplicate)))

    def drop(self) -> None:
        self.connected = False
        self.to_client.clear()


ACTIONS = ["commit", "deliver", "request", "send", "drop"]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 4))
def test_resume_delivers_every_message_once_in_order(data: st.DataObject, page_size: int) -> None:
    server = ModelServer(page_size)
    session = ClientSession("tok")
    to_server: list[bytes] = []
    seen: list[Frame | SyncComplete] = []
    sends = 0

    def connect() -> None:
        server.drop()
        to_server.clear()
        session.connect()

    def pump(action: str) -> None:
        nonlocal sends
        if action == "commit":
            server.commit_other()
        elif action == "deliver" and server.to_client:
            seen.extend(session.receive(server.to_client.pop(0)))
        elif action == "request" and to_server:
            server.request(to_server.pop(0))
        elif action == "send":
            sends += 1
            session.send_text("x", to="bob", client_msg_id=f"c{sends}")
        elif action == "drop":
            connect()
        to_server.extend(session.data_to_send())

    connect()
    to_server.extend(session.data_to_send())
    for action in data.draw(st.lists(st.sampled_from(ACTIONS), max_size=60)):
        pump(action)
    connect()  # a last, undisturbed connection: everything must arrive
    to_server.extend(session.data_to_send())
    while to_server or server.to_client:
        pump("request" if to_server else "deliver")

    # A new device's history starts at the head named by the first welcome it reads.
    start = int(next(e.sync for e in seen if isinstance(e, Welcome)))
    positions = [e.pos for e in seen if isinstance(e, Msg)]
    acked = {e.pos for e in seen if isinstance(e, Ack)}
    assert positions == sorted(set(positions)), "each msg once, in position order"
    assert set(positions) | acked == set(range(start + 1, server.head + 1)), "nothing lost"
    assert session.unacked == 0
    assert sorted(server.by_cmid) == sorted(f"c{i}" for i in range(1, sends + 1))
    assert session.sync_token == str(server.head)
    assert isinstance(seen[-1], SyncComplete) or not server.to_client
