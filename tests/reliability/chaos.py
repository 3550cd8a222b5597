"""Crash consistency under kill -9, and connections cut at any byte: a harness.

    python -m tests.reliability.chaos --kills 20 --seconds 60 [--cuts 1000] [--seed 1]

How it works. The kill phase runs the real server (`corpchat serve`, fsync
on) as a child process on a temporary data directory and provisions a corp
and its users through the admin socket. Senders and readers are `Peer`s: one
`ClientSession` each over trio-websocket, reconnecting after every break and
resuming from its sync token (the session re-sends unacked messages with the
same client_msg_id). Senders write to a shared group and to a direct chat
with a reader; readers also drop their connection now and then on their own.
At seeded random moments the harness kill -9s the server and starts it again
on the same directory; a start that never logs "serving on" is a database
that did not open. At the end every peer reconnects once more and resumes,
and a fresh device of every user syncs from token "0" to read what is stored
(the audit). `verify` then checks:

* stored: in every conversation seq runs 1..N without a gap, in pos order,
  and no (sender, client_msg_id) is stored twice;
* acked: every ack names the stored message with its client_msg_id;
* seen: what each peer's application saw, over all its connections, is
  exactly the stored messages after its first sync token, each once, in
  pos order.

The cut phase puts a `CuttingProxy` between peers and the server: each
connection is cut after a seeded random number of bytes in one direction
(mid-handshake, mid-frame, mid-ack, ...) until N cuts are done; the peers
reconnect through the proxy, and the same checks run.

A killed process does not test fsync (the page cache survives it); that is
tests/reliability/test_fsync_order.py's job.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from corpchat.adminclient import call as admin_call
from corpchat.protocol import (
    SUBPROTOCOL,
    Ack,
    ClientSession,
    Error,
    GroupCreate,
    Msg,
    Ok,
    ProtocolError,
    SyncComplete,
    Welcome,
)

# What a broken, refused or cut connection raises on the client side.
BROKEN = (ConnectionClosed, HandshakeError, OSError, trio.BrokenResourceError,
          trio.ClosedResourceError)
# Close codes a peer may meet here without anything being wrong: none (the
# transport broke), 1000 (our own close), 1001 (drain), 1006 (abnormal, as
# trio-websocket reports a broken transport).
FINE_CLOSES = frozenset({None, 1000, 1001, 1006})
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


# ----- the server as a child process -----


class StartFailed(Exception):
    """The server did not reach "serving on": the database did not open, or the port."""


class ServerProcess:
    """`corpchat serve` on one data directory: started, killed and started again."""

    def __init__(self, data_dir: str, log_path: str, *, wrapper: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.wrapper = wrapper  # e.g. ("strace", "-f", ...)
        self.port = 0
        self.process: trio.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def admin_socket(self) -> str:
        return os.path.join(self.data_dir, "admin.sock")

    def argv(self) -> list[str]:
        exe = os.path.join(os.path.dirname(sys.executable), "corpchat")
        command = [exe] if os.path.exists(exe) else [sys.executable, "-m", "corpchat.server.cli"]
        return [*self.wrapper, *command, "serve", "--data", self.data_dir,
                "--listen", f"127.0.0.1:{self.port}"]

    async def start(self, timeout_s: float = 30.0) -> int:
        """Start and wait for "serving on"; returns the port. Retries a busy port."""
        for attempt in range(5):
            try:
                return await self._start_once(timeout_s)
            except StartFailed as exc:
                if "Address already in use" not in str(exc) or attempt == 4:
                    raise
                await trio.sleep(0.2)
        raise AssertionError("unreachable")

    async def _start_once(self, timeout_s: float) -> int:
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as log:
            self.process = await trio.lowlevel.open_process(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = trio.current_time() + timeout_s
        while trio.current_time() < deadline:
            text = self.log_since(offset)
            found = re.search(r"serving on 127\.0\.0\.1:(\d+)", text)
            if found:
                self.port = int(found.group(1))
                self.starts += 1
                return self.port
            if self.process.poll() is not None:
                raise StartFailed(f"the server exited ({self.process.returncode}):\n{text[-2000:]}")
            await trio.sleep(0.02)
        await self.kill()
        tail = self.log_since(offset)[-2000:]
        raise StartFailed(f"no 'serving on' within {timeout_s} s:\n{tail}")

    async def kill(self) -> None:
        """kill -9, and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(9)
            await self.process.wait()

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Drain through the admin socket and wait for the exit; kill -9 if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            await self.admin("drain", timeout_s=2.0)
        except OSError:
            pass
        with trio.move_on_after(timeout_s):
            await self.process.wait()
        await self.kill()

    async def admin(self, cmd: str, **args: Any) -> Any:
        return await trio.to_thread.run_sync(admin_call, self.admin_socket, cmd, args)

    def log_since(self, offset: int = 0) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def error_lines(self) -> list[str]:
        """Log lines at ERROR or above, and tracebacks."""
        return [line for line in self.log_since().splitlines()
                if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


# ----- peers: reconnecting clients that remember what their application saw -----


@dataclass(frozen=True, slots=True)
class Seen:
    """One message as a client was shown it (a `msg`, or the `ack` of its own send)."""

    conv: int
    seq: int
    pos: int
    sender: str = ""
    cmid: str | None = None


class Peer:
    """One device of one user: a ClientSession over trio-websocket that always comes back."""

    def __init__(self, name: str, user: str, token: str, url: Callable[[], str],
                 rng: random.Random, *, targets: tuple[dict[str, Any], ...] = (),
                 rate_per_s: float = 40.0, window: int = 16,
                 flap_s: tuple[float, float] | None = None,
                 backoff_s: tuple[float, float] = (0.02, 0.15),
                 connect_timeout_s: float = 1.0) -> None:
        self.name, self.user, self.url, self.rng = name, user, url, rng
        # trio-websocket waits out its connect timeout when the transport breaks
        # mid-handshake, so keep it short: a timeout is just one more reconnect.
        self.connect_timeout_s = connect_timeout_s
        self.session = ClientSession(token, device=name)
        self.targets, self.rate_per_s, self.window = targets, rate_per_s, window
        self.flap_s, self.backoff_s = flap_s, backoff_s
        self.start: int | None = None  # the sync token of the first welcome
        self.view: list[Seen] = []
        self._view_pos: set[int] = set()
        self.acks: dict[str, Seen] = {}
        self.sent: dict[str, str] = {}  # client_msg_id -> text
        self.errors: Counter[str] = Counter()
        self.closes: Counter[int | None] = Counter()
        self.faults: list[str] = []
        self.connections = 0
        self.syncs = 0  # connections whose resume completed
        self.sending = True
        self._counter = 0
        self._stopped = False
        self._scope: trio.CancelScope | None = None
        self._send_lock = trio.Lock()

    async def run(self) -> None:
        """Connect, serve, and reconnect after every break until `stop()`."""
        while not self._stopped:
            with trio.CancelScope() as self._scope:
                try:
                    async with open_websocket_url(
                            self.url(), subprotocols=[SUBPROTOCOL],
                            connect_timeout=self.connect_timeout_s,
                            disconnect_timeout=0.5, max_message_size=MAX_MESSAGE_BYTES) as ws:
                        self.connections += 1
                        await self._serve(ws)
                except BROKEN as exc:
                    if isinstance(exc, ConnectionClosed):
                        self.closes[exc.reason.code if exc.reason else None] += 1
            self._scope = None
            if not self._stopped:
                await trio.sleep(self.rng.uniform(*self.backoff_s))

    def reconnect(self) -> None:
        """Drop the current connection at once; `run` opens the next one."""
        if self._scope is not None:
            self._scope.cancel()

    def stop(self) -> None:
        self._stopped = True
        self.reconnect()

    async def _serve(self, ws: Any) -> None:
        self.session.connect()
        async with trio.open_nursery() as nursery:
            await self._flush(ws)
            if self.targets:
                nursery.start_soon(self._send_loop, ws)
            if self.flap_s:
                nursery.start_soon(self._flap, nursery.cancel_scope)
            try:
                while True:
                    events = self.session.receive(await ws.get_message())
                    self._record(events)
                    await self._flush(ws)
            except ConnectionClosed as exc:
                self.closes[exc.reason.code if exc.reason else None] += 1
            except BROKEN:
                pass
            except ProtocolError as exc:  # e.g. a sync token beyond the server's head
                self.faults.append(f"{self.name}: {exc.code}: {exc.message}")
                self._stopped = True
            nursery.cancel_scope.cancel()

    async def _flush(self, ws: Any) -> None:
        async with self._send_lock:  # keeps the session's payloads in order
            for payload in self.session.data_to_send():
                await ws.send_message(payload)

    async def _send_loop(self, ws: Any) -> None:
        try:
            while True:
                if self.sending and self.session.unacked < self.window:
                    self._new_message()
                    await self._flush(ws)
                await trio.sleep(self.rng.expovariate(self.rate_per_s))
        except BROKEN:
            pass

    async def _flap(self, scope: trio.CancelScope) -> None:
        assert self.flap_s is not None
        await trio.sleep(self.rng.uniform(*self.flap_s))
        scope.cancel()

    def _new_message(self) -> None:
        self._counter += 1
        cmid = f"{self.name}-{self._counter:06d}"
        text = f"{self.name} says {self._counter}"
        target = self.targets[self._counter % len(self.targets)]
        self.session.send_text(text, client_msg_id=cmid, **target)
        self.sent[cmid] = text

    def _record(self, events: list[Any]) -> None:
        for event in events:
            match event:
                case Welcome() if self.start is None:
                    self.start = int(self.session.sync_token or 0)
                case Msg():
                    self._see(Seen(event.conv, event.seq, event.pos, event.sender,
                                   event.client_msg_id))
                case Ack():
                    seen = Seen(event.conv, event.seq, event.pos, self.user, event.client_msg_id)
                    first = self.acks.setdefault(event.client_msg_id, seen)
                    if first != seen:
                        self.faults.append(f"{self.name}: ack changed: {first} then {seen}")
                    if event.pos not in self._view_pos:  # else a repeat ack of a seen message
                        self._see(seen)
                case SyncComplete():
                    self.syncs += 1
                case Error():
                    self.errors[event.code] += 1

    def _see(self, seen: Seen) -> None:
        self.view.append(seen)
        self._view_pos.add(seen.pos)


async def settle(peers: list[Peer], timeout_s: float = 60.0) -> bool:
    """Stop new sends, wait until every send is acked, then make every peer resume once more.

    False if that did not happen within `timeout_s` (verify then reports what is missing).
    """
    for peer in peers:
        peer.sending = False
    with trio.move_on_after(timeout_s) as scope:
        last_progress, acked = trio.current_time(), -1
        while any(p.session.unacked for p in peers if not p.faults):
            now_acked = sum(len(p.acks) for p in peers)
            if now_acked != acked:
                last_progress, acked = trio.current_time(), now_acked
            elif trio.current_time() - last_progress > 2.0:  # nudge: resends go out on connect
                for peer in peers:
                    if peer.session.unacked:
                        peer.reconnect()
                last_progress = trio.current_time()
            await trio.sleep(0.05)
        before = {peer: peer.syncs for peer in peers}
        for peer in peers:
            peer.reconnect()
        while any(p.syncs <= before[p] for p in peers if not p.faults):
            await trio.sleep(0.02)
    return not scope.cancelled_caught


async def request(url: str, token: str, frame_type: type, **fields: Any) -> Any:
    """One request on a short connection of its own; the reply to it."""
    session = ClientSession(token, device="setup")
    with trio.fail_after(30):
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
            session.connect()
            rid = None
            while True:
                for payload in session.data_to_send():
                    await ws.send_message(payload)
                for event in session.receive(await ws.get_message()):
                    if isinstance(event, SyncComplete) and rid is None:
                        rid = session.next_request_id()
                        session.queue(frame_type(id=rid, **fields))
                    elif rid is not None and getattr(event, "re", None) == rid:
                        return event


async def audit(url: str, token: str) -> list[Seen]:
    """Everything stored that a user may see: a fresh device syncing from token "0"."""
    session = ClientSession(token, device="audit", sync_token="0")
    out: list[Seen] = []
    with trio.fail_after(120):
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL],
                                      max_message_size=MAX_MESSAGE_BYTES) as ws:
            session.connect()
            while True:
                for payload in session.data_to_send():
                    await ws.send_message(payload)
                for event in session.receive(await ws.get_message()):
                    if isinstance(event, Msg):
                        out.append(Seen(event.conv, event.seq, event.pos, event.sender,
                                        event.client_msg_id))
                    elif isinstance(event, SyncComplete):
                        return out


