"""`corpchat client`: a line-based terminal client.

All protocol logic lives in `ClientSession` (sans-IO); this module only
moves payloads between it, one WebSocket and a terminal. `TerminalClient`
takes an async line source and an output callback, so the tests drive the
very loop the command runs.

Two tasks share one `ClientSession`: the line task turns typed lines into
requests, the connection task keeps a WebSocket open, feeds it what the
session queues and shows what the session returns. When the connection
drops with a code `should_reconnect()` accepts, the connection task opens
a new one after a jittered back-off; the session survives, so unacked
sends are re-sent and sync resumes from its token. The session paces what
it sends (protocol.md §8.3): a third task writes what it held back once
`next_send_at()` comes. `--state FILE` keeps that token (and the
conversation ids learned so far) across runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from corpchat.protocol import (
    SUBPROTOCOL,
    Ack,
    ClientSession,
    CloseCode,
    Edit,
    Edited,
    Error,
    ErrorCode,
    Frame,
    HistoryPage,
    Msg,
    MuteEvent,
    ProtocolError,
    React,
    ReactionEvent,
    Search,
    SearchPage,
    SyncComplete,
    Welcome,
    should_reconnect,
)

from .client_lines import complete_mentions, format_files, format_hit, format_reactions
from .client_signin import (
    DEFAULT_URL,
    SignInRefused,
    new_password,
    password_for,
    redeem,
    sign_in,
    url_of_invite,
)

ABNORMAL_CLOSURE = 1006  # how trio-websocket reports a connection lost without a close frame
LineSource = Callable[[], Awaitable[str | None]]  # the next line, or None at end of input
Output = Callable[[str], None]
HELP = ("/to USER or /to #GROUP picks the peer, /history [N] shows its last N messages, "
        "/reply N TEXT, /edit N TEXT, /react N EMOJI (/react N -EMOJI takes it back), "
        "@han completes a handle, /search TEXT finds messages, /quit")
DEFAULT_HISTORY = 20


# ----- pure helpers -----

@dataclass
class Backoff:
    """Delays between reconnects: doubling from first_s to max_s, with jitter."""

    first_s: float = 0.5
    max_s: float = 10.0
    _next_s: float = 0.0

    def next_delay(self) -> float:
        base = self._next_s or self.first_s
        self._next_s = min(base * 2, self.max_s)
        return random.uniform(base / 2, base)  # "equal jitter": never zero, never above base

    def reset(self) -> None:
        self._next_s = 0.0


@dataclass
class State:
    """What `--state FILE` keeps: the sync token and known conversations."""

    sync: str | None = None
    convs: dict[str, int] = field(default_factory=dict)  # peer handle -> conversation id


def load_state(path: str) -> State:
    """The saved state, or an empty one if the file does not exist yet."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return State()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a corpchat client state file")
    sync, convs = data.get("sync"), data.get("convs", {})
    if not (sync is None or (isinstance(sync, str) and sync.isdigit())):
        raise ValueError(f"{path}: 'sync' is not a sync token")
    if not isinstance(convs, dict) or not all(isinstance(v, int) for v in convs.values()):
        raise ValueError(f"{path}: 'convs' must map handles to conversation ids")
    return State(sync, dict(convs))


