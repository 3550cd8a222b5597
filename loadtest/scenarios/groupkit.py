"""What the group scenarios share (group, slow, receipts, announce, external).

* `GroupClient`: a `SimClient` that sends into a conversation (`send` with
  `conv`, optionally `receipt: true`, or `announce`), answers requests it
  makes (`group.create`, `contact.request`, …) by `re`, reads every
  receipt-requested message it is shown when asked to (`read`), counts the
  coalesced `receipt` events it gets for its own messages, and can stop
  reading altogether (a slow consumer). System messages (group created,
  members added) are in the log but no sender acked them: they advance the
  sync token and are counted, not checked.
* `Group`: one conversation's layout (owner, members, two-device members,
  slow members), computed from the options alone, so `plan` (devices) and
  `split` (workers) agree without passing state. Handles are the runner's
  `<run_id>-u<i>` (and `<run_id>-c<i>` for consumers, provisioned by the
  coordinator); a group never spans two workers, since its owner creates it
  and its drain needs all its acks.
* `drive` / `coordinate`: the worker and coordinator halves of a run made of
  named **phases**, each one a timed window (t0, warm-up, steady window,
  drain) in which the groups of some kinds send at the offered rate. Both
  sides meet at the barriers start → ready → `<phase>:go` → `<phase>:done`
  … → done. Each phase's latencies, rates and server `stats` deltas go to
  `figures.phases.<name>`; the report's main figures are the last phase's.

Every wait is bounded: requests by REQUEST_TIMEOUT_S, phases by their
window and `--drain`, announce rounds by ROUND_TIMEOUT_S, barriers by the
worker's barrier timeout.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import trio

from corpchat.protocol import (
    SERVER_FRAME_LIMITS,
    Announce,
    Conversations,
    Frame,
    GroupAdd,
    GroupCreate,
    ProtocolError,
    QuietBreak,
    QuietResume,
    React,
    Read,
    Send,
    decode_map,
    encode,
)

from ..recorder import merge, percentiles
from ..report import server_figures
from ..runner import WorkerFailed
from ..simclient import SEND_ID_BASE, TEXT_TAG, ClientSpec, SimClient
from ..worker import Worker, WorkerPlan, now_ns, sleep_until_ns

READ_ID_BASE = 1 << 40  # ids of `read` requests
REQUEST_ID_BASE = 1 << 48  # ids of set-up requests (group.create, contact.*)
REACT_ID_BASE = 1 << 44  # ids of `react` requests (issue 20)
REQUEST_TIMEOUT_S = 30.0
START_AHEAD_NS = 300_000_000
STATS_POLL_S = 0.25
ROUND_TIMEOUT_S = 10.0  # announce: one announcement must reach everyone within this
MAX_ROUNDS = 100_000
ANNOUNCE_MAX_RATE = 150.0  # announcements/s, under the server's per-connection request rate
SETUP_CONCURRENCY = 64  # set-up requests in flight per worker
CREATE_CHUNK = 1000  # members named per group.create / group.add (arrays hold ≤ 1024)


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
        self.n = n = self.n + 1
        text = f"{TEXT_TAG}{self.spec.index}:{n}:{now_ns}:"
        text += self._pad[:self.size - len(text)]
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
        payload = encode(frame)
        self.unacked[rid] = payload
        rec = self.rec
        rec.sent += 1
        if rec.win_start_ns <= now_ns < rec.win_end_ns:
            rec.win_sent += 1
        if self.live:
            self.conn.send(payload)  # type: ignore[union-attr]

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
        self.conn.send(encode(Read(id=next(self._read_ids), conv=conv, seq=seq)))  # type: ignore[union-attr]

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

    def _on_msg(self, conv: int, seq: int, pos: int, text: str) -> bool:  # type: ignore[override]
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
            self.reacts_sent += 1
            self.conn.send(encode(React(id=next(self._react_ids), conv=conv, seq=seq,  # type: ignore[union-attr]
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


# ----- layout -----


@dataclass(frozen=True, slots=True)
class Group:
    key: int
    name: str
    kind: str  # "group" (employees), "external" (with consumers), "announce" (notice board)
    owner: str  # creates the group (announce: the corp admin who posts)
    members: tuple[str, ...]  # every member, the owner first
    two_device: tuple[str, ...] = ()
    slow: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    sends: str = "all"  # "all" members send, or only the "owner"
    resting: tuple[str, ...] = ()  # on a break during the phases with `resting` set

    @property
    def senders(self) -> tuple[str, ...]:
        if self.sends == "owner":
            return (self.owner,)
        slow = set(self.slow)
        return tuple(h for h in self.members if h not in slow)


def handle(run_id: str, i: int) -> str:
    return f"{run_id}-u{i}"


def consumer_handle(run_id: str, i: int) -> str:
    return f"{run_id}-c{i}"


def members_per_group(options: Any) -> int:
    return max(2, options.members or options.clients // options.groups)


def plain_groups(options: Any, *, two_device_fraction: float = 0.0, slow: int = 0,
                 kind: str = "group", first_user: int = 0, count: int | None = None,
                 size: int | None = None) -> list[Group]:
    """`count` groups of `size` employees `<run_id>-u<i>` from `first_user` on."""
    run_id = options.run_id
    size = size or members_per_group(options)
    count = count or options.groups
    rng = random.Random(options.seed)
    out = []
    for g in range(count):
        base = first_user + g * size
        members = tuple(handle(run_id, base + i) for i in range(size))
        doubles = round(two_device_fraction * size)
        two = tuple(sorted(rng.sample(members, doubles))) if doubles else ()
        slow_ones = members[size - slow:] if slow else ()  # never the owner
        out.append(Group(g, f"{run_id}-{kind}{g}", kind, members[0], members, two, slow_ones))
    return out


def with_resting(groups: list[Group], fraction: float) -> list[Group]:
    """The last round(fraction × members) of each group (the owner last of all) rest in
    the phases marked `resting`."""
    out = []
    for g in groups:
        k = round(fraction * len(g.members))
        out.append(replace(g, resting=g.members[len(g.members) - k:] if k else ()))
    return out


def devices(groups: Iterable[Group], tokens: dict[str, str]) -> list[ClientSpec]:
    """Every member's devices: `<handle>/0`, and `<handle>/1` for two-device members."""
    specs: list[ClientSpec] = []
    seen: set[str] = set()
    for group in groups:
        two = set(group.two_device)
        for h in group.members:
            if h in seen:
                continue
            seen.add(h)
            for d in range(2 if h in two else 1):
                specs.append(ClientSpec(index=len(specs), handle=h, token=tokens.get(h, ""),
                                        device=f"{h}/{d}"))
    return specs


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    kinds: tuple[str, ...] = ("group",)  # the kinds of groups that send in this phase
    receipt: bool = False  # sends ask for receipts
    read: bool = False  # members read every receipt-requested message
    stall: bool = False  # the slow members stop reading at the phase's start
    rounds: bool = False  # announce: one at a time, each waits until everyone has it
    poll: bool = False  # the coordinator samples stats every STATS_POLL_S
    resting: bool = False  # the groups' resting members are on a break (quiet.break)

    def senders(self, groups: Iterable[Group]) -> int:
        return sum(len(g.senders) for g in groups if g.kind in self.kinds)


