"""Quiet hours ("take a break"): a weekly schedule in a time zone, evaluated at instants.

A `Schedule` is an IANA time zone plus quiet `Window`s. A window starts on a weekday at
a local wall-clock minute and ends later that day, or - when `end_min <= start_min` -
the next day (Sunday wraps to Monday). Everything here is pure: no trio, no lmdb, no
I/O beyond zoneinfo reading its zone data. Server and clients share it.

How it works
------------
The windows are first compiled, once per schedule (cached), into a *weekly set*: merged
half-open intervals of week-minutes, 0 = Monday 00:00 .. 10080 = the next Monday, plus
its *boundaries*, the week-minutes where membership flips. `resting_at` maps the instant
to its local wall time with `datetime.fromtimestamp(t / 1000, ZoneInfo(tz))` and looks
the week-minute up in the set (a bisection).

The model `next_change` is exact against: the state at every minute instant (a multiple
of 60,000 ms since the epoch) as `resting_at` computes it. The answer is the first
minute instant strictly after `t_ms`, and no later than `t_ms + horizon_ms`, whose state
differs from `resting_at(t_ms)`.

Between two consecutive UTC-offset changes of the zone, local time is UTC plus a
constant, so the state can only flip at the instant local time reaches a boundary.
Hence the candidate instants, generated lazily and in increasing order:

1. the first minute after `t_ms`;
2. every instant at which the zone's UTC offset changes. These are found by sampling
   the offset hourly over each UTC day and bisecting to the minute wherever two
   samples differ (cached per zone and day; this assumes offsets never change twice
   within one hour, which holds for all IANA data);
3. within each constant-offset segment, every boundary wall time of the weekly set that
   the segment's local clock passes, converted to an instant with that segment's offset.

The state is constant from one candidate to the next, so the first candidate whose
state differs is the answer; no minute-by-minute scan is needed. This handles daylight
saving time without special cases. A boundary inside a spring-forward gap (a wall time
that never occurs) belongs to no segment; the state change it implies shows up at the
offset change, that is, at the instant the clock jumps. A boundary inside a fall-back
overlap lies in both segments, so it is crossed twice: the state can change at the
first pass (fold=0), change back at the jump, and change again at the second pass
(fold=1). A call usually makes a handful of `resting_at` evaluations: the first
boundary candidate in a segment is always a real flip of the weekly set, so only
offset changes and the first minute can be candidates that change nothing.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TypedDict
from zoneinfo import ZoneInfo

__all__ = [
    "MAX_WINDOWS",
    "Schedule",
    "Window",
    "next_change",
    "parse_windows",
    "resting_at",
]

MAX_WINDOWS = 50
"""Quiet windows per schedule, at most."""

DEFAULT_HORIZON_MS = 8 * 86_400_000

_MINUTE_MS = 60_000
_DAY_MIN = 1440
_WEEK_MIN = 7 * _DAY_MIN
# 1970-01-01, day 0 of the epoch, was a Thursday (weekday 3): adding this to a count
# of local minutes since the epoch puts Monday 00:00 on a multiple of a week.
_EPOCH_WEEK_SHIFT_MIN = 3 * _DAY_MIN

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TZ_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_TZ_NAME_MAX_CHARS = 64
# Files in a zoneinfo tree that describe the host, not an IANA zone.
_TZ_NOT_ZONES = frozenset({"localtime", "posixrules"})
_WIRE_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})")
_WIRE_KEYS = frozenset({"timezone", "windows"})
_WIRE_OPTIONAL_KEYS = frozenset({"enabled"})
_WIRE_WINDOW_KEYS = frozenset({"day", "start", "end"})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class WindowWire(TypedDict):
    """A window as sent and stored: the fields of the `window` frame."""

    day: int
    start: str  # "HH:MM"
    end: str


@dataclass(frozen=True, slots=True)
class Window:
    """One quiet window, in the schedule's local wall-clock time."""

    day: int  # 0 = Monday ... 6 = Sunday: the weekday the window starts on
    start_min: int  # minutes after local midnight, 0..1439
    end_min: int  # 0..1440; end_min <= start_min means it ends the next day

    def __post_init__(self) -> None:
        if not _is_int(self.day) or not 0 <= self.day <= 6:
            raise ValueError(f"window day must be an integer 0 (Monday) .. 6, got {self.day!r}")
        if not _is_int(self.start_min) or not 0 <= self.start_min < _DAY_MIN:
            raise ValueError(f"window start must be 0..1439 minutes, got {self.start_min!r}")
        if not _is_int(self.end_min) or not 0 <= self.end_min <= _DAY_MIN:
            raise ValueError(f"window end must be 0..1440 minutes, got {self.end_min!r}")

    @property
    def crosses_midnight(self) -> bool:
        return self.end_min <= self.start_min

    def to_wire(self) -> WindowWire:
        return {
            "day": self.day,
            "start": _format_hhmm(self.start_min),
            "end": _format_hhmm(self.end_min),
        }

    @classmethod
    def from_wire(cls, data: object) -> Window:
        if not isinstance(data, dict):
            raise ValueError("a quiet window must be a map with day, start and end")
        _check_keys(data, _WIRE_WINDOW_KEYS, "quiet window")
        day = data["day"]
        if not _is_int(day) or not 0 <= day <= 6:
            raise ValueError(f"window day must be an integer 0 (Monday) .. 6, got {day!r}")
        start = _parse_wire_hhmm(data["start"], "start", allow_24=False)
        end = _parse_wire_hhmm(data["end"], "end", allow_24=True)
        return cls(day, start, end)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A user's (or a corp's default) quiet hours. Hashable, so compiled forms are cached."""

    timezone: str  # IANA name, e.g. "Europe/Berlin"
    windows: tuple[Window, ...]  # quiet windows (the user rests inside them)
    enabled: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.windows, list):
            object.__setattr__(self, "windows", tuple(self.windows))
        if not isinstance(self.windows, tuple) or not all(
            isinstance(w, Window) for w in self.windows
        ):
            raise ValueError("schedule windows must be a tuple of Window")
        _check_count(len(self.windows))
        if not isinstance(self.enabled, bool):
            raise ValueError(f"schedule enabled must be a boolean, got {self.enabled!r}")
        _zone(self.timezone)

    def to_wire(self) -> dict[str, object]:
        return {
            "timezone": self.timezone,
            "enabled": self.enabled,
            "windows": [w.to_wire() for w in self.windows],
        }

    @classmethod
    def from_wire(cls, data: object) -> Schedule:
        """Validate strictly: exact keys and types; `enabled` may be left out (true).

        Raises ValueError naming what is wrong.
        """
        if not isinstance(data, dict):
            raise ValueError("a quiet-hours schedule must be a map")
        _check_keys(data, _WIRE_KEYS, "quiet-hours schedule", optional=_WIRE_OPTIONAL_KEYS)
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"schedule enabled must be a boolean, got {enabled!r}")
        windows = data["windows"]
        if not isinstance(windows, list | tuple):
            raise ValueError("schedule windows must be an array")
        _check_count(len(windows))
        parsed = []
        for i, item in enumerate(windows):
            try:
                parsed.append(Window.from_wire(item))
            except ValueError as exc:
                raise ValueError(f"windows[{i}]: {exc}") from None
        return cls(data["timezone"], tuple(parsed), enabled)


def _check_keys(
    data: dict[object, object],
    required: frozenset[str],
    what: str,
    optional: frozenset[str] = frozenset(),
) -> None:
    unknown = [k for k in data if k not in required and k not in optional]
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(sorted(map(repr, unknown)))}")
    missing = sorted(required - data.keys())
    if missing:
        raise ValueError(f"{what}: missing field(s) {', '.join(missing)}")


def _check_count(count: int) -> None:
    if count > MAX_WINDOWS:
        raise ValueError(f"a schedule holds at most {MAX_WINDOWS} windows, got {count}")


def _format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_wire_hhmm(value: object, name: str, *, allow_24: bool) -> int:
    if not isinstance(value, str):
        raise ValueError(f"window {name} must be a string 'HH:MM', got {value!r}")
    match = _WIRE_HHMM.fullmatch(value)
    minutes = _hhmm_minutes(match, allow_24) if match else None
    if minutes is None:
        limit = "24:00" if allow_24 else "23:59"
        raise ValueError(f"window {name} must be 'HH:MM' from 00:00 to {limit}, got {value!r}")
    return minutes


def _hhmm_minutes(match: re.Match[str], allow_24: bool) -> int | None:
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes == 0 and allow_24:
        return _DAY_MIN
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


# --- time zones ---------------------------------------------------------------------------


def _zone(name: object) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or ValueError. Cached (ZoneInfo's own cache is small)."""
    if not isinstance(name, str):
        raise ValueError(f"timezone must be a string IANA name, got {name!r}")
    return _load_zone(name)