def save_state(path: str, state: State) -> None:
    """Replace the file atomically: a reader sees the old state or the new one."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"sync": state.sync, "convs": state.convs}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def format_msg(msg: Msg) -> str:
    """`[HH:MM:SS #SEQ] alice -> bob: text` in local time; a group is `#CONV`. A reply
    is preceded by its quote (`  > ben: …`); 1.5's marks follow the text."""
    stamp = time.strftime("%H:%M:%S", time.localtime(msg.time / 1000))
    if msg.kind == "system":  # a group event: create, add, remove, rename, recall...
        detail = " ".join([*(msg.users or ()), *([msg.name] if msg.name else [])])
        ref = f" {msg.ref}" if msg.ref is not None and msg.event in ("pin", "unpin") else ""
        return f"[{stamp} #{msg.seq}] #{msg.conv} * {msg.sender} {msg.event}{ref} {detail}" \
            .rstrip()
    text = "(recalled)" if msg.recalled else msg.text
    if msg.forwarded_from is not None:
        origin = msg.forwarded_from
        text = f"[forwarded from {origin.display or origin.sender}] {text}"
    marks = [mark for mark, on in ((format_files(msg.attachments), msg.attachments),
                                   ("(edited)", msg.version), ("[@you]", msg.mentioned),
                                   ("[notice]", msg.notice)) if on]
    if msg.reactions:
        marks.append(format_reactions(msg.reactions))
    line = f"[{stamp} #{msg.seq}] {msg.sender} -> {msg.to or f'#{msg.conv}'}: " \
        + " ".join([text, *marks])
    if msg.quote is not None:
        quoted = "(recalled message)" if msg.quote.recalled else msg.quote.text or "(not shown)"
        line = f"  > {msg.quote.sender}: {quoted}\n{line}"
    return line


# ----- the client -----