# ----- the checks -----


@dataclass
class Tally:
    """Violations found by `verify` (all must be 0), with the first few explained."""

    acked: int = 0
    stored: int = 0
    views: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    unacked: int = 0
    faults: int = 0
    notes: list[str] = field(default_factory=list)

    def flag(self, kind: str, note: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.notes) < 40:
            self.notes.append(f"{kind}: {note}")

    @property
    def violations(self) -> int:
        return self.lost + self.duplicated + self.reordered + self.unacked + self.faults


def verify(peers: list[Peer], audits: dict[str, list[Seen]]) -> Tally:
    """Check the stored log, every ack and every peer's view against each other."""
    tally = Tally()
    log = _stored_log(audits, tally)
    for peer in peers:
        for fault in peer.faults:
            tally.flag("faults", fault)
        for code, n in peer.errors.items():
            tally.flag("faults", f"{peer.name} got {n} error(s) {code}")
        for code, n in peer.closes.items():
            if code not in FINE_CLOSES:
                tally.flag("faults", f"{peer.name} was closed {n} time(s) with {code}")
        _check_acks(peer, log, tally)
        _check_view(peer, audits.get(peer.user, []), tally)
    return tally


def _stored_log(audits: dict[str, list[Seen]], tally: Tally) -> dict[int, dict[int, Seen]]:
    log: dict[int, dict[int, Seen]] = {}
    for user, seen in audits.items():
        last = 0
        for s in seen:
            if s.pos <= last:
                tally.flag("duplicated" if s.pos == last else "reordered",
                           f"{user}'s sync from 0 gave pos {s.pos} after {last}")
            last = max(last, s.pos)
            first = log.setdefault(s.conv, {}).setdefault(s.seq, s)
            if first != s:
                tally.flag("reordered", f"conv {s.conv} seq {s.seq}: {first} and {s}")
    ids: Counter[tuple[str, str]] = Counter()
    for conv, by_seq in log.items():
        seqs = sorted(by_seq)
        for seq in sorted(set(range(1, seqs[-1] + 1)) - set(seqs)):
            tally.flag("lost", f"conv {conv} has no seq {seq}")
        positions = [by_seq[seq].pos for seq in seqs]
        for a, b in zip(positions, positions[1:], strict=False):
            if b <= a:
                tally.flag("reordered", f"conv {conv}: pos {b} follows pos {a}")
        ids.update((m.sender, m.cmid) for m in by_seq.values() if m.cmid)
    for key, n in ids.items():
        if n > 1:
            tally.flag("duplicated", f"{key} is stored {n} times")
    tally.stored = sum(len(by_seq) for by_seq in log.values())
    return log