def split_groups(options: Any, specs: list[ClientSpec], workers: int, groups: list[Group],
                 phases: list[Phase]) -> list[WorkerPlan]:
    """Whole groups dealt round-robin to workers, with their devices."""
    by_handle: dict[str, list[ClientSpec]] = defaultdict(list)
    for spec in specs:
        by_handle[spec.handle].append(spec)
    totals = {p.name: p.senders(groups) for p in phases}
    plans = []
    for w in range(workers):
        mine = groups[w::workers]
        if not mine:
            continue
        share: list[ClientSpec] = []
        seen: set[str] = set()
        for group in mine:
            for h in group.members:
                if h not in seen:
                    seen.add(h)
                    share.extend(by_handle[h])
        plans.append(WorkerPlan(len(plans), options, tuple(share),
                                {"groups": [asdict(g) for g in mine], "phase_senders": totals}))
    return plans


# ----- the worker side -----

Setup = Callable[[Worker, list[Group], dict[str, list[GroupClient]]], Awaitable[None]]
# During a phase, beside the sends: (run, phase, window start ns, window end ns) -> a
# payload for the coordinator (figures.phases.<name>.during, one per worker that had one)
During = Callable[[Any, Phase, int, int], Awaitable[dict[str, Any] | None]]
BREAK_MINUTES = 240  # a resting member's break: longer than any run


