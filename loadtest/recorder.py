"""What one worker measures: counters, latency samples and generator CPU.

Latencies are kept exactly, as microseconds in `array('q')` (8 bytes a
sample, an append costs ≈ 50 ns), and only for events received inside the
steady window; percentiles come from sorting them once at the end. That
keeps the receive path cheap and merging workers trivial (concatenate).
Times are `time.monotonic_ns()`: CLOCK_MONOTONIC, the same in every process
of the machine, so worker processes and the coordinator agree on instants.
"""

from __future__ import annotations

import math
import resource
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FOREVER_NS = 2**62


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class Recorder:
    """Counters of one worker; `win_*` count what arrived inside the window."""

    win_start_ns: int = FOREVER_NS
    win_end_ns: int = FOREVER_NS
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    win_sent: int = 0
    win_acked: int = 0
    win_delivered: int = 0
    unexpected_acks: int = 0
    stale_dropped: int = 0  # msgs at or below the sync token: dropped, as the protocol says
    refused: Counter = field(default_factory=Counter)  # error code -> count
    disconnects: Counter = field(default_factory=Counter)  # close code or reason -> count
    connect_failures: int = 0
    bad_frames: int = 0
    ack_us: array = field(default_factory=lambda: array("q"))
    e2e_us: array = field(default_factory=lambda: array("q"))
    resume_us: array = field(default_factory=lambda: array("q"))
    cpu_start_s: float = 0.0
    cpu_end_s: float = 0.0
    wall_start_ns: int = 0
    wall_end_ns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def set_window(self, start_ns: int, end_ns: int) -> None:
        self.win_start_ns, self.win_end_ns = start_ns, end_ns

    def window_opened(self) -> None:
        self.cpu_start_s, self.wall_start_ns = cpu_seconds(), time.monotonic_ns()

    def window_closed(self) -> None:
        self.cpu_end_s, self.wall_end_ns = cpu_seconds(), time.monotonic_ns()

    @property
    def cpu_fraction(self) -> float:
        wall = (self.wall_end_ns - self.wall_start_ns) / 1e9
        return (self.cpu_end_s - self.cpu_start_s) / wall if wall > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """A picklable summary for merging (latency arrays as raw bytes)."""
        return {
            "sent": self.sent, "acked": self.acked, "delivered": self.delivered,
            "win_sent": self.win_sent, "win_acked": self.win_acked,
            "win_delivered": self.win_delivered, "unexpected_acks": self.unexpected_acks,
            "stale_dropped": self.stale_dropped,
            "refused": dict(self.refused), "disconnects": dict(self.disconnects),
            "connect_failures": self.connect_failures, "bad_frames": self.bad_frames,
            "ack_us": self.ack_us.tobytes(), "e2e_us": self.e2e_us.tobytes(),
            "resume_us": self.resume_us.tobytes(),
            "cpu_s": self.cpu_end_s - self.cpu_start_s,
            "wall_s": (self.wall_end_ns - self.wall_start_ns) / 1e9,
            "cpu_fraction": round(self.cpu_fraction, 4),
            "extra": dict(self.extra),
        }


def percentiles(samples_us: array | list[int]) -> dict[str, Any]:
    """count, p50/p90/p99/p99.9/max and mean in milliseconds (exact, nearest rank)."""
    values = sorted(samples_us)
    n = len(values)
    if not n:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "p999": None,
                "max": None, "mean": None}

    def rank(q: float) -> float:
        return round(values[min(n - 1, max(0, math.ceil(q * n) - 1))] / 1000, 3)

    return {"count": n, "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
            "p999": rank(0.999), "max": round(values[-1] / 1000, 3),
            "mean": round(sum(values) / n / 1000, 3)}


def samples(raw: bytes) -> array:
    out = array("q")
    out.frombytes(raw)
    return out