def _check_acks(peer: Peer, log: dict[int, dict[int, Seen]], tally: Tally) -> None:
    for cmid, ack in peer.acks.items():
        tally.acked += 1
        stored = log.get(ack.conv, {}).get(ack.seq)
        if stored is None or (stored.pos, stored.cmid, stored.sender) != (ack.pos, cmid,
                                                                          peer.user):
            tally.flag("lost", f"{peer.name}: acked {ack}, stored {stored}")
    for cmid in sorted(peer.sent.keys() - peer.acks.keys()):
        tally.flag("unacked", f"{peer.name}: {cmid} was never acked")


def _check_view(peer: Peer, stored: list[Seen], tally: Tally) -> None:
    if peer.start is None:
        tally.flag("faults", f"{peer.name} never connected")
        return
    tally.views += 1
    expected = {s.pos: s for s in stored if s.pos > peer.start}
    counts = Counter(s.pos for s in peer.view)
    for pos, n in counts.items():
        if n > 1:
            tally.flag("duplicated", f"{peer.name} was shown pos {pos} {n} times")
    for a, b in zip(peer.view, peer.view[1:], strict=False):
        if b.pos < a.pos:
            tally.flag("reordered", f"{peer.name} was shown pos {b.pos} after {a.pos}")
    for pos in sorted(expected.keys() - counts.keys()):
        tally.flag("lost", f"{peer.name} never got pos {pos} (resumed from {peer.start})")
    for s in peer.view:
        want = expected.get(s.pos)
        if want is None:
            tally.flag("lost", f"{peer.name} was shown {s}, which is not stored")
        elif (want.conv, want.seq) != (s.conv, s.seq):
            tally.flag("reordered", f"{peer.name} was shown {s}, stored as {want}")