@dataclass(slots=True)
class Run:
    """One worker's state across phases."""

    worker: Worker
    groups: list[Group]
    clients: dict[str, list[GroupClient]]  # handle -> devices
    convs: dict[int, int] = field(default_factory=dict)  # group key -> conv
    during: During | None = None
    resting_now: bool = False

    def devices_of(self, group: Group) -> list[GroupClient]:
        return [c for h in group.members for c in self.clients.get(h, ())]

    def first(self, h: str) -> GroupClient:
        return self.clients[h][0]


async def drive(worker: Worker, phases: list[Phase], setup: Setup | None = None,
                during: During | None = None,
                client_class: type[GroupClient] = GroupClient) -> None:
    plan = worker.plan
    groups = [Group(**{k: tuple(v) if isinstance(v, list) else v for k, v in g.items()})
              for g in plan.extra["groups"]]
    start = await worker.barrier("start") or {}
    tokens: dict[str, str] = start.get("tokens", {})
    specs = [replace(s, token=tokens[s.handle]) if s.handle in tokens else s
             for s in plan.clients]
    options = worker.options
    worker.clients = [client_class(s, options.url, worker.recorder, options.size, worker.hub)
                      for s in specs]
    clients: dict[str, list[GroupClient]] = defaultdict(list)
    for c in worker.clients:  # type: ignore[assignment]
        clients[c.spec.handle].append(c)  # type: ignore[arg-type]
    run = Run(worker, groups, dict(clients), during=during)
    await worker.connect_all(worker.clients)
    if setup is not None:
        await setup(worker, groups, run.clients)
    await _create_groups(run)
    for group in groups:
        slow = set(group.slow)
        worker.members[run.convs[group.key]] = {h for h in group.members if h not in slow}
        for c in run.devices_of(group):
            c.conv = run.convs[group.key]
            c.announce = group.kind == "announce" and c.spec.handle == group.owner
            c.quiet = c.spec.handle in slow
    await worker.barrier("ready", {"connect_failures": worker.recorder.connect_failures,
                                   "convs": dict(run.convs)})
    drained_all = True
    for phase in phases:
        drained_all &= await _run_phase(run, phase)
    worker.recorder.extra["drained"] = drained_all
    stalled = [c for c in worker.clients if getattr(c, "stalled", False)]
    worker.recorder.extra["stalled_devices"] = len(stalled)
    worker.recorder.extra["stalled_delivered"] = sum(
        len(s) for c in stalled for s in c.delivered.values())
    for c in stalled:  # not checked: they stopped reading on purpose
        c.delivered = {}
    await worker.barrier("done")


