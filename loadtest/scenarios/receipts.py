"""`receipts`: receipt-requested group messages that every member reads.

One group of M members (`--members`, default `--clients`), all online, every
member sending in turn at the offered aggregate rate R. Two phases in one
invocation, each a full timed window:

1. `plain` — the same traffic without receipts and without reads: the cost
   of the messages alone;
2. `receipts` — every message is sent with `receipt: true`, and every member
   reads each one as it arrives (`read` {conv, seq}, answered with `ok`), so
   the server records M−1 readers per message and sends the sender coalesced
   `receipt` events. With `--read-every MS` a member sends its cursor at
   most once per MS ms instead, as a client showing the conversation does
   (protocol.md 18.1: "not for every message"); each cursor covers every
   message up to it.

Reported for the receipts phase: reads/s (messages read: receipt-requested
messages covered by read replies inside the window; with one `read` per
message, the replies), server CPU µs per read — all-inclusive (the window's
CPU / reads) and marginal (the CPU above the plain phase's / reads) — the
`read` frames behind them (per second, CPU per frame), receipt frames the
sender received per message, and the receipt check: every message read by
all M−1 other members, each reader named exactly once
(`figures.receipt_check`). Messages are checked for loss, duplicates and
order as in `group`. With a ManualClock server keep M × R × time under the
per-connection request budget.
"""

from __future__ import annotations

from typing import Any

from ..simclient import ClientSpec
from ..worker import Worker, WorkerPlan
from . import groupkit
from .groupkit import Phase

NAME = "receipts"
HELP = "receipt-requested group messages that every member reads: reads/s, CPU per read"
PHASES = [Phase("plain"), Phase("receipts", receipt=True, read=True)]


def layout(options: Any) -> list[groupkit.Group]:
    return groupkit.plain_groups(options, count=1)


def users(options: Any) -> int:
    return groupkit.members_per_group(options)


def plan(options: Any, accounts: list[tuple[str, str]]) -> list[ClientSpec]:
    return groupkit.devices(layout(options), dict(accounts))


def split(options: Any, specs: list[ClientSpec], workers: int) -> list[WorkerPlan]:
    return groupkit.split_groups(options, specs, workers, layout(options), PHASES)


async def drive(worker: Worker) -> None:
    await groupkit.drive(worker, PHASES)


async def coordinate(coordinator: Any) -> dict[str, Any]:
    outcome = await groupkit.coordinate(coordinator, PHASES)
    figures = outcome["figures"]
    plain, main = figures["phases"]["plain"], figures["phases"]["receipts"]
    members = groupkit.members_per_group(coordinator.options)
    reads, receipts = main["reads"], main["receipts"]
    extra_cpu = (main["server"].get("cpu_seconds") or 0) - (plain["server"].get("cpu_seconds")
                                                           or 0)
    reads_in_window = reads["messages_per_s"] * coordinator.options.duration_s
    expected = receipts["messages"] * (members - 1)
    figures.update(
        members=members,
        read_every_ms=coordinator.options.read_every_ms,
        reads_per_s=reads["messages_per_s"],
        cpu_us_per_read=reads["cpu_us_per_message_read"],
        read_frames_per_s=reads["per_s"],
        cpu_us_per_read_frame=reads["cpu_us_per_read"],
        cpu_us_per_read_marginal=round(extra_cpu / reads_in_window * 1e6, 2)
        if reads_in_window else None,
        receipt_frames_per_message=receipts["frames_per_message"],
        receipt_check={
            "ok": receipts["readers_recorded"] == expected
            and receipts["messages_fully_read"] == receipts["messages"]
            and receipts["duplicate_readers"] == 0 and reads["refused"] == 0
            and reads["answered"] == reads["sent"],
            "messages": receipts["messages"], "readers_expected": expected,
            "readers_recorded": receipts["readers_recorded"],
            "duplicate_readers": receipts["duplicate_readers"],
            "reads_sent": reads["sent"], "reads_answered": reads["answered"],
            "messages_read": reads["messages_read"],
            "reads_refused": reads["refused"]},
    )
    return outcome