# ----- the kill phase -----


@dataclass
class Options:
    kills: int = 3
    seconds: float = 4.0
    cuts: int = 0
    seed: int = 1
    senders: int = 3
    readers: int = 2
    rate_per_s: float = 40.0  # per sender
    max_cut_bytes: int = 1500
    workdir: str | None = None
    keep: bool = False


@dataclass
class KillReport:
    kills: int = 0
    starts: int = 0
    failed_starts: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    connections: int = 0
    server_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.tally.violations or self.failed_starts or self.server_errors)

    def summary(self) -> str:
        t = self.tally
        return (f"chaos: kills={self.kills} starts={self.starts} failed_starts="
                f"{len(self.failed_starts)} messages_acked={t.acked} stored={t.stored} "
                f"lost={t.lost} duplicated={t.duplicated} reordered={t.reordered} "
                f"unacked={t.unacked} faults={t.faults} server_errors={len(self.server_errors)} "
                f"resumes_checked={t.views} connections={self.connections} "
                f"seconds={self.seconds:.1f}")


async def provision(server: ServerProcess, corp: str, handles: list[str]) -> dict[str, str]:
    """A corp and its employees through the admin socket: handle -> token."""
    try:
        await server.admin("corp.add", name=corp)
    except Exception as exc:  # exists (a second phase on the same server)
        if "exists" not in str(getattr(exc, "code", exc)):
            raise
    tokens = {}
    for handle in handles:
        tokens[handle] = (await server.admin("user.add", handle=handle, corp=corp,
                                               token=True))["token"]
    return tokens