async def _create_groups(run: Run) -> None:
    limiter = trio.CapacityLimiter(SETUP_CONCURRENCY)

    async def create(group: Group) -> None:
        owner = run.first(group.owner)
        if group.kind == "announce":  # the corp's notice board exists already
            async with limiter:
                reply = await owner.request(lambda rid: _conversations(rid))
            boards = [c["conv"] for c in reply.get("convs", ()) if c.get("kind") == "announce"]
            if not boards:
                raise SetupFailed(f"{group.owner} sees no notice board")
            run.convs[group.key] = boards[0]
            return
        others = tuple(h for h in group.members if h != group.owner)
        first, rest = others[:CREATE_CHUNK], others[CREATE_CHUNK:]
        async with limiter:
            reply = await owner.request(
                lambda rid: GroupCreate(id=rid, name=group.name, members=first))
            conv = run.convs[group.key] = reply["conv"]
            for i in range(0, len(rest), CREATE_CHUNK):  # a frame holds ≤ 1024 handles
                chunk = rest[i:i + CREATE_CHUNK]
                await owner.request(
                    lambda rid, chunk=chunk: GroupAdd(id=rid, conv=conv, members=chunk))

    async with trio.open_nursery() as nursery:
        for group in run.groups:
            nursery.start_soon(create, group)


def _conversations(rid: int) -> Frame:
    return Conversations(id=rid, limit=10)


def _reset_window(worker: Worker) -> None:
    rec = worker.recorder
    rec.ack_us.reset()
    rec.e2e_us.reset()
    rec.win_sent = rec.win_acked = rec.win_delivered = 0


def _counters(clients: list[GroupClient]) -> dict[str, int]:
    return {
        "reads_sent": sum(c.reads_sent for c in clients),
        "reads_answered": sum(c.reads_answered for c in clients),
        "reads_refused": sum(c.reads_refused for c in clients),
        "win_reads": sum(c.win_reads for c in clients),
        "msgs_read": sum(c.msgs_read for c in clients),
        "win_msgs_read": sum(c.win_msgs_read for c in clients),
        "receipt_frames": sum(c.receipt_frames for c in clients),
        "receipt_messages": sum(len(c.receipt_seqs) for c in clients),
        "receipts_complete": sum(c.receipts_complete for c in clients),
        "receipt_duplicates": sum(c.receipt_duplicates for c in clients),
        "receipt_readers": sum(len(r) for c in clients for r in c.receipt_readers.values()),
        "system_msgs": sum(c.system_msgs for c in clients),
        "silent_msgs": sum(c.silent_msgs for c in clients),
        "silent_mismatch": sum(c.silent_mismatch for c in clients),
        "reacts_sent": sum(c.reacts_sent for c in clients),
        "reaction_frames": sum(c.reaction_frames for c in clients),
    }


async def _run_phase(run: Run, phase: Phase) -> bool:
    worker, options = run.worker, run.worker.options
    clients: list[GroupClient] = worker.clients  # type: ignore[assignment]
    active = [g for g in run.groups if g.kind in phase.kinds]
    senders = [run.first(h) for g in active for h in g.senders if h in run.clients]
    pacing = random.Random(options.seed)
    for g in run.groups:
        for c in run.devices_of(g):
            c.receipt = phase.receipt
            c.auto_read = phase.read
            c.pace_reads(int(options.read_every_ms * 1e6), pacing)
            c.expected_readers = len(g.members) - 1
        _everyday_roles(options, g, run.devices_of(g))
    if phase.resting != run.resting_now:
        await _set_resting(run, phase.resting)
    reply = await worker.barrier(f"{phase.name}:go")
    t0: int = reply["t0"]
    start = t0 + int(options.warmup_s * 1e9)
    end = start + int(options.duration_s * 1e9)
    _reset_window(worker)
    before = _counters(clients)
    total = worker.plan.extra["phase_senders"].get(phase.name) or len(senders) or 1
    rate = options.rate * len(senders) / total
    rounds: list[list[int]] = []
    during: list[dict[str, Any] | None] = [None]
    async with trio.open_nursery() as reading:
        if phase.read and options.read_every_ms > 0:
            reading.start_soon(_flush_reads, clients, options.read_every_ms)
        async with trio.open_nursery() as nursery:
            if run.during is not None:
                nursery.start_soon(_during, run, phase, start, end, during)
            nursery.start_soon(worker.window, start, end)
            nursery.start_soon(worker.progress, end)
            if phase.stall:
                nursery.start_soon(_stall_at, [c for g in active for h in g.slow
                                               for c in run.clients.get(h, ())], t0)
            if phase.rounds:
                await _announce_rounds(run, active, rate, t0, start, end, rounds)
            else:
                await worker.pace(senders, rate, t0, end)
        drained = await worker.drain(senders, _settled(run, active, phase), options.drain_s)
        reading.cancel_scope.cancel()
    after = _counters(clients)
    rec = worker.recorder
    payload = {"e2e": rec.e2e_us.encode(), "ack": rec.ack_us.encode(),
               "win_sent": rec.win_sent, "win_acked": rec.win_acked,
               "win_delivered": rec.win_delivered, "drained": drained,
               "senders": len(senders), "rounds": rounds, "during": during[0],
               **{k: after[k] - before[k] for k in after}}
    await worker.barrier(f"{phase.name}:done", payload)
    return drained