@lru_cache(maxsize=1024)  # failures raise, so only real zones are cached
def _load_zone(name: str) -> ZoneInfo:
    if len(name) > _TZ_NAME_MAX_CHARS or not _TZ_NAME.fullmatch(name) or name in _TZ_NOT_ZONES:
        raise ValueError(f"unknown timezone {name!r}: expected an IANA name like 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown timezone {name!r}") from None


def _offset_s(zone: ZoneInfo, minute: int) -> int:
    """The zone's UTC offset, in seconds, at the instant `minute` minutes after the epoch."""
    offset = datetime.fromtimestamp(minute * 60, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset.days * 86_400 + offset.seconds


@lru_cache(maxsize=1 << 16)
def _day_transitions(name: str, day: int) -> tuple[tuple[int, int], ...]:
    """(minute, new offset in s) for every offset change in UTC day `day` since the epoch.

    `minute` is the first minute instant on the new offset. Hourly samples from the last
    minute of the day before; bisection wherever two samples differ.
    """
    zone = _load_zone(name)
    samples = [day * _DAY_MIN - 1 + 60 * i for i in range(25)]
    offsets = [_offset_s(zone, m) for m in samples]
    found = []
    for i in range(24):
        if offsets[i] == offsets[i + 1]:
            continue
        lo, hi = samples[i], samples[i + 1]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_s(zone, mid) == offsets[i]:
                lo = mid
            else:
                hi = mid
        found.append((hi, _offset_s(zone, hi)))
    return tuple(found)


def _transitions(name: str, first: int, last: int) -> Iterator[tuple[int, int]]:
    """Offset changes at minutes first..last (inclusive), in order."""
    for day in range(first // _DAY_MIN, last // _DAY_MIN + 1):
        for minute, offset in _day_transitions(name, day):
            if first <= minute <= last:
                yield minute, offset


# --- the weekly set ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    zone: ZoneInfo
    starts: tuple[int, ...]  # merged quiet intervals [starts[i], ends[i]) in week-minutes
    ends: tuple[int, ...]
    bounds: tuple[int, ...]  # week-minutes p where membership(p) != membership(p - 1)

    def rests(self, week_min: int) -> bool:
        i = bisect_right(self.starts, week_min) - 1
        return i >= 0 and week_min < self.ends[i]


@lru_cache(maxsize=4096)
def _plan(schedule: Schedule) -> _Plan:
    pieces: list[tuple[int, int]] = []
    for w in schedule.windows:
        start = w.day * _DAY_MIN + w.start_min
        length = w.end_min - w.start_min + (_DAY_MIN if w.crosses_midnight else 0)
        end = start + length
        pieces.append((start, min(end, _WEEK_MIN)))
        if end > _WEEK_MIN:  # Sunday's window runs into Monday
            pieces.append((0, end - _WEEK_MIN))
    merged: list[list[int]] = []
    for start, end in sorted(p for p in pieces if p[1] > p[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    plan = _Plan(
        _zone(schedule.timezone), tuple(s for s, _ in merged), tuple(e for _, e in merged), ()
    )
    edges = {p % _WEEK_MIN for interval in merged for p in interval}
    bounds = tuple(sorted(p for p in edges if plan.rests(p) != plan.rests((p - 1) % _WEEK_MIN)))
    return _Plan(plan.zone, plan.starts, plan.ends, bounds)


def _rests(plan: _Plan, t_ms: int) -> bool:
    local = datetime.fromtimestamp(t_ms / 1000, plan.zone)
    return plan.rests(local.weekday() * _DAY_MIN + local.hour * 60 + local.minute)


# --- public evaluation --------------------------------------------------------------------


def resting_at(schedule: Schedule, t_ms: int) -> bool:
    """True if the local wall-clock time at instant t_ms (ms since the epoch, UTC) falls
    inside a window: for a window on day d, [start, end) on day d when end > start; when
    it crosses midnight, [start, 24:00) on day d and [00:00, end) on day d+1 (Sunday
    wraps to Monday). A disabled schedule never rests."""
    if not schedule.enabled or not schedule.windows:
        return False
    return _rests(_plan(schedule), t_ms)


def next_change(schedule: Schedule, t_ms: int, horizon_ms: int = DEFAULT_HORIZON_MS) -> int | None:
    """The first instant after t_ms (to the minute: a multiple of 60,000 ms) at which
    resting_at changes value, or None if it does not change within the horizon.

    Precisely: the smallest minute instant m with t_ms < m <= t_ms + horizon_ms and
    resting_at(schedule, m) != resting_at(schedule, t_ms). See the module docstring.
    """
    if not schedule.enabled or not schedule.windows or horizon_ms < 0:
        return None
    plan = _plan(schedule)
    if not plan.bounds:  # never or always resting
        return None
    first = t_ms // _MINUTE_MS + 1
    last = (t_ms + horizon_ms) // _MINUTE_MS
    if first > last:
        return None
    state = _rests(plan, t_ms)
    for minute in _candidates(schedule.timezone, plan, first, last):
        if _rests(plan, minute * _MINUTE_MS) != state:
            return minute * _MINUTE_MS
    return None


def _candidates(name: str, plan: _Plan, first: int, last: int) -> Iterator[int]:
    """Minute instants in first..last, increasing, between which the state is constant."""
    seg_start, offset = first, _offset_s(plan.zone, first)
    for seg_end, next_offset in [*_transitions(name, first + 1, last), (last + 1, 0)]:
        yield seg_start
        yield from _boundary_minutes(plan.bounds, seg_start, seg_end, offset)
        seg_start, offset = seg_end, next_offset


def _boundary_minutes(
    bounds: tuple[int, ...], start: int, end: int, offset_s: int
) -> Iterator[int]:
    """Minutes in (start, end) at which the local clock (UTC + offset_s) reaches a boundary.

    Local minutes since the epoch run from `lo` (at `start`) to `hi` (at `end - 1`); a
    boundary at local minute L is reached at the first minute m with m*60 + offset >= L*60.
    """
    lo = (start * 60 + offset_s) // 60
    hi = ((end - 1) * 60 + offset_s) // 60
    week_min = (lo + _EPOCH_WEEK_SHIFT_MIN) % _WEEK_MIN
    base = lo - week_min  # local minutes since the epoch at that week's Monday 00:00
    i = bisect_right(bounds, week_min)
    while True:
        if i == len(bounds):
            base, i = base + _WEEK_MIN, 0
        local = base + bounds[i]
        if local > hi:
            return
        yield -((offset_s - local * 60) // 60)  # ceil((local*60 - offset_s) / 60)
        i += 1


# --- the admin CLI's notation -------------------------------------------------------------

_CLI_ITEM = re.compile(
    r"(?P<days>[a-z]+(?:\s*-\s*[a-z]+)?)\s+"
    r"(?P<start>[0-9]{1,2}:[0-9]{2})\s*-\s*(?P<end>[0-9]{1,2}:[0-9]{2})"
)
_CLI_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def parse_windows(text: str) -> tuple[Window, ...]:
    """For the admin CLI: 'mon-fri 22:00-08:00, sat 00:00-24:00' (days: mon..sun, ranges
    like mon-fri, 'daily'). ValueError on bad input.

    Items are comma-separated; day names are case-insensitive and may be spelled out
    ('monday'); a range may wrap ('fri-mon' is Friday to Monday); hours may have one
    digit ('8:00'). Each day of an item becomes one window, in the order written. An
    empty text means no windows.
    """
    if not isinstance(text, str):
        raise ValueError("quiet windows must be given as text")
    if not text.strip():
        return ()
    windows: list[Window] = []
    for raw in text.split(","):
        match = _CLI_ITEM.fullmatch(raw.strip().lower())
        if match is None:
            example = "'mon-fri 22:00-08:00'"
            raise ValueError(f"bad quiet window {raw.strip()!r}: expected e.g. {example}")
        start = _cli_hhmm(match["start"], raw, allow_24=False)
        end = _cli_hhmm(match["end"], raw, allow_24=True)
        windows.extend(Window(day, start, end) for day in _cli_days(match["days"], raw))
    _check_count(len(windows))
    return tuple(windows)


def _cli_days(spec: str, raw: str) -> list[int]:
    if spec == "daily":
        return list(range(7))
    names = [part.strip() for part in spec.split("-")]
    days = [_cli_day(name, raw) for name in names]
    if len(days) == 1:
        return days
    first, last = days
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]


def _cli_day(name: str, raw: str) -> int:
    for day, full in enumerate(_DAY_NAMES):
        if name in (full[:3], full):
            return day
    hint = "use mon..sun, a range like mon-fri, or daily"
    raise ValueError(f"bad day {name!r} in {raw.strip()!r}: {hint}")


def _cli_hhmm(value: str, raw: str, *, allow_24: bool) -> int:
    match = _CLI_HHMM.fullmatch(value)
    minutes = _hhmm_minutes(match, allow_24) if match else None
    if minutes is None:
        raise ValueError(f"bad time {value!r} in {raw.strip()!r}: use HH:MM, 00:00..24:00")
    return minutes