async def run_kills(options: Options, server: ServerProcess) -> KillReport:
    """The kill phase against a started server; leaves it running."""
    rng = random.Random(options.seed)
    report = KillReport()
    began = time.monotonic()
    senders = [f"s{i}" for i in range(options.senders)]
    readers = [f"r{i}" for i in range(options.readers)]
    tokens = await provision(server, "acme", senders + readers)
    created = await request(server.url, tokens[senders[0]], GroupCreate, name="chaos",
                            members=tuple(senders[1:] + readers))
    assert isinstance(created, Ok), created
    peers = [Peer(name, name, tokens[name], lambda: server.url, random.Random(rng.random()),
                  targets=({"conv": created.conv}, {"to": readers[i % len(readers)]}),
                  rate_per_s=options.rate_per_s)
             for i, name in enumerate(senders)]
    peers += [Peer(name, name, tokens[name], lambda: server.url, random.Random(rng.random()),
                   flap_s=(0.3, 1.5)) for name in readers]
    async with trio.open_nursery() as nursery:
        for peer in peers:
            nursery.start_soon(peer.run)
        await _kill_loop(server, rng, options, report)
        settled = await settle(peers)
        audits = {p.user: await audit(server.url, tokens[p.user]) for p in peers}
        for peer in peers:
            peer.stop()
    report.tally = verify(peers, audits)
    if not settled:
        report.tally.flag("faults", "the peers did not all catch up within the time limit")
    report.connections = sum(p.connections for p in peers)
    report.starts = server.starts
    report.seconds = time.monotonic() - began
    return report


async def _kill_loop(server: ServerProcess, rng: random.Random, options: Options,
                     report: KillReport) -> None:
    began = trio.current_time()
    moments = sorted(rng.uniform(0.05, 0.95) * options.seconds for _ in range(options.kills))
    for moment in moments:
        up_since = trio.current_time()
        await trio.sleep_until(max(began + moment, up_since + rng.uniform(0.05, 0.3)))
        await server.kill()
        report.kills += 1
        try:
            await server.start()
        except StartFailed as exc:
            report.failed_starts.append(str(exc))
            await server.start()  # once more; if that fails the run ends here
    await trio.sleep_until(began + options.seconds)


# ----- the cut phase -----