async def _during(run: Run, phase: Phase, start: int, end: int,
                  out: list[dict[str, Any] | None]) -> None:
    out[0] = await run.during(run, phase, start, end)  # type: ignore[misc]


def _everyday_roles(options: Any, group: Group, devices: list[GroupClient]) -> None:
    """Issue 20's mix: who mentions whom, how often sends reply, who reacts to what."""
    members = group.members
    for c in devices:
        if c.spec.device.endswith("/1"):
            continue  # a second device neither sends nor reacts
        i = members.index(c.spec.handle)
        c.mention_every = round(1 / options.mention_fraction) if options.mention_fraction else 0
        c.reply_every = round(1 / options.reply_fraction) if options.reply_fraction else 0
        c.mention_handle = members[(i + 1) % len(members)]
        c.react_modulus = len(members) if options.reactions else 0
        c.react_slot = i


async def _set_resting(run: Run, resting: bool) -> None:
    """Put the groups' resting members on a break (or end it) through the protocol; every
    device of theirs then expects silent: true on each live msg (or not)."""
    limiter = trio.CapacityLimiter(SETUP_CONCURRENCY)
    handles = {h for g in run.groups for h in g.resting if h in run.clients}

    async def one(h: str) -> None:
        async with limiter:
            if resting:
                await run.first(h).request(lambda rid: QuietBreak(id=rid, minutes=BREAK_MINUTES))
            else:
                await run.first(h).request(lambda rid: QuietResume(id=rid))
        for c in run.clients[h]:
            c.resting = resting

    async with trio.open_nursery() as nursery:
        for h in sorted(handles):
            nursery.start_soon(one, h)
    run.resting_now = resting


async def _flush_reads(clients: list[GroupClient], every_ms: float) -> None:
    """Send each member's waiting cursor when its turn comes (until cancelled)."""
    tick_s = max(every_ms / 4, 5.0) / 1000
    while True:
        await trio.sleep(tick_s)
        now = time.monotonic_ns()
        for c in clients:
            if c.live:
                c.flush_read(now)


async def _stall_at(clients: list[GroupClient], t0: int) -> None:
    await sleep_until_ns(t0)
    for c in clients:
        c.stall()


def _settled(run: Run, active: list[Group], phase: Phase) -> Callable[[], bool]:
    """Every device of every sending group holds every acked message (not its own), every
    read is answered and, with receipts, every message has all its readers."""

    def settled() -> bool:
        for group in active:
            conv = run.convs[group.key]
            devices = run.devices_of(group)
            acked = sum(len(c.acked.get(conv, ())) for c in devices)
            for c in devices:
                if not c.stalled and \
                        len(c.delivered.get(conv, ())) < acked - len(c.acked.get(conv, ())):
                    return False
                if c.reading:
                    return False
                if phase.receipt and phase.read and c.receipts_complete < len(c.receipt_seqs):
                    return False
        return True

    return settled