class TerminalClient:
    def __init__(self, url: str, token: str, out: Output, *, device: str | None = None,
                 state_path: str | None = None, backoff: Backoff | None = None,
                 drain_s: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.ssl_context = ssl_context  # wss:// with a private CA (--ca-file); None: the system's
        self.out = out
        self.state_path = state_path
        self.state = load_state(state_path) if state_path else State()
        if state_path and not os.path.exists(state_path):
            save_state(state_path, self.state)  # fail now, not at the first message
        self.session = ClientSession(token, device=device, sync_token=self.state.sync)
        self.backoff = backoff or Backoff()
        self.drain_s = drain_s
        self.peer: str | None = None
        self.exit_code = 0
        self._sent_to: dict[str, str] = {}  # client_msg_id -> peer, until its ack names a conv
        self._known: set[str] = set()  # handles seen, for @mention completion
        self._ws: WebSocketConnection | None = None
        self._send_lock = trio.Lock()
        self._queued = trio.Event()  # set by every flush: the pacing task looks again
        self._stopping = False
        self._welcomed = False  # ever connected
        self._online = False  # connected, as far as we know
        self._max_page = DEFAULT_HISTORY  # the server's page limit, from welcome
        self._saved = (self.state.sync, dict(self.state.convs))

    async def run(self, lines: LineSource) -> int:
        """Chat until /quit, end of input or a fatal close; returns an exit status."""
        async with trio.open_nursery() as nursery:
            async def then_stop(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
                await fn(*args)
                nursery.cancel_scope.cancel()

            nursery.start_soon(then_stop, self._stay_connected)
            nursery.start_soon(then_stop, self._read_lines, lines)
            nursery.start_soon(self._pace)
        return self.exit_code

    # ----- the connection task -----

    async def _stay_connected(self) -> None:
        while True:
            code, reason = await self._connect_once()
            if self._stopping or self.exit_code:
                return
            if code == CloseCode.AUTH_FAILED:
                return self._fatal(1, "-- closed: authentication failed (4001); check --token")
            if not should_reconnect(code):
                return self._fatal(1, f"-- closed by the server ({reason}); not reconnecting")
            delay = self.backoff.next_delay()
            what = "connection lost" if self._online else "cannot connect"
            self._online = False
            self.out(f"-- {what} ({reason}); reconnecting in {delay:.1f}s")
            await trio.sleep(delay)

    async def _connect_once(self) -> tuple[int | None, str]:
        """One connection, to its end: (close code or None, why)."""
        try:
            async with open_websocket_url(self.url, subprotocols=[SUBPROTOCOL],
                                          ssl_context=self.ssl_context) as ws:
                self._ws = ws
                self.session.connect()
                await self._flush()
                while True:
                    message = await ws.get_message()
                    if isinstance(message, bytes):  # the protocol has no text messages
                        await self._on_payload(message)
        except ConnectionClosed as exc:
            closed = exc.reason
            if closed is None or closed.code in (None, ABNORMAL_CLOSURE):
                return None, "connection broken"
            why = f": {closed.reason}" if closed.reason else ""
            return closed.code, f"close {closed.code}{why}"
        except (HandshakeError, OSError) as exc:
            return None, str(exc.__cause__ or exc) or type(exc).__name__
        except ProtocolError as exc:  # fatal: _on_payload has set the exit code
            return None, exc.message
        finally:
            self._ws = None

    async def _on_payload(self, payload: bytes) -> None:
        try:
            events = self.session.receive(payload)
        except ProtocolError as exc:
            if exc.code != ErrorCode.BAD_SYNC_TOKEN:
                self.out(f"! ignored a server frame: {exc.code}: {exc.message}")
                return
            hint = f"; delete {self.state_path} to start from now" if self.state_path else ""
            self._fatal(2, f"! {exc.code}: the server does not know this sync position{hint}")
            raise
        for event in events:
            self._show(event)
        self._save()
        await self._flush()

    async def _flush(self) -> None:
        """Send what the session lets out now, in order (from any task).

        A write that fails because the connection closed is not an error here:
        the connection task reads on to the close, so the acks that arrived
        before it still count (what was not written goes out after the next
        welcome).
        """
        async with self._send_lock:
            if self._ws is not None:
                try:
                    for payload in self.session.data_to_send():
                        await self._ws.send_message(payload)
                except ConnectionClosed:
                    pass
        self._queued.set()

    async def _pace(self) -> None:
        """Flush what pacing held back when it is due; runs as long as the client."""
        clock = self.session.clock
        while True:
            self._queued = trio.Event()
            at = self.session.next_send_at()
            online = self._ws is not None  # offline, the next connection's flush wakes us
            if online and at is not None and at <= clock.monotonic():
                await self._flush()
                continue
            delay = math.inf if at is None or not online else at - clock.monotonic()
            with trio.move_on_after(delay):
                await self._queued.wait()

    # ----- what the user sees -----

    def _show(self, event: Frame | SyncComplete) -> None:
        match event:
            case Welcome():
                self._on_welcome(event)
            case Msg():
                self._learn(self._peer_of(event), event.conv)
                self._known.add(event.sender)
                self._known.update(event.users or ())
                self.out(format_msg(event))
            case Edited():
                self.out(" ".join(filter(None, (
                    f"-- #{event.conv} message {event.seq} edited: {event.text}",
                    format_files(event.attachments)))))
            case ReactionEvent():
                shown = format_reactions(event.reactions) or "no reactions"
                self.out(f"-- #{event.conv} message {event.seq}: {shown}")
            case MuteEvent():
                self.out(f"-- #{event.conv} {'muted' if event.muted else 'unmuted'}")
            case Ack():
                self._learn(self._sent_to.pop(event.client_msg_id, None), event.conv)
                if event.duplicate:
                    self.out(f"-- already delivered earlier (message {event.client_msg_id})")
            case HistoryPage():
                self._show_history(event)
            case SearchPage():
                self._show_search(event)
            case Error():
                self.out(f"! {event.code}: {event.message}")

    def _on_welcome(self, welcome: Welcome) -> None:
        self.backoff.reset()
        self._max_page = welcome.limits.get("max_page", self._max_page)
        if not self._welcomed:
            self.out(f"-- connected as {welcome.user} ({HELP})")
        else:
            self.out("-- reconnected")
        self._welcomed = self._online = True

    def _show_history(self, page: HistoryPage) -> None:
        peer = next((p for p, c in self.state.convs.items() if c == page.conv), f"#{page.conv}")
        if not page.msgs:
            self.out(f"-- no messages with {peer} yet")
            return
        count = len(page.msgs)
        self.out(f"-- last {count} message{'s' if count > 1 else ''} with {peer}")
        for msg in reversed(page.msgs):  # the page is newest first
            self.out(format_msg(msg))

    def _show_search(self, page: SearchPage) -> None:
        if not page.hits:
            self.out("-- nothing found")
            return
        count = len(page.hits)
        self.out(f"-- {count} hit{'s' if count > 1 else ''}, newest first"
                 + (" (there are more: narrow the search)" if page.cursor else ""))
        for hit in page.hits:
            self.out(format_hit(hit))

    def _peer_of(self, msg: Msg) -> str:
        """Whom this message is a conversation with, as `/to` would name it."""
        if msg.to is None:
            return f"#{msg.conv}"
        return msg.to if msg.sender == self.session.user else msg.sender

    def _learn(self, peer: str | None, conv: int) -> None:
        if peer is not None:
            self.state.convs[peer] = conv

    def _save(self) -> None:
        """Write the state file if the token or a conversation id moved."""
        self.state.sync = self.session.sync_token
        snapshot = (self.state.sync, dict(self.state.convs))
        if self.state_path is not None and snapshot != self._saved:
            save_state(self.state_path, self.state)
            self._saved = snapshot

    def _fatal(self, code: int, message: str) -> None:
        self.exit_code = code
        self.out(message)

    # ----- the line task -----

    async def _read_lines(self, lines: LineSource) -> None:
        while (line := await lines()) is not None:
            line = line.strip()
            if line == "/quit":
                break
            if line:
                self._on_line(line)
                try:
                    await self._flush()
                except ConnectionClosed:
                    pass  # the connection task sees it too, and reconnects
        await self._finish()

    def _on_line(self, line: str) -> None:
        command, _, arg = line.partition(" ")
        match command:
            case "/to" if arg.strip():
                self.peer = arg.strip()
                self.out(f"-- talking to {self.peer}")
            case "/to":
                self.out("! usage: /to USER")
            case "/history":
                self._ask_history(arg.strip())
            case "/reply" | "/edit" | "/react":
                self._on_message_command(command, arg.strip())
            case "/search" if arg.strip():
                self._ask_search(arg.strip())
            case "/search":
                self.out("! usage: /search TEXT")
            case _ if command.startswith("/"):
                self.out(f"! unknown command {command}: {HELP}")
            case _ if self.peer is None:
                self.out("! no peer yet: type /to USER first")
            case _:
                self._send_line(line)

    def _send_line(self, line: str, reply_to: int | None = None) -> None:
        assert self.peer is not None
        target = _target(self.peer)
        line, mentions, problem = complete_mentions(line, self._known)
        if problem is not None:
            self.out(f"! {problem}")
            return
        if "conv" not in target:  # mentions and replies travel with a conversation id
            mentions = ()
            if reply_to is not None and self.peer in self.state.convs:
                target = {"conv": self.state.convs[self.peer]}
        cmid = self.session.send_text(line, mentions=mentions, reply_to=reply_to, **target)
        self._sent_to[cmid] = self.peer
        if self._ws is None and self._welcomed:
            self.out("-- offline: it will be sent on reconnect")

    def _on_message_command(self, command: str, arg: str) -> None:
        """`/reply N TEXT`, `/edit N TEXT`, `/react N EMOJI` on message N (its #seq) of
        the current conversation."""
        number, _, rest = arg.partition(" ")
        conv = self.peer and (self.state.convs.get(self.peer) or _target(self.peer).get("conv"))
        if not number.isdigit() or not rest.strip():
            self.out(f"! usage: {command} N {'EMOJI' if command == '/react' else 'TEXT'}")
        elif self.peer is None or not conv:
            self.out("! no conversation yet: type /to USER and send a message first")
        elif command == "/reply":
            self._send_line(rest.strip(), reply_to=int(number))
        elif command == "/edit":
            self.session.queue(Edit(id=self.session.next_request_id(), conv=conv,
                                    seq=int(number), text=rest.strip()))
        else:
            emoji = rest.strip()
            self.session.queue(React(id=self.session.next_request_id(), conv=conv,
                                     seq=int(number), emoji=emoji.removeprefix("-") or emoji,
                                     on=not (emoji.startswith("-") and len(emoji) > 1)))

    def _ask_history(self, arg: str) -> None:
        conv = self.peer and (self.state.convs.get(self.peer) or _target(self.peer).get("conv"))
        if not (arg == "" or (arg.isdigit() and int(arg) > 0)):
            self.out("! usage: /history [N]")
        elif self.peer is None:
            self.out("! no peer yet: type /to USER first")
        elif not conv:
            self.out(f"! no conversation with {self.peer} known yet: send a message first")
        elif self._ws is None:
            self.out("! offline: try again once reconnected")
        else:
            self.session.history(conv, limit=min(int(arg or DEFAULT_HISTORY), self._max_page))

    def _ask_search(self, text: str) -> None:
        if self._ws is None:
            self.out("! offline: try again once reconnected")
        else:
            self.session.queue(Search(id=self.session.next_request_id(), query=text))

    async def _finish(self) -> None:
        """Give unacked sends a moment to be confirmed, then close politely."""
        with trio.move_on_after(self.drain_s):
            while self.session.unacked:
                await trio.sleep(0.02)
        if self.session.unacked:
            self.out(f"! {self.session.unacked} message(s) not confirmed by the server")
        self._stopping = True
        if self._ws is not None:
            with trio.move_on_after(2):
                await self._ws.aclose()


def _target(peer: str) -> dict[str, Any]:
    """`/to bob` sends to a user; `/to #12` into conversation 12 (a group)."""
    if peer.startswith("#") and peer[1:].isdigit():
        return {"conv": int(peer[1:])}
    return {"to": peer}


# ----- the command -----

def add_parser(sub: Any) -> None:
    p = sub.add_parser("client", help="a line-based terminal client")
    p.add_argument("--url", type=_ws_url,
                   help="the server's WebSocket URL (ws:// or wss://; default: the server "
                   f"of --invite's link, else {DEFAULT_URL})")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--invite", metavar="LINK",
                     help="the invite link from 'corpchat admin user add' (or its code): "
                     "choose a password (asked for twice; piped: the first line), sign in")
    who.add_argument("--login", metavar="HANDLE",
                     help="sign in with HANDLE's password (asked for; piped: the first line)")
    who.add_argument("--token", help="a device token (e.g. 'corpchat admin token issue', "
                     "for bots); write --token=T, as T may begin with '-'")
    p.add_argument("--device", help="a name for this device (shown to operators)")
    p.add_argument("--state", help="keep the sync position in this file across runs")
    p.add_argument("--ca-file", help="wss://: trust this PEM certificate (e.g. a self-signed "
                   "one) instead of the system's authorities")
    p.set_defaults(run=_run)


def _ws_url(value: str) -> str:
    if not value.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError("expected ws://HOST:PORT/ or wss://HOST:PORT/")
    return value


async def stdin_lines() -> str | None:
    """The next line typed, without blocking trio; None at end of input."""
    line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    return line.rstrip("\n") if line else None


def _print(text: str) -> None:
    print(text, flush=True)


def _signed_in(args: argparse.Namespace, url: str, context: ssl.SSLContext | None) -> str:
    """A new device token from `--login`'s password or `--invite`'s redemption."""
    device = args.device or "terminal"
    if args.invite:
        return trio.run(redeem, url, args.invite, new_password(), device, context)
    return trio.run(sign_in, url, args.login, password_for(args.login), device, context)


def _run(args: argparse.Namespace) -> int:
    try:
        context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    except (OSError, ssl.SSLError) as exc:
        print(f"error: cannot use the CA file {args.ca_file}: {exc}", file=sys.stderr)
        return 2
    url = args.url or url_of_invite(args.invite)
    try:
        token = args.token or _signed_in(args, url, context)
    except SignInRefused as exc:
        print(f"error: sign-in refused: {exc}", file=sys.stderr)
        return 1
    try:
        client = TerminalClient(url, token, _print, device=args.device,
                                state_path=args.state, ssl_context=context)
    except (OSError, ValueError) as exc:
        print(f"error: cannot use the state file: {exc}", file=sys.stderr)
        return 2
    try:
        return trio.run(client.run, stdin_lines)
    except* KeyboardInterrupt:  # Ctrl-C; the state file is already up to date
        print()
    return 130