def classify_cut(stream: bytes, cut: int) -> str:
    """Where byte offset `cut` falls in one direction of a WebSocket connection."""
    end = stream.find(b"\r\n\r\n")
    if end < 0 or cut < end + 4:
        return "handshake"
    pos = end + 4
    while pos < len(stream):
        if cut == pos:
            return "between frames"
        header = stream[pos:pos + 14]
        if len(header) < 2:
            return "mid-frame header"
        size, length = header[1] & 0x7F, 2
        if size == 126:
            size, length = (struct.unpack(">H", header[2:4])[0], 4) if len(header) >= 4 \
                else (0, 4)
        elif size == 127:
            size, length = (struct.unpack(">Q", header[2:10])[0], 10) if len(header) >= 10 \
                else (0, 10)
        mask = header[length:length + 4] if header[1] & 0x80 else b""
        start = pos + length + len(mask)
        if cut < start:
            return "mid-frame header"
        if cut < start + size:
            return f"mid-frame {_frame_name(header[0] & 0x0F, stream[start:start + 24], mask)}"
        pos = start + size
    return "between frames"


def _frame_name(opcode: int, prefix: bytes, mask: bytes) -> str:
    if opcode != 2:
        return {8: "close", 9: "ping", 10: "pong"}.get(opcode, f"opcode {opcode}")
    if mask:
        prefix = bytes(b ^ mask[i % 4] for i, b in enumerate(prefix))
    # a msgpack map whose first key is "type": fixmap, a4 "type", a-string
    if len(prefix) > 7 and 0x80 <= prefix[0] <= 0x8F and prefix[1:6] == b"\xa4type":
        return prefix[7:7 + (prefix[6] & 0x1F)].decode(errors="replace")
    return "?"


class CuttingProxy:
    """A TCP proxy that cuts each connection after a random number of bytes, `cuts` times.

    Each new connection, while cuts remain, draws a direction and a byte
    budget; when that direction has carried the budget (the chunk that
    crosses it is forwarded only up to it) both sides are closed, half the
    time with a reset (SO_LINGER 0). Once every cut is done it only forwards.
    """

    def __init__(self, target_port: int, rng: random.Random, cuts: int, max_cut_bytes: int):
        self.target_port, self.rng = target_port, rng
        self.remaining, self.max_cut_bytes = cuts, max_cut_bytes
        self.kinds: Counter[str] = Counter()
        self.connections = 0
        self.done = trio.Event()
        if cuts <= 0:
            self.done.set()

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        plan = None
        if self.remaining > 0:
            plan = (self.rng.choice(("up", "down")), self.rng.randint(0, self.max_cut_bytes),
                    self.rng.random() < 0.5)
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        except OSError:
            await trio.aclose_forcefully(client)
            return
        cut = [False]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, upstream, "up", plan, cut, nursery.cancel_scope)
            nursery.start_soon(self._pump, upstream, client, "down", plan, cut,
                               nursery.cancel_scope)
        for stream in (client, upstream):
            if cut[0] and plan is not None and plan[2]:
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                         struct.pack("ii", 1, 0))
            await trio.aclose_forcefully(stream)

    async def _pump(self, source: trio.SocketStream, sink: trio.SocketStream, direction: str,
                    plan: tuple[str, int, bool] | None, cut: list[bool],
                    scope: trio.CancelScope) -> None:
        carried = bytearray()
        try:
            while data := await source.receive_some(65536):
                if plan is not None and plan[0] == direction and self.remaining > 0 \
                        and len(carried) + len(data) > plan[1]:
                    head = data[:plan[1] - len(carried)]
                    if head:
                        await sink.send_all(head)
                    self._record_cut(direction, bytes(carried) + data, plan[1])
                    cut[0] = True
                    break
                await sink.send_all(data)
                if plan is not None and plan[0] == direction:
                    carried += data
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        scope.cancel()

    def _record_cut(self, direction: str, stream: bytes, offset: int) -> None:
        self.remaining -= 1
        self.kinds[f"{direction} {classify_cut(stream, offset)}"] += 1
        if self.remaining <= 0:
            self.done.set()


@dataclass
class CutReport:
    cuts: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(default_factory=Tally)
    connections: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.tally.violations

    def count(self, word: str) -> int:
        return sum(n for kind, n in self.kinds.items() if word in kind)

    def summary(self) -> str:
        t = self.tally
        return (f"cuts: cuts={self.cuts} mid_handshake={self.count('handshake')} "
                f"mid_frame={self.count('mid-frame')} mid_ack={self.count('mid-frame ack')} "
                f"between_frames={self.count('between')} messages_acked={t.acked} "
                f"stored={t.stored} lost={t.lost} duplicated={t.duplicated} "
                f"reordered={t.reordered} unacked={t.unacked} faults={t.faults} "
                f"resumes_checked={t.views} connections={self.connections} "
                f"seconds={self.seconds:.1f}")