async def _announce_rounds(run: Run, active: list[Group], rate: float, t0: int, start: int,
                           end: int, rounds: list[list[int]]) -> None:
    """One announcement at a time: each waits until every device has it (bounded), then
    the next goes, at most `rate` (≤ ANNOUNCE_MAX_RATE) per second. Rounds sent inside the
    window are recorded as [first-delivery ns, all-delivered ns] after the send."""
    (group,) = active
    admin = run.first(group.owner)
    conv = run.convs[group.key]
    receivers = [c for c in run.devices_of(group) if c is not admin]
    tracker = Tracker(len(receivers))
    for c in receivers:
        c.tracker = tracker
    gap_ns = int(1e9 / min(rate or ANNOUNCE_MAX_RATE, ANNOUNCE_MAX_RATE))
    await sleep_until_ns(t0)
    k = 0
    try:
        while k < MAX_ROUNDS and now_ns() < end:
            sent = now_ns()
            acked_before = len(admin.acked.get(conv, ()))
            admin.send_one(sent)
            k += 1
            with trio.move_on_after(ROUND_TIMEOUT_S) as scope:
                while len(admin.acked.get(conv, ())) == acked_before:
                    await trio.sleep(0.001)
                seq = admin.acked[conv][-1]
                if receivers:
                    await tracker.complete[seq].wait()
            if scope.cancelled_caught:
                run.worker.recorder.extra["round_timeouts"] = \
                    run.worker.recorder.extra.get("round_timeouts", 0) + 1
                break
            if sent >= start:
                got = tracker.arrivals.get(seq, [0, sent, sent])
                rounds.append([got[1] - sent, got[2] - sent])
            await sleep_until_ns(sent + gap_ns)
    finally:
        for c in receivers:
            c.tracker = None


# ----- the coordinator side -----

Prepare = Callable[[Any], Awaitable[Any]]


async def coordinate(coordinator: Any, phases: list[Phase],
                     prepare: Prepare | None = None) -> dict[str, Any]:
    options = coordinator.options
    start_reply = await prepare(coordinator) if prepare is not None else None
    await coordinator.gather("start")
    await coordinator.release(start_reply)
    ready = await coordinator.gather("ready")
    await coordinator.release(None)
    figures: dict[str, Any] = {"phases": {}, "connect_failures":
                               sum(r["connect_failures"] for r in ready)}
    s0 = s1 = {}
    for phase in phases:
        await coordinator.gather(f"{phase.name}:go")
        t0 = now_ns() + START_AHEAD_NS
        start = t0 + int(options.warmup_s * 1e9)
        end = start + int(options.duration_s * 1e9)
        await coordinator.release({"t0": t0})
        before = await coordinator.stats()
        polled: list[dict[str, Any]] = []
        async with trio.open_nursery() as nursery:
            if phase.poll:
                nursery.start_soon(_poll, coordinator, t0, polled)
            await sleep_until_ns(start)
            s0 = await coordinator.stats()
            await sleep_until_ns(end)
            s1 = await coordinator.stats()
            payloads = await coordinator.gather(f"{phase.name}:done")
            after = await coordinator.stats()
            nursery.cancel_scope.cancel()
        await coordinator.release(None)
        figures["phases"][phase.name] = phase_figures(
            options, phase, s0, s1, before, after, payloads, polled, t0)
    await coordinator.gather("done")
    await coordinator.release(None)
    return {"stats_start": s0, "stats_end": s1, "window_s": options.duration_s,
            "figures": figures}


async def _poll(coordinator: Any, t0: int, out: list[dict[str, Any]]) -> None:
    """Sample stats every STATS_POLL_S from t0 on (bounded by the caller's cancel)."""
    await sleep_until_ns(t0)
    while True:
        stats = await coordinator.stats()
        out.append({"t_s": round((now_ns() - t0) / 1e9, 3),
                    "slow_consumer_closes": stats.get("slow_consumer_closes", 0),
                    "buffered_bytes_max": stats.get("buffered_bytes_max", 0),
                    "rss_bytes": stats.get("rss_bytes", 0)})
        await trio.sleep(STATS_POLL_S)


