"""What one worker measures: counters, latency histograms and generator CPU.

Latencies go into HDR histograms (the `hdrhistogram` package: 1 µs to
60 s, 3 significant digits, so any value is known to within 0.1 %), and
only for events received inside the steady window. A worker's histogram
is a fixed 17,408 counts whatever the rate or the length of the run, and
it travels to the coordinator as HdrHistogram's standard compressed
encoding (a few KiB), where the workers' histograms are added.

The receive path records one latency with `LatencyHistogram.record`: the
counts index in HdrHistogram's layout (the library's own bucket
arithmetic, checked against it in tests/loadtest/test_recorder.py) and
one increment of a plain list: ≈ 0.12 µs, against ≈ 0.6 µs for the
library's pure-Python `record_value` (and ≈ 0.03 µs for the `array.append`
of raw samples this replaced, whose memory grew with the run). The list
becomes the library's histogram only when a figure is asked for:
percentiles, the mean, the encoding and the additions are all the library's.

Times are `time.monotonic_ns()`: CLOCK_MONOTONIC, the same in every process
of the machine, so worker processes and the coordinator agree on instants.
"""

from __future__ import annotations

import operator
import resource
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

FOREVER_NS = 2**62
LOWEST_US = 1
HIGHEST_US = 60_000_000  # 60 s: anything slower is recorded as 60 s
SIGNIFICANT_DIGITS = 3
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


# HdrHistogram's counts layout for our range: values below 2 * 2**_SHIFT have a
# count each; above, each power-of-two bucket holds 2**_SHIFT counts.
_LAYOUT = new_histogram()
assert _LAYOUT.unit_magnitude == 0  # LOWEST_US == 1: the index below relies on it
_MASK = _LAYOUT.sub_bucket_mask
_SHIFT = _LAYOUT.sub_bucket_half_count_magnitude
_TOP = _SHIFT + 1
_COUNTS = _LAYOUT.counts_len


def counts_index(us: int) -> int:
    """Where HdrHistogram counts `us` (0 <= us <= HIGHEST_US): its bucket arithmetic,
    as `LatencyHistogram.record` inlines it."""
    bucket = (us | _MASK).bit_length() - _TOP
    return (bucket << _SHIFT) + (us >> bucket)


class LatencyHistogram:
    """Latencies in µs, counted in HdrHistogram's layout; the library does the rest."""

    __slots__ = ("counts", "_mark")

    def __init__(self) -> None:
        self.counts = [0] * _COUNTS
        self._mark: list[int] | None = None

    def record(self, us: int) -> None:
        """Count one latency (µs; clamped to 0 … HIGHEST_US). The receive path's cost."""
        if us > HIGHEST_US:
            us = HIGHEST_US
        elif us < 0:
            us = 0
        bucket = (us | _MASK).bit_length() - _TOP
        self.counts[(bucket << _SHIFT) + (us >> bucket)] += 1

    append = record  # the verb of the sample arrays this replaced

    def __len__(self) -> int:
        return sum(self.counts)

    def reset(self) -> None:
        self.counts = [0] * _COUNTS
        self._mark = None

    def histogram(self) -> HdrHistogram:
        return to_histogram(self.counts)

    def encode(self) -> bytes:
        """HdrHistogram's compressed V2 encoding: what workers send the coordinator."""
        return self.histogram().encode()

    def since_mark(self) -> HdrHistogram:
        """What was recorded since the previous call (the first call: since the start)."""
        now, before = list(self.counts), self._mark
        self._mark = now
        return to_histogram(now if before is None else list(map(operator.sub, now, before)))


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
    ack_us: LatencyHistogram = field(default_factory=LatencyHistogram)
    e2e_us: LatencyHistogram = field(default_factory=LatencyHistogram)
    resume_us: LatencyHistogram = field(default_factory=LatencyHistogram)
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
        """A picklable summary for merging (latency histograms encoded)."""
        return {
            "sent": self.sent, "acked": self.acked, "delivered": self.delivered,
            "win_sent": self.win_sent, "win_acked": self.win_acked,
            "win_delivered": self.win_delivered, "unexpected_acks": self.unexpected_acks,
            "stale_dropped": self.stale_dropped,
            "refused": dict(self.refused), "disconnects": dict(self.disconnects),
            "connect_failures": self.connect_failures, "bad_frames": self.bad_frames,
            "ack_us": self.ack_us.encode(), "e2e_us": self.e2e_us.encode(),
            "resume_us": self.resume_us.encode(),
            "cpu_s": self.cpu_end_s - self.cpu_start_s,
            "wall_s": (self.wall_end_ns - self.wall_start_ns) / 1e9,
            "cpu_fraction": round(self.cpu_fraction, 4),
            "extra": dict(self.extra),
        }


def to_histogram(counts: list[int]) -> HdrHistogram:
    """The library's histogram holding `counts` (in its layout), as its decoder fills one."""
    hist = new_histogram()
    used = [index for index, n in enumerate(counts) if n]
    if used:
        hist.counts[:] = counts
        hist.set_internal_tacking_values(used[0], used[-1], sum(counts))
    return hist


def merge(encoded: Iterable[bytes]) -> HdrHistogram:
    """One histogram from many encoded ones (`LatencyHistogram.encode`)."""
    hist = new_histogram()
    for blob in encoded:
        hist.decode_and_add(blob)
    return hist


def percentiles(latencies: HdrHistogram | LatencyHistogram | Iterable[int]) -> dict[str, Any]:
    """count, p50/p90/p99/p99.9/max and mean in milliseconds, from an HDR histogram.

    Takes a histogram, or latencies in µs to put in one. Percentiles are
    HdrHistogram's: the recorded value at rank max(1, round(q * count)),
    reported as the highest value equivalent to it (within 0.1 %).
    """
    hist = _as_histogram(latencies)
    n = hist.get_total_count()
    if not n:
        return {"count": 0, **{name: None for name, _ in PERCENTILES}, "max": None,
                "mean": None}
    at = hist.get_percentile_to_value_dict([q for _, q in PERCENTILES])
    return {"count": n, **{name: _ms(at[q]) for name, q in PERCENTILES},
            "max": _ms(hist.get_max_value()), "mean": _ms(hist.get_mean_value())}


def _as_histogram(latencies: HdrHistogram | LatencyHistogram | Iterable[int]) -> HdrHistogram:
    if isinstance(latencies, HdrHistogram):
        return latencies
    if isinstance(latencies, LatencyHistogram):
        return latencies.histogram()
    hist = new_histogram()
    for us, n in Counter(min(max(v, 0), HIGHEST_US) for v in latencies).items():
        hist.record_value(us, n)
    return hist


def _ms(us: float) -> float:
    return round(us / 1000, 3)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
