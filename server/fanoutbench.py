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
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from corpchat.protocol.clock import ManualClock
from corpchat.store import Membership, Message

from .hub import ConvState, Hub
from .online import Online
from .quiet import QuietHours

CONV = 7


class _Store:
    def head_pos(self) -> int:
        return 0


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--resting-fraction", type=float, default=0.5)
    p.add_argument("--messages", type=int, default=20_000, help="per case and round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", type=int, default=100)
    args = p.parse_args()
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