def phase_figures(options: Any, phase: Phase, s0: dict[str, Any], s1: dict[str, Any],
                  before: dict[str, Any], after: dict[str, Any], payloads: list[dict[str, Any]],
                  polled: list[dict[str, Any]], t0: int) -> dict[str, Any]:
    window = options.duration_s

    def total(key: str) -> int:
        return sum(p[key] for p in payloads)

    e2e = percentiles(merge(p["e2e"] for p in payloads))
    ack = percentiles(merge(p["ack"] for p in payloads))
    server = server_figures(s0, s1, window)
    out: dict[str, Any] = {
        "senders": total("senders"),
        "offered_per_s": options.rate,
        "sent_per_s": round(total("win_sent") / window, 1),
        "acked_per_s": round(total("win_acked") / window, 1),
        "delivered_per_s": round(total("win_delivered") / window, 1),
        "latency_ms": {"ack": ack, "e2e": e2e},
        "server": server,
        "drained": all(p["drained"] for p in payloads),
        "system_msgs": total("system_msgs"),
        "silent_msgs": total("silent_msgs"),
        "silent_mismatch": total("silent_mismatch"),
        "reacts_sent": total("reacts_sent"),  # issue 20's mix
        "reaction_frames": total("reaction_frames"),
        # from the phase's t0 to the end of its drain
        "slow_consumer_closes": after.get("slow_consumer_closes", 0)
        - before.get("slow_consumer_closes", 0),
        "rss_bytes_before": before.get("rss_bytes"),
        "rss_bytes_after": after.get("rss_bytes"),
        "rss_growth_bytes": (after.get("rss_bytes") or 0) - (before.get("rss_bytes") or 0),
    }
    if phase.read or phase.receipt:
        messages = total("receipt_messages")
        cpu = server.get("cpu_seconds") or 0.0
        out["reads"] = {
            "sent": total("reads_sent"), "answered": total("reads_answered"),
            "refused": total("reads_refused"),
            "per_s": round(total("win_reads") / window, 1),
            "cpu_us_per_read": round(cpu / total("win_reads") * 1e6, 2)
            if total("win_reads") else None,
            # receipt-requested messages the answered reads covered (= reads with one
            # `read` per message; more with --read-every)
            "messages_read": total("msgs_read"),
            "messages_per_s": round(total("win_msgs_read") / window, 1),
            "cpu_us_per_message_read": round(cpu / total("win_msgs_read") * 1e6, 2)
            if total("win_msgs_read") else None,
        }
        out["receipts"] = {
            "messages": messages, "frames": total("receipt_frames"),
            "frames_per_message": round(total("receipt_frames") / messages, 2)
            if messages else None,
            "readers_recorded": total("receipt_readers"),
            "messages_fully_read": total("receipts_complete"),
            "duplicate_readers": total("receipt_duplicates"),
        }
    if any(p.get("during") for p in payloads):
        out["during"] = [p["during"] for p in payloads if p.get("during")]
    if phase.rounds:
        rounds = [r for p in payloads for r in p["rounds"]]
        out["rounds"] = len(rounds)
        out["first_delivery_ms"] = percentiles([r[0] // 1000 for r in rounds])
        out["time_to_all_ms"] = percentiles([r[1] // 1000 for r in rounds])
    if polled:
        base, closes = before.get("slow_consumer_closes", 0), []
        for p in polled:  # (seconds after t0, closes so far) at each increase
            n = p["slow_consumer_closes"] - base
            if n > (closes[-1][1] if closes else 0):
                closes.append((p["t_s"], n))
        out["polled"] = {
            "closes_at_s": closes,
            "buffered_bytes_max": max(p["buffered_bytes_max"] for p in polled),
            "rss_bytes_max": max(p["rss_bytes"] for p in polled),
            "samples": len(polled),
        }
    return out


def ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
        and b else None
