"""What does a resting member add to the server's fan-out? (issue 5, in isolation)

`python -m corpchat.server.fanoutbench [--members 100] [--messages 20000]`
runs the server's own fan-out step (`Hub.fan_out`: one committed message
to every member's session, building each frame variant once) in this
process on a 100-member group, with nobody resting and with half the
members resting (the real `QuietHours` state: a `silent` variant encoded
once per message, and one `held` count per resting receiver), alternating
the two `--rounds` times. Only this step differs between the two cases;
reading the sender's frame, the commit and the socket writes are the same,
so the difference per delivery here, added to a measured full CPU per
delivery, bounds the end-to-end ratio. Reported: CPU ns per delivery of
each case per round, their medians, and the difference. Seeded, bounded:
`--messages` per round. Run it pinned (`taskset -c 1`). It lives with the
server, not in loadtest/, because it builds a `Hub` in-process: the load
tester itself speaks only the protocol.

`--everyday` (issue 20) times the hub's whole step per message instead —
fan-out and the batch's writes (`Hub.write_out`, real `Session`s writing to
/dev/null: a system call each, without loopback's cost) — for plain messages,
for mentions and replies alone, and for the issue's mix (20 % mention the next
member, 10 % reply to the message before, and one reaction per message
committed in a batch of its own, as a member reacting to what arrived), with
the reactions written at their commit (`reaction_hold_ms = 0`, as in 1.5) and
held for the next write (1.8). Reported:
CPU ns per *message* delivery (reaction frames are not deliveries) and system
calls per message delivery, each case against plain.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections import defaultdict
from types import SimpleNamespace
from typing import Any, cast

from corpchat.protocol.clock import ManualClock
from corpchat.store import Membership, Message
from corpchat.store.everyday import ReactionState
from corpchat.store.records import Quote

from .hub import ConvState, Hub
from .online import Online
from .ops.everyday import Reacted
from .quiet import QuietHours
from .session import Session

CONV = 7
SERVER_GC = (50_000, 50, 1000)  # `corpchat serve`'s gc.set_threshold (server/cli.py)


class _Store:
    def head_pos(self) -> int:
        return 0

    def user_by_handle(self, handle: str) -> Any:  # mentions name members u0, u1, ...
        return SimpleNamespace(uid=int(handle[1:]))


class _Session:  # hashable by identity, as a real session is
    def __init__(self, uid: int) -> None:
        self.user = SimpleNamespace(uid=uid)


class _Push:
    def wanted(self, uid: int) -> bool:
        return False


def hub_for(members: int, resting: int) -> Hub:
    online, push = Online(), _Push()
    # The stubs stand in for the store and the push gateway, which fan-out does not touch:
    quiet = QuietHours(_Store(), ManualClock(), online, push)  # type: ignore[arg-type]  # stubs
    hub = Hub(_Store(), online, quiet, push)  # type: ignore[arg-type]  # stubs
    now = ManualClock().now_ms()
    for uid in range(members - resting, members):  # the last ones rest, as in the scenarios
        quiet.resting[uid] = now + 3_600_000
    hub.convs[CONV] = ConvState("group", {uid: Membership(joined_pos=1)
                                          for uid in range(members)})
    for uid in range(members):
        # fan-out reads only `session.user.uid` (and hashes the session)
        hub.sessions[uid].append(_Session(uid))  # type: ignore[arg-type]  # a stub session
    return hub


def per_delivery_ns(hub: Hub, members: int, messages: int, text: str) -> float:
    sender = hub.sessions[0][0]
    batch: Any = defaultdict(list)
    started = time.process_time_ns()
    for k in range(messages):
        msg = Message(conv=CONV, seq=k + 2, pos=k + 2, sender="u0", time_ms=k,
                      text=text, client_msg_id=f"{k}.x")
        hub.fan_out(msg, batch, sender)
        if len(batch) > 4 * members:
            batch = defaultdict(list)
        else:
            batch.clear()
    used = time.process_time_ns() - started
    return used / (messages * (members - 1))


# ----- --everyday: the mix, the whole hub step per message ---------------


class _CountingSession(Session):
    """A real session on /dev/null that counts its system calls."""

    __slots__ = ("writes",)

    def __init__(self, fd: int, uid: int) -> None:
        super().__init__(fd, "bench", 1 << 30, 0)
        self.user = cast(Any, SimpleNamespace(uid=uid, handle=f"u{uid}"))  # a stub user
        self.writes = 0

    def _write_direct(self, frames: list[bytes]) -> None:
        self.writes += 1
        super()._write_direct(frames)


def everyday_hub(members: int, hold_s: float, devnull: int) -> Hub:
    hub = hub_for(members, 0)
    for uid in range(members):
        hub.sessions[uid] = [_CountingSession(devnull, uid)]
    hub.everyday.hold_s = hold_s
    return hub


def _writes(hub: Hub, members: int) -> int:
    return sum(cast(_CountingSession, s).writes for uid in range(members)
               for s in hub.sessions[uid])


def _message(k: int, members: int, text: str, mixed: bool) -> Message:
    sender = k % members
    mentions = (f"u{(sender + 1) % members}",) if mixed and k % 5 == 0 else ()
    quote = Quote(k, "u0", "text", text[:100], k + 1) if mixed and k % 10 == 3 else None
    return Message(conv=CONV, seq=k + 2, pos=2 * k + 2, sender=f"u{sender}", time_ms=k,
                   text=text, client_msg_id=f"{k}.x", mentions=mentions, quote=quote)


def _reaction(k: int, members: int) -> Reacted:
    reactor = (k + 7) % members
    state = ReactionState(CONV, k + 2, 2 * k + 3, {"👍": 1})
    return Reacted(CONV, k + 2, 2 * k + 2, f"u{reactor}", "👍", True, state)


def everyday_ns(hub: Hub, members: int, messages: int, text: str, mixed: bool,
                react: bool) -> tuple[float, float]:
    """(CPU ns, writes) per message delivery: each message in a batch of its own, its
    reaction (if `react`) in the next."""
    sender_of = {uid: hub.sessions[uid][0] for uid in range(members)}
    writes = _writes(hub, members)
    started = time.process_time_ns()
    for k in range(messages):
        out: Any = defaultdict(list)
        msg = _message(k, members, text, mixed)
        hub.everyday.begin([])
        hub.fan_out(msg, out, sender_of[k % members])
        hub.write_out(out)
        if react:
            reacted = _reaction(k, members)
            out = defaultdict(list)
            hub.everyday.begin([cast(Any, SimpleNamespace(result=reacted))])  # a stub Pending
            hub.everyday.reacted(reacted, out)
            hub.write_out(out)
    hub.everyday.release()
    used = time.process_time_ns() - started
    deliveries = messages * (members - 1)
    wrote = _writes(hub, members) - writes
    return used / deliveries, wrote / deliveries


def everyday_main(args: argparse.Namespace) -> None:
    gc.set_threshold(*SERVER_GC)  # collections as often as in the server, not 20x as often
    text = "x" * args.size
    devnull = os.open(os.devnull, os.O_WRONLY)
    cases = {"plain": (everyday_hub(args.members, 0, devnull), False, False),
             "mentions and replies": (everyday_hub(args.members, 0, devnull), True, False),
             "mix, reactions at commit": (everyday_hub(args.members, 0, devnull), True, True),
             "mix, reactions held": (everyday_hub(args.members, 0.1, devnull), True, True)}
    for hub, mixed, react in cases.values():
        everyday_ns(hub, args.members, 1000, text, mixed, react)  # warm
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for r in range(1, args.rounds + 1):
        for name, (hub, mixed, react) in cases.items():
            figures[name].append(everyday_ns(hub, args.members, args.messages, text, mixed,
                                             react))
        print(f"round {r}: " + ", ".join(f"{name} {figures[name][-1][0]:.0f} ns"
                                          for name in cases))
    plain = statistics.median(ns for ns, _ in figures["plain"])
    for name, runs in figures.items():
        ns = statistics.median(n for n, _ in runs)
        print(f"median {name}: {ns:.0f} ns per message delivery ({ns / plain:.3f}x plain), "
              f"{statistics.median(w for _, w in runs):.2f} writes per message delivery")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--resting-fraction", type=float, default=0.5)
    p.add_argument("--messages", type=int, default=20_000, help="per case and round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--everyday", action="store_true",
                   help="issue 20: plain vs the mix with reactions at commit and held")
    args = p.parse_args()
    if args.everyday:
        everyday_main(args)
        return
    resting = round(args.resting_fraction * args.members)
    text = "x" * args.size
    plain, rest = hub_for(args.members, 0), hub_for(args.members, resting)
    per_delivery_ns(plain, args.members, 1000, text)  # warm both
    per_delivery_ns(rest, args.members, 1000, text)
    awake, resting_ns = [], []
    for r in range(1, args.rounds + 1):
        awake.append(per_delivery_ns(plain, args.members, args.messages, text))
        resting_ns.append(per_delivery_ns(rest, args.members, args.messages, text))
        print(f"round {r}: nobody resting {awake[-1]:.0f} ns/delivery, "
              f"{resting} of {args.members} resting {resting_ns[-1]:.0f} ns/delivery")
    a, b = statistics.median(awake), statistics.median(resting_ns)
    print(f"median: {a:.0f} vs {b:.0f} ns per delivery: +{b - a:.0f} ns "
          f"({b / a:.3f}x of the fan-out step alone)")


if __name__ == "__main__":
    main()
