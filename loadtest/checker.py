"""The delivery checker: was every acked message delivered exactly once, in order?

The server's promise (docs/architecture.md, "the path of one message"): once a send is
acked, every other device of every member receives it, exactly once, in
per-conversation `seq` order, live or through sync after a reconnect; and
nothing is shown that was not committed (acked). The checker compares what
the simulated devices saw with what the senders were told was stored:

* `acked[conv]` — (seq, sending device) for every ack a sender received
  (a repeated ack for a retried send carries the original seq: counted once);
* `receivers[conv]` — the devices that must see the conversation;
* `delivered[device][conv]` — the seqs the device's application saw, in
  arrival order.

For each receiver and conversation, the expected seqs are the acked ones
not sent by that device itself (a device may see its own messages again
through sync, as echoes: allowed, not counted). Then: an expected seq never
seen is **lost**; a seq seen twice is **duplicated**; a seq below one seen
before it is **reordered**; a seq seen that no ack names is
**unacked_delivered** (a message shown that a crash could take back, or a
phantom); a delivery to a device that is not a receiver of the conversation
is **misrouted**. A scenario may add rules of its own (robots: the 429 rule,
loadtest/robotrule.py): each break is a **violation**. A clean run reports
zeros. Pure code: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MAX_EXAMPLES = 10


@dataclass(slots=True)
class Verdict:
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    unacked_delivered: int = 0
    misrouted: int = 0
    checked_deliveries: int = 0
    own_echoes: int = 0
    violations: int = 0  # of a scenario's own rules
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered
                    or self.unacked_delivered or self.misrouted or self.violations)

    def note(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def violated(self, count: int, examples: list[str]) -> None:
        """A scenario's own rule was broken `count` times."""
        self.violations += count
        for text in examples:
            self.note(text)

    def to_json(self) -> dict:
        return {"ok": self.ok, "lost": self.lost, "duplicated": self.duplicated,
                "reordered": self.reordered, "unacked_delivered": self.unacked_delivered,
                "misrouted": self.misrouted, "checked_deliveries": self.checked_deliveries,
                "own_echoes": self.own_echoes, "violations": self.violations,
                "examples": list(self.examples)}


def check(acked: Mapping[int, Iterable[tuple[int, str]]],
          receivers: Mapping[int, Iterable[str]],
          delivered: Mapping[str, Mapping[int, list[int]]]) -> Verdict:
    """Compare deliveries against acks; see the module docstring for the rules."""
    verdict = Verdict()
    senders = {conv: dict(pairs) for conv, pairs in acked.items()}
    expected_by = {conv: set(devices) for conv, devices in receivers.items()}
    for conv, devices in expected_by.items():
        sent_by = senders.get(conv, {})
        for device in sorted(devices):
            got = delivered.get(device, {}).get(conv, [])
            _check_one(verdict, conv, device, sent_by, got)
    for device, convs in delivered.items():
        for conv, got in convs.items():
            if got and device not in expected_by.get(conv, ()):
                verdict.misrouted += len(got)
                verdict.note(f"conv {conv}: {device} is not a receiver but got {len(got)}")
    return verdict


def _check_one(verdict: Verdict, conv: int, device: str, sent_by: dict[int, str],
               got: list[int]) -> None:
    expected = {seq for seq, sender in sent_by.items() if sender != device}
    seen: set[int] = set()
    highest = 0
    for seq in got:
        sender = sent_by.get(seq)
        if sender == device:
            verdict.own_echoes += 1
            continue
        verdict.checked_deliveries += 1
        if seq in seen:
            verdict.duplicated += 1
            verdict.note(f"conv {conv}: {device} got seq {seq} twice")
            continue
        seen.add(seq)
        if sender is None:
            verdict.unacked_delivered += 1
            verdict.note(f"conv {conv}: {device} got seq {seq}, which no ack names")
        if seq < highest:
            verdict.reordered += 1
            verdict.note(f"conv {conv}: {device} got seq {seq} after seq {highest}")
        highest = max(highest, seq)
    missing = expected - seen
    if missing:
        verdict.lost += len(missing)
        verdict.note(f"conv {conv}: {device} never got seq {_span(missing)}")


def _span(seqs: set[int]) -> str:
    ordered = sorted(seqs)
    text = ", ".join(map(str, ordered[:5]))
    return text + (f" … ({len(ordered)} in all)" if len(ordered) > 5 else "")