async def run_cuts(server_port: int, tokens: dict[str, str], *, cuts: int, seed: int,
                   max_cut_bytes: int = 1500, rate_per_s: float = 60.0) -> CutReport:
    """Peers (the users of `tokens`, in one group) chat through a CuttingProxy."""
    rng = random.Random(seed)
    began = time.monotonic()
    direct = f"ws://127.0.0.1:{server_port}/"
    users = sorted(tokens)
    created = await request(direct, tokens[users[0]], GroupCreate, name="cuts",
                            members=tuple(users[1:]))
    assert isinstance(created, Ok), created
    report = CutReport()
    async with trio.open_nursery() as nursery:
        proxy = CuttingProxy(server_port, random.Random(rng.random()), cuts, max_cut_bytes)
        port = await nursery.start(proxy.serve)
        peers = [Peer(user, user, tokens[user], lambda: f"ws://127.0.0.1:{port}/",
                      random.Random(rng.random()), targets=({"conv": created.conv},),
                      rate_per_s=rate_per_s, window=8, backoff_s=(0.002, 0.02),
                      connect_timeout_s=0.5)
                 for user in users]
        for peer in peers:
            nursery.start_soon(peer.run)
        with trio.fail_after(60 + cuts * 0.2):
            await proxy.done.wait()
        settled = await settle(peers)
        audits = {user: await audit(direct, tokens[user]) for user in users}
        for peer in peers:
            peer.stop()
        nursery.cancel_scope.cancel()
    report.cuts, report.kinds = cuts - max(proxy.remaining, 0), proxy.kinds
    report.connections = proxy.connections
    report.tally = verify(peers, audits)
    if not settled:
        report.tally.flag("faults", "the peers did not all catch up within the time limit")
    report.seconds = time.monotonic() - began
    return report


# ----- the command -----


async def run(options: Options) -> tuple[KillReport, CutReport | None, str]:
    """Both phases on one server process in a fresh directory; (reports, directory)."""
    workdir = options.workdir or tempfile.mkdtemp(prefix="chaos-", dir="/tmp")
    server = ServerProcess(os.path.join(workdir, "data"), os.path.join(workdir, "server.log"))
    cut_report = None
    try:
        await server.start()
        kill_report = await run_kills(options, server)
        if options.cuts:
            tokens = await provision(server, "acme", ["cut-a", "cut-b", "cut-c"])
            cut_report = await run_cuts(server.port, tokens, cuts=options.cuts,
                                        seed=options.seed + 1,
                                        max_cut_bytes=options.max_cut_bytes)
        await server.stop()
    finally:
        await server.kill()
    kill_report.server_errors = server.error_lines()
    return kill_report, cut_report, workdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.chaos",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kill -9s of the server")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the kill phase")
    parser.add_argument("--cuts", type=int, default=1000, help="connections to cut (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=40.0, help="messages/s per sender")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    options = Options(kills=args.kills, seconds=args.seconds, cuts=args.cuts, seed=args.seed,
                      senders=args.senders, readers=args.readers, rate_per_s=args.rate,
                      keep=args.keep)
    limit_s = options.seconds * 2 + options.kills * 10 + options.cuts * 0.2 + 120
    try:
        kill_report, cut_report, workdir = trio.run(_bounded, options, limit_s)
    except trio.TooSlowError:
        print(f"chaos: FAILED: not done within {limit_s:.0f} s")
        return 1
    except StartFailed as exc:
        print(f"chaos: FAILED: the server did not start on its data directory:\n{exc}")
        return 1
    reports: list[Any] = [kill_report] + ([cut_report] if cut_report else [])
    for report in reports:
        print(report.summary())
        for note in report.tally.notes:
            print(f"  {note}")
    for line in kill_report.server_errors[:20]:
        print(f"  server: {line}")
    for failure in kill_report.failed_starts[:5]:
        print(f"  start failed: {failure}")
    ok = all(report.ok for report in reports)
    if ok and not options.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"data and server log kept in {workdir}")
    print("chaos: OK" if ok else "chaos: FAILED")
    return 0 if ok else 1


async def _bounded(options: Options, limit_s: float) -> tuple[KillReport, CutReport | None, str]:
    with trio.fail_after(limit_s):
        return await run(options)


if __name__ == "__main__":
    sys.exit(main())
