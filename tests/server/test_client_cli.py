"""The terminal client (`corpchat client`) against a real server.

Most tests drive `TerminalClient` directly: a scripted terminal feeds it
lines and keeps what it prints. One test runs the real command with a
piped stdin.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time

import pytest
import trio

from corpchat.protocol import Ack, ClientSession, CloseCode, GroupCreate, Msg, Ok
from corpchat.protocol.pacing import Pacing
from corpchat.server.client_cli import (
    Backoff,
    State,
    TerminalClient,
    format_msg,
    load_state,
    save_state,
)

from ..client import TestClient

TIMEOUT_S = 5.0
MESSAGE_LINE = re.compile(r"^\[\d\d:\d\d:\d\d #\d+\] (\S+) -> (\S+): (.*)$")


class Terminal:
    """A scripted terminal: lines to type in, everything printed kept."""

    def __init__(self) -> None:
        self._typed, self._keys = trio.open_memory_channel[str](100)
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def read_line(self) -> str | None:
        try:
            return await self._keys.receive()
        except trio.EndOfChannel:
            return None

    def out(self, text: str) -> None:
        self.lines.append(text)
        self._changed.set()

    async def type(self, *lines: str) -> None:
        for line in lines:
            await self._typed.send(line)

    async def end_input(self) -> None:
        await self._typed.aclose()

    async def wait_for(self, pattern: str, nth: int = 1) -> str:
        """The nth printed line containing `pattern` (waiting for it if needed)."""
        with trio.fail_after(TIMEOUT_S):
            while True:
                found = [line for line in self.lines if pattern in line]
                if len(found) >= nth:
                    return found[nth - 1]
                self._changed = trio.Event()
                await self._changed.wait()

    def messages(self) -> list[tuple[str, str, str]]:
        """(from, to, text) of every message line printed."""
        return [m.groups() for m in map(MESSAGE_LINE.match, self.lines) if m]  # type: ignore[misc]


class Running:
    """A TerminalClient running in the nursery, with its terminal."""

    def __init__(self, nursery: trio.Nursery, url: str, token: str, **kw) -> None:
        self.terminal = Terminal()
        self.client = TerminalClient(url, token, self.terminal.out, **kw)
        self.done = trio.Event()
        self.exit_code: int | None = None
        nursery.start_soon(self._run)

    async def _run(self) -> None:
        try:
            self.exit_code = await self.client.run(self.terminal.read_line)
        finally:
            self.done.set()

    async def connected(self) -> Running:
        await self.terminal.wait_for("-- connected as")
        return self

    async def finished(self) -> int | None:
        with trio.fail_after(TIMEOUT_S):
            await self.done.wait()
        return self.exit_code


async def test_two_users_chat_and_read_history(server, nursery):
    alice = await Running(nursery, server.url, await server.user("alice")).connected()
    bob = await Running(nursery, server.url, await server.user("bob")).connected()
    await alice.terminal.type("/to bob", "hi bob")
    await bob.terminal.wait_for("alice -> bob: hi bob")
    await bob.terminal.type("/to alice", "hi alice")
    await alice.terminal.wait_for("bob -> alice: hi alice")

    await alice.terminal.type("/history 5")
    header = await alice.terminal.wait_for("-- last 2 messages with bob")
    shown = alice.terminal.lines[alice.terminal.lines.index(header) + 1:]
    await alice.terminal.wait_for("hi alice")  # the page's last line, once printed
    assert [m.groups() for m in map(MESSAGE_LINE.match, shown) if m] == [
        ("alice", "bob", "hi bob"), ("bob", "alice", "hi alice")]
    assert not any(line.startswith("!") for line in alice.terminal.lines + bob.terminal.lines)

    for running in (alice, bob):
        await running.terminal.type("/quit")
        assert await running.finished() == 0


async def test_restart_with_state_file_shows_exactly_the_missed_messages(
        server, nursery, tmp_path):
    state = str(tmp_path / "bob.state")
    bob_token = await server.user("bob")
    alice = await TestClient(nursery, server.url, await server.user("alice")).connect()

    bob = await Running(nursery, server.url, bob_token, state_path=state).connected()
    await alice.send("one", to="bob")
    await alice.expect(Ack)
    await bob.terminal.wait_for("alice -> bob: one")
    await bob.terminal.type("/quit")
    assert await bob.finished() == 0

    for text in ("two", "three"):
        await alice.send(text, to="bob")
        await alice.expect(Ack)

    bob = await Running(nursery, server.url, bob_token, state_path=state).connected()
    await bob.terminal.wait_for("alice -> bob: three")
    await alice.send("four", to="bob")
    last = await alice.expect(Ack)
    await bob.terminal.wait_for("alice -> bob: four")
    assert [text for _, _, text in bob.terminal.messages()] == ["two", "three", "four"]
    assert load_state(state).sync == str(last.pos)

    await bob.terminal.type("/to alice", "/history")  # the conversation id was kept too
    await bob.terminal.wait_for("-- last 4 messages with alice")
    await bob.terminal.type("/quit")
    assert await bob.finished() == 0


async def test_group_events_and_messages_show_with_the_group_id(server, nursery):
    ann = await TestClient(nursery, server.url, await server.user("ann")).connect()
    bob = await Running(nursery, server.url, await server.user("bob")).connected()
    ann.session.queue(GroupCreate(id=ann.session.next_request_id(), name="team",
                                  members=("bob",)))
    await ann.flush()
    conv = (await ann.expect(Ok)).conv
    await bob.terminal.wait_for(f"#{conv} * ann create ann bob")
    await bob.terminal.type(f"/to #{conv}", "hello team")
    while (msg := await ann.expect(Msg)).kind == "system":
        pass
    assert (msg.sender, msg.text) == ("bob", "hello team")
    await bob.terminal.type("/history")  # after the ack: history reads what is committed
    await bob.terminal.wait_for(f"-- last 2 messages with #{conv}")
    await bob.terminal.wait_for(f"bob -> #{conv}: hello team")
    await bob.terminal.type("/quit")
    assert await bob.finished() == 0


@pytest.mark.slow
async def test_reconnects_resends_and_resumes_after_a_server_close(server, nursery):
    alice = await TestClient(nursery, server.url, await server.user("alice")).connect()
    bob = await Running(nursery, server.url, await server.user("bob"),
                        backoff=Backoff(first_s=0.3, max_s=0.3)).connected()
    await bob.terminal.type("/to alice")
    await bob.terminal.wait_for("-- talking to alice")

    bob_uid = server.app.store.user_by_handle("bob").uid
    for session in server.app.hub.sessions_of(bob_uid):
        session.begin_close(CloseCode.GOING_AWAY, "test")
    await bob.terminal.wait_for("-- connection lost (close 1001")
    await bob.terminal.type("written while offline")
    await bob.terminal.wait_for("-- offline: it will be sent on reconnect")
    await alice.send("sent while bob was away", to="bob")
    await alice.expect(Ack)

    await bob.terminal.wait_for("-- reconnected")
    await bob.terminal.wait_for("alice -> bob: sent while bob was away")
    msg = await alice.expect(Msg)
    assert (msg.sender, msg.text) == ("bob", "written while offline")
    await alice.send("live again", to="bob")
    await bob.terminal.wait_for("alice -> bob: live again")
    assert [text for _, _, text in bob.terminal.messages()] == [
        "sent while bob was away", "live again"]
    assert alice.taken(Msg) == [msg]
    await bob.terminal.type("/quit")
    assert await bob.finished() == 0


async def test_reconnects_after_a_flood_close(server, nursery):
    """1008 (a request flood) is reconnected after a back-off: a chat client that
    stays offline until its user notices loses messages (protocol.md §12)."""
    bob = await Running(nursery, server.url, await server.user("bob"),
                        backoff=Backoff(first_s=0.01, max_s=0.01)).connected()
    bob_uid = server.app.store.user_by_handle("bob").uid
    for session in server.app.hub.sessions_of(bob_uid):
        session.begin_close(CloseCode.POLICY_VIOLATION, "request flood")
    await bob.terminal.wait_for("-- connection lost (close 1008")
    await bob.terminal.wait_for("-- reconnected")
    await bob.terminal.type("/quit")
    assert await bob.finished() == 0


async def test_sends_held_back_by_pacing_go_out_when_due(server, nursery):
    """A tiny bucket: the client's pacing task writes the rest as tokens come back,
    with nothing arriving from the server to prompt it."""
    bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
    alice = Running(nursery, server.url, await server.user("alice"))
    alice.client.session = ClientSession(alice.client.session.token,
                                         pacing=Pacing(window=8, burst=3, rate_per_s=50))
    await alice.connected()  # hello and sync took 2 of the 3 tokens
    await alice.terminal.type("/to bob", *(f"line {i}" for i in range(6)))
    texts = [(await bob.expect(Msg)).text for _ in range(6)]
    assert texts == [f"line {i}" for i in range(6)]
    await alice.terminal.end_input()
    assert await alice.finished() == 0


async def test_bad_token_exits_without_retrying(server, nursery):
    bad = Running(nursery, server.url, "not-a-token", backoff=Backoff(first_s=0.01))
    assert await bad.finished() == 1
    assert bad.terminal.lines[-1] == "-- closed: authentication failed (4001); check --token"
    assert any(line.startswith("! auth_failed: ") for line in bad.terminal.lines)


async def test_keeps_retrying_while_the_server_is_unreachable(nursery):
    with trio.socket.socket() as sock:  # a port with nobody listening on it
        await sock.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}/"
        client = Running(nursery, url, "any", backoff=Backoff(first_s=0.01, max_s=0.02))
        await client.terminal.wait_for("-- cannot connect", nth=3)
        await client.terminal.end_input()
        assert await client.finished() == 0


async def test_a_state_file_from_another_server_is_refused_with_a_hint(server, nursery, tmp_path):
    state = str(tmp_path / "old.state")
    save_state(state, State("999999", {}))
    client = Running(nursery, server.url, await server.user("alice"), state_path=state)
    assert await client.finished() == 2
    assert client.terminal.lines[-1].startswith("! bad_sync_token: the server does not know")
    assert state in client.terminal.lines[-1]


async def test_end_of_input_waits_for_the_ack_then_exits(server, nursery):
    bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
    alice = Running(nursery, server.url, await server.user("alice"))
    await alice.terminal.type("/to bob", "last words")
    await alice.terminal.end_input()
    assert await alice.finished() == 0
    assert alice.client.session.unacked == 0
    assert (await bob.expect(Msg)).text == "last words"


async def test_hints_and_errors_are_short(server, nursery):
    alice = await Running(nursery, server.url, await server.user("alice"),
                          drain_s=0.05).connected()
    term = alice.terminal
    await term.type("hello?")
    await term.wait_for("! no peer yet: type /to USER first")
    await term.type("/frobnicate")
    await term.wait_for("! unknown command /frobnicate")
    await term.type("/to bob", "/history")
    await term.wait_for("! no conversation with bob known yet")
    await term.type("/history many")
    await term.wait_for("! usage: /history [N]")
    await term.type("/to nobody", "hi")
    await term.wait_for("! no_such_user: ")
    await term.type("/quit")
    assert await alice.finished() == 0


@pytest.mark.slow
async def test_the_command_reads_stdin_and_exits_at_its_end(server, nursery, tmp_path):
    bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
    state = tmp_path / "alice.state"
    argv = [sys.executable, "-m", "corpchat.server.cli", "client", "--url", server.url,
            "--token", await server.user("alice"), "--device", "pipe", "--state", str(state)]
    with trio.fail_after(20):
        done = await trio.run_process(argv, stdin=b"/to bob\nfrom a pipe\n",
                                      capture_stdout=True, capture_stderr=True)
    assert done.returncode == 0, done.stderr.decode()
    assert "-- connected as alice" in done.stdout.decode()
    assert (await bob.expect(Msg)).text == "from a pipe"
    assert "bob" in json.loads(state.read_text())["convs"]


# ----- pure parts -----

def test_backoff_doubles_to_its_cap_with_jitter_and_resets():
    random.seed(7)
    backoff = Backoff(first_s=0.5, max_s=10.0)
    bases = [0.5, 1, 2, 4, 8, 10, 10]
    delays = [backoff.next_delay() for _ in bases]
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases, strict=True))
    backoff.reset()
    assert 0.25 <= backoff.next_delay() <= 0.5


def test_state_file_round_trip_is_atomic(tmp_path):
    path = str(tmp_path / "s.state")
    assert load_state(path) == State()
    save_state(path, State("42", {"bob": 3}))
    save_state(path, State("43", {"bob": 3}))
    assert load_state(path) == State("43", {"bob": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.state"]


@pytest.mark.parametrize("content", ['{"sync": "x1"}', '{"sync": 5}', '[1]', '{"sync',
                                     '{"sync": "1", "convs": {"a": "b"}}'])
def test_a_damaged_state_file_is_refused(tmp_path, content):
    path = tmp_path / "s.state"
    path.write_text(content)
    with pytest.raises(ValueError):
        load_state(str(path))


def test_message_lines_use_local_time():
    msg = Msg(conv=1, seq=1, pos=1, sender="alice", time=1_800_000_000_123, text="hi", to="bob")
    stamp = time.strftime("%H:%M:%S", time.localtime(1_800_000_000))
    assert format_msg(msg) == f"[{stamp} #1] alice -> bob: hi"


def test_message_lines_show_quotes_edits_mentions_and_reactions():
    from corpchat.protocol import Quote

    msg = Msg(conv=7, seq=4, pos=9, sender="ann", time=1_800_000_000_000, text="ok @ben",
              reply_to=2, quote=Quote(seq=2, sender="ben", text="ship it?"), version=1,
              mentioned=True, reactions={"👍": 2})
    stamp = time.strftime("%H:%M:%S", time.localtime(1_800_000_000))
    assert format_msg(msg) == (f"  > ben: ship it?\n[{stamp} #4] ann -> #7: ok @ben (edited) "
                               "[@you] 👍 2")


def test_message_lines_show_the_files_a_message_carries():
    from corpchat.protocol import ForwardedFrom, MediaInfo

    files = (MediaInfo(media="m1", name="plan.png", size=9, mime="image/png", sha256="0" * 64,
                       kind="image"),
             MediaInfo(media="m2", name="", size=9, mime="application/pdf", sha256="0" * 64,
                       kind="file"))
    msg = Msg(conv=7, seq=5, pos=9, sender="ann", time=1_800_000_000_000, text="see",
              attachments=files, forwarded_from=ForwardedFrom(sender="ben"), kind="file")
    stamp = time.strftime("%H:%M:%S", time.localtime(1_800_000_000))
    assert format_msg(msg) == (f"[{stamp} #5] ann -> #7: [forwarded from ben] see "
                               "[image plan.png] [file m2]")


def test_mentions_complete_to_the_one_known_handle():
    from corpchat.server.client_cli import complete_mentions

    known = {"ben", "bob", "cat"}
    assert complete_mentions("hi @ca, look", known) == ("hi @cat, look", ("cat",), None)
    assert complete_mentions("@all @ben", known) == ("@all @ben", ("all", "ben"), None)
    line, mentions, problem = complete_mentions("@b there", known)
    assert (mentions, problem) == ((), "@b: ben, bob")
    assert complete_mentions("mail me@home", known)[1] == ()


async def test_reply_edit_react_and_mention_from_the_terminal(server, nursery):
    from corpchat.protocol import Edited, ReactionEvent

    ann = await TestClient(nursery, server.url, await server.user("ann")).connect()
    bob = await Running(nursery, server.url, await server.user("bob")).connected()
    ann.session.queue(GroupCreate(id=ann.session.next_request_id(), name="team",
                                  members=("bob",)))
    await ann.flush()
    conv = (await ann.expect(Ok)).conv
    await bob.terminal.wait_for(f"#{conv} * ann create ann bob")
    await ann.send("ship it?", conv=conv)
    first = await ann.expect(Ack)
    await bob.terminal.wait_for(f"#{first.seq}] ann -> #{conv}: ship it?")
    await bob.terminal.type(f"/to #{conv}", f"/reply {first.seq} yes @an", "typo")
    reply = await ann.expect(Msg)
    while reply.kind == "system":
        reply = await ann.expect(Msg)
    assert (reply.text, reply.reply_to, reply.mentioned) == ("yes @ann", first.seq, True)
    typo = await ann.expect(Msg)
    assert typo.text == "typo"
    await bob.terminal.type(f"/edit {typo.seq} fixed", f"/react {first.seq} 👍")
    assert (await ann.expect(Edited)).text == "fixed"
    assert (await ann.expect(ReactionEvent)).reactions == {"👍": 1}
    await bob.terminal.wait_for(f"-- #{conv} message {typo.seq} edited: fixed")
    await bob.terminal.wait_for(f"-- #{conv} message {first.seq}: 👍 1")
    await bob.terminal.type("/quit")
    assert await bob.finished() == 0


async def test_search_finds_and_marks_the_match(server, nursery):
    from .test_search import caught_up

    alice = await Running(nursery, server.url, await server.user("alice")).connected()
    bob = await Running(nursery, server.url, await server.user("bob")).connected()
    await alice.terminal.type("/to bob", "我明天提交报销单")
    await bob.terminal.wait_for("alice -> bob: 我明天提交报销单")
    await caught_up(server)
    await bob.terminal.type("/search 报销")
    await bob.terminal.wait_for("-- 1 hit, newest first")
    line = await bob.terminal.wait_for("alice: 我明天提交[报销]单")
    assert line.endswith(" alice: 我明天提交[报销]单")
    await bob.terminal.type("/search nothing-like-it", "/search")
    await bob.terminal.wait_for("-- nothing found")
    await bob.terminal.wait_for("! usage: /search TEXT")
    await bob.terminal.type('/search "open')
    await bob.terminal.wait_for("! bad_request: a quote is not closed")
    for running in (alice, bob):
        await running.terminal.type("/quit")
        assert await running.finished() == 0
