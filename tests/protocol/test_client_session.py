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
    (CloseCode.POLICY_VIOLATION, False),
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
