"""Quiet-hours schedules (protocol/quiet.py).

Tables of cases first: windows crossing midnight, the Sunday to Monday wrap, the
Europe/Berlin and America/New_York DST gap and overlap, zones without DST and with
half-hour offsets, one schedule evaluated in several zones, disabled schedules, the
wire form and the admin CLI notation. Then sweeps over every minute around DST
transitions, and hypothesis, both checked against `brute_rests`, a model written here
from the definition: the local weekday and minute of day, checked window by window. The
sweeps and hypothesis also check `next_change` against a minute-by-minute scan of that
model.

Micro-benchmark, not a test: `.venv/bin/python -m tests.protocol.test_quiet` times
10,000 `next_change` calls on seeded random schedules and instants.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpchat.protocol.quiet import (
    MAX_WINDOWS,
    Schedule,
    Window,
    next_change,
    parse_windows,
    resting_at,
)

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(iso: str) -> int:
    """Milliseconds since the epoch for an ISO time with its offset, e.g. '...T01:00Z'."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(milliseconds=1)


def sched(tz: str, text: str, enabled: bool = True) -> Schedule:
    return Schedule(tz, parse_windows(text), enabled)


# --- the model ------------------------------------------------------------------------


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def brute_rests(schedule: Schedule, t_ms: int) -> bool:
    """The definition, read directly: local weekday and minute of day, window by window."""
    if not schedule.enabled:
        return False
    local = (EPOCH + timedelta(milliseconds=t_ms)).astimezone(zone(schedule.timezone))
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    for w in schedule.windows:
        if w.start_min < w.end_min:
            if weekday == w.day and w.start_min <= minute < w.end_min:
                return True
        elif (weekday == w.day and minute >= w.start_min) or (
            weekday == (w.day + 1) % 7 and minute < w.end_min
        ):
            return True
    return False


def brute_next(schedule: Schedule, t_ms: int, horizon_ms: int) -> int | None:
    """The first minute instant after t_ms, within the horizon, whose state differs."""
    state = brute_rests(schedule, t_ms)
    m = (t_ms // MINUTE + 1) * MINUTE
    while m <= t_ms + horizon_ms:
        if brute_rests(schedule, m) != state:
            return m
        m += MINUTE
    return None


# --- resting_at: tables ---------------------------------------------------------------

# (zone, windows, instant, resting)
RESTING_CASES = [
    # Crossing midnight, UTC. 2026-01-02 is a Friday.
    ("UTC", "fri 22:00-08:00", "2026-01-02T21:59Z", False),
    ("UTC", "fri 22:00-08:00", "2026-01-02T22:00Z", True),
    ("UTC", "fri 22:00-08:00", "2026-01-03T07:59Z", True),
    ("UTC", "fri 22:00-08:00", "2026-01-03T08:00Z", False),
    ("UTC", "fri 22:00-08:00", "2026-01-02T07:00Z", False),  # Friday morning: Thursday's part
    ("UTC", "fri 22:00-00:00", "2026-01-02T23:59Z", True),  # 00:00 end = 24:00
    ("UTC", "fri 22:00-00:00", "2026-01-03T00:00Z", False),
    ("UTC", "fri 22:00-24:00", "2026-01-03T00:00Z", False),
    ("UTC", "fri 08:00-08:00", "2026-01-03T07:59Z", True),  # start == end: 24 hours
    ("UTC", "fri 08:00-08:00", "2026-01-03T08:00Z", False),
    ("UTC", "fri 00:00-24:00", "2026-01-02T00:00Z", True),
    ("UTC", "fri 00:00-24:00", "2026-01-03T00:00Z", False),
    # Sunday wraps to Monday. 2026-01-04 is a Sunday.
    ("UTC", "sun 23:00-01:00", "2026-01-04T23:30Z", True),
    ("UTC", "sun 23:00-01:00", "2026-01-05T00:59Z", True),
    ("UTC", "sun 23:00-01:00", "2026-01-05T01:00Z", False),
    ("UTC", "sun 23:00-01:00", "2026-01-04T00:30Z", False),  # not Saturday into Sunday
    ("UTC", "mon 09:00-10:00", "2026-01-04T09:30Z", False),
    ("UTC", "sat-mon 09:00-10:00", "2026-01-04T09:30Z", True),
    # Berlin spring forward, 2026-03-29 01:00Z: 02:00 CET -> 03:00 CEST.
    ("Europe/Berlin", "sun 02:15-02:45", "2026-03-29T00:59Z", False),  # all in the gap
    ("Europe/Berlin", "sun 02:15-02:45", "2026-03-29T01:00Z", False),
    ("Europe/Berlin", "sun 02:30-05:00", "2026-03-29T00:59Z", False),  # starts in the gap
    ("Europe/Berlin", "sun 02:30-05:00", "2026-03-29T01:00Z", True),
    ("Europe/Berlin", "sat 22:00-02:30", "2026-03-29T00:59Z", True),  # ends in the gap
    ("Europe/Berlin", "sat 22:00-02:30", "2026-03-29T01:00Z", False),
    # Berlin fall back, 2026-10-25 01:00Z: 03:00 CEST -> 02:00 CET; 02:xx happens twice.
    ("Europe/Berlin", "sun 02:30-03:00", "2026-10-25T00:29Z", False),
    ("Europe/Berlin", "sun 02:30-03:00", "2026-10-25T00:30Z", True),  # 02:30 CEST
    ("Europe/Berlin", "sun 02:30-03:00", "2026-10-25T01:00Z", False),  # 02:00 CET
    ("Europe/Berlin", "sun 02:30-03:00", "2026-10-25T01:30Z", True),  # 02:30 CET
    ("Europe/Berlin", "sun 02:30-03:00", "2026-10-25T02:00Z", False),
    ("Europe/Berlin", "sun 00:00-02:30", "2026-10-25T00:29Z", True),
    ("Europe/Berlin", "sun 00:00-02:30", "2026-10-25T00:30Z", False),
    ("Europe/Berlin", "sun 00:00-02:30", "2026-10-25T01:00Z", True),  # back to 02:00
    ("Europe/Berlin", "sun 00:00-02:30", "2026-10-25T01:30Z", False),
    # New York: spring forward 2026-03-08 07:00Z, fall back 2026-11-01 06:00Z.
    ("America/New_York", "sun 02:00-02:30", "2026-03-08T06:59Z", False),
    ("America/New_York", "sun 02:00-02:30", "2026-03-08T07:00Z", False),
    ("America/New_York", "sun 01:30-02:30", "2026-03-08T06:59Z", True),
    ("America/New_York", "sun 01:30-02:30", "2026-03-08T07:00Z", False),
    ("America/New_York", "sun 01:30-02:00", "2026-11-01T05:30Z", True),  # 01:30 EDT
    ("America/New_York", "sun 01:30-02:00", "2026-11-01T06:00Z", False),  # 01:00 EST
    ("America/New_York", "sun 01:30-02:00", "2026-11-01T06:30Z", True),  # 01:30 EST
    ("America/New_York", "sun 01:30-02:00", "2026-11-01T07:00Z", False),
    # Shanghai (+08:00, no DST): Friday night into Saturday; none on Sunday night.
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-01-09T15:00Z", True),  # Fri 23:00
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-01-09T23:59Z", True),  # Sat 07:59
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-01-10T00:00Z", False),  # Sat 08:00
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-01-11T23:00Z", False),  # Mon 07:00
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-01-12T23:00Z", True),  # Tue 07:00
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-07-13T23:00Z", True),  # no DST
    # Kolkata (+05:30). 2026-01-07 is a Wednesday.
    ("Asia/Kolkata", "wed 09:00-17:30", "2026-01-07T03:29Z", False),
    ("Asia/Kolkata", "wed 09:00-17:30", "2026-01-07T03:30Z", True),
    ("Asia/Kolkata", "wed 09:00-17:30", "2026-01-07T11:59Z", True),
    ("Asia/Kolkata", "wed 09:00-17:30", "2026-01-07T12:00Z", False),
    # One instant, Monday 2026-01-05 16:30Z, the same windows in different zones.
    ("Europe/Berlin", "mon-fri 09:00-17:00", "2026-01-05T16:30Z", False),  # 17:30
    ("America/New_York", "mon-fri 09:00-17:00", "2026-01-05T16:30Z", True),  # 11:30
    ("Asia/Shanghai", "mon-fri 09:00-17:00", "2026-01-05T16:30Z", False),  # Tue 00:30
    ("Asia/Kolkata", "mon-fri 09:00-17:00", "2026-01-05T16:30Z", False),  # 22:00
    ("Asia/Kolkata", "mon-fri 09:00-17:00", "2026-01-05T11:00Z", True),  # 16:30
    # Monday 2026-01-05 02:00Z is still Sunday evening in New York.
    ("UTC", "sun 18:00-23:00", "2026-01-05T02:00Z", False),
    ("America/New_York", "sun 18:00-23:00", "2026-01-05T02:00Z", True),
    # Milliseconds inside a minute share its state.
    ("UTC", "fri 22:00-08:00", "2026-01-02T21:59:59.999Z", False),
    ("UTC", "fri 22:00-08:00", "2026-01-03T07:59:59.999Z", True),
]


@pytest.mark.parametrize(("tz", "text", "instant", "expected"), RESTING_CASES)
def test_resting_at(tz: str, text: str, instant: str, expected: bool) -> None:
    schedule = sched(tz, text)
    assert resting_at(schedule, at(instant)) is expected
    assert brute_rests(schedule, at(instant)) is expected  # the model agrees with the table


@pytest.mark.parametrize(("tz", "text", "instant", "expected"), RESTING_CASES)
def test_disabled_schedule_never_rests(tz: str, text: str, instant: str, expected: bool) -> None:
    schedule = sched(tz, text, enabled=False)
    assert resting_at(schedule, at(instant)) is False
    assert next_change(schedule, at(instant)) is None


def test_no_windows_never_rests() -> None:
    schedule = Schedule("Europe/Berlin", ())
    assert resting_at(schedule, at("2026-03-29T01:00Z")) is False
    assert next_change(schedule, at("2026-03-29T01:00Z")) is None


# --- next_change: tables --------------------------------------------------------------

# (zone, windows, from, the instants of the next changes in order; None = no more
# within the default horizon)
CHANGE_CASES = [
    ("UTC", "fri 22:00-08:00", "2026-01-02T12:00Z", ["2026-01-02T22:00Z", "2026-01-03T08:00Z"]),
    ("UTC", "sun 23:00-01:00", "2026-01-04T12:00Z", ["2026-01-04T23:00Z", "2026-01-05T01:00Z"]),
    # Adjacent windows merge: no change at the joint, midnight or not.
    ("UTC", "sun 22:00-24:00, mon 00:00-02:00", "2026-01-04T12:00Z",
     ["2026-01-04T22:00Z", "2026-01-05T02:00Z"]),
    ("UTC", "daily 00:00-24:00", "2026-01-04T12:00Z", [None]),  # always resting
    ("UTC", "daily 12:00-12:00", "2026-01-04T12:00Z", [None]),
    ("UTC", "mon 09:00-10:00", "2026-01-05T10:00Z", ["2026-01-12T09:00Z"]),
    ("UTC", "mon 09:00-10:00", "2026-01-05T10:00:00.001Z", ["2026-01-12T09:00Z"]),
    ("UTC", "mon 09:00-10:00", "2026-01-05T09:59:59.999Z", ["2026-01-05T10:00Z"]),
    # Spring forward in Berlin: a boundary in the gap is crossed when the clock jumps.
    ("Europe/Berlin", "sun 02:30-05:00", "2026-03-28T12:00Z",
     ["2026-03-29T01:00Z", "2026-03-29T03:00Z"]),
    ("Europe/Berlin", "sat 22:00-02:30", "2026-03-28T12:00Z",
     ["2026-03-28T21:00Z", "2026-03-29T01:00Z"]),
    ("Europe/Berlin", "sun 02:15-02:45", "2026-03-28T12:00Z",  # never: next week's
     ["2026-04-05T00:15Z", "2026-04-05T00:45Z"]),
    ("Europe/Berlin", "sun 01:00-03:30", "2026-03-28T12:00Z",  # spans the gap
     ["2026-03-29T00:00Z", "2026-03-29T01:30Z"]),
    # Fall back in Berlin: a wall time in the overlap is passed twice.
    ("Europe/Berlin", "sun 02:30-03:00", "2026-10-24T12:00Z",
     ["2026-10-25T00:30Z", "2026-10-25T01:00Z", "2026-10-25T01:30Z", "2026-10-25T02:00Z"]),
    ("Europe/Berlin", "sun 00:00-02:30", "2026-10-24T12:00Z",
     ["2026-10-24T22:00Z", "2026-10-25T00:30Z", "2026-10-25T01:00Z", "2026-10-25T01:30Z"]),
    ("Europe/Berlin", "sun 02:00-06:00", "2026-10-24T12:00Z",  # the jump stays inside
     ["2026-10-25T00:00Z", "2026-10-25T05:00Z"]),
    ("Europe/Berlin", "sun 03:00-04:00", "2026-10-24T12:00Z",
     ["2026-10-25T02:00Z", "2026-10-25T03:00Z"]),
    # New York.
    ("America/New_York", "sun 01:30-02:00", "2026-10-31T12:00Z",
     ["2026-11-01T05:30Z", "2026-11-01T06:00Z", "2026-11-01T06:30Z", "2026-11-01T07:00Z"]),
    ("America/New_York", "sat 23:00-02:30", "2026-03-07T12:00Z",
     ["2026-03-08T04:00Z", "2026-03-08T07:00Z"]),
    # No DST and half-hour offsets.
    ("Asia/Shanghai", "mon-fri 22:00-08:00", "2026-01-10T00:00Z", ["2026-01-12T14:00Z"]),
    ("Asia/Kolkata", "wed 09:00-17:30", "2026-01-06T00:00Z",
     ["2026-01-07T03:30Z", "2026-01-07T12:00Z", "2026-01-14T03:30Z"]),
]


@pytest.mark.parametrize(("tz", "text", "start", "expected"), CHANGE_CASES)
def test_next_change(tz: str, text: str, start: str, expected: list[str | None]) -> None:
    schedule = sched(tz, text)
    t = at(start)
    for want in expected:
        got = next_change(schedule, t)
        assert got == (None if want is None else at(want)), f"after {t}"
        if got is None:
            break
        assert resting_at(schedule, got) != resting_at(schedule, t)
        t = got


def test_next_change_horizon_is_inclusive() -> None:
    schedule = sched("UTC", "mon 09:00-10:00")
    t = at("2026-01-05T08:00Z")
    assert next_change(schedule, t, horizon_ms=HOUR) == at("2026-01-05T09:00Z")
    assert next_change(schedule, t, horizon_ms=HOUR - 1) is None
    assert next_change(schedule, t, horizon_ms=0) is None
    assert next_change(schedule, t, horizon_ms=-1) is None
    far = at("2026-01-06T10:00Z")  # the next change is 5 days 23 hours away
    assert next_change(schedule, far) == at("2026-01-12T09:00Z")
    assert next_change(schedule, far, horizon_ms=5 * DAY + 23 * HOUR) == at("2026-01-12T09:00Z")
    assert next_change(schedule, far, horizon_ms=5 * DAY + 23 * HOUR - 1) is None


def test_gap_window_is_skipped_within_a_short_horizon() -> None:
    schedule = sched("Europe/Berlin", "sun 02:15-02:45")  # in the gap on 2026-03-29
    assert next_change(schedule, at("2026-03-21T12:00Z"), 400 * DAY) == at("2026-03-22T01:15Z")
    t = at("2026-03-28T12:00Z")
    assert next_change(schedule, t, 7 * DAY) is None
    assert next_change(schedule, t, 400 * DAY) == at("2026-04-05T00:15Z")


# --- sweeps: every minute around DST transitions --------------------------------------

SWEEPS = [
    ("Europe/Berlin", "2026-03-29T01:00Z", "sun 02:30-05:00, sat 22:00-02:15, sun 02:40-02:50"),
    ("Europe/Berlin", "2026-10-25T01:00Z", "sun 02:30-03:00, sun 00:00-02:10, sun 02:50-02:55"),
    ("America/New_York", "2026-03-08T07:00Z", "sun 02:00-02:30, sat 23:00-03:00"),
    ("America/New_York", "2026-11-01T06:00Z", "sun 01:30-02:00, sun 00:59-01:01"),
    ("Australia/Lord_Howe", "2026-04-04T15:00Z", "sun 01:45-02:15, sat 23:00-01:35"),
    ("Pacific/Chatham", "2026-04-04T14:00Z", "sun 03:00-03:30, sat 20:00-03:44"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("tz", "transition", "text"), SWEEPS)
def test_sweep_around_transition(tz: str, transition: str, text: str) -> None:
    """next_change from every minute (and from mid-minute) of the two days around a
    transition, against the model's state at every minute of that range."""
    schedule = sched(tz, text)
    lo, hi = at(transition) - DAY, at(transition) + DAY
    minutes = range(lo, hi + MINUTE, MINUTE)
    states = [brute_rests(schedule, m) for m in minutes]
    assert [resting_at(schedule, m) for m in minutes] == states
    assert len(set(states)) == 2, "the sweep should see both states"
    following: int | None = None  # the index of the next state change after i
    for i in range(len(states) - 1, -1, -1):
        t = minutes[i]
        expected = None if following is None else minutes[following]
        assert next_change(schedule, t, hi - t) == expected, f"from {t}"
        assert next_change(schedule, t + 30_000, hi - t - 30_000) == expected
        if i > 0 and states[i] != states[i - 1]:
            following = i


# --- hypothesis: random schedules and instants against the model ----------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # DST of 30 minutes
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 / -02:30
    "Australia/Sydney",  # southern hemisphere
]
YEAR_START, YEAR_END = at("2026-01-01T00:00Z"), at("2027-01-01T00:00Z")


def offset_changes(tz: str) -> list[int]:
    """Every instant of 2026 (to the minute) where the zone's UTC offset changes."""
    def offset(t: int) -> timedelta | None:
        return (EPOCH + timedelta(milliseconds=t)).astimezone(zone(tz)).utcoffset()

    found = []
    for day in range(YEAR_START, YEAR_END, DAY):
        if offset(day) != offset(day + DAY):
            lo, hi = day, day + DAY  # bisect by minutes
            while hi - lo > MINUTE:
                mid = lo + (hi - lo) // MINUTE // 2 * MINUTE
                lo, hi = (mid, hi) if offset(mid) == offset(day) else (lo, mid)
            found.append(hi)
    return found


TRANSITIONS = {tz: offset_changes(tz) for tz in ZONES}
DST_ZONES = [tz for tz in ZONES if TRANSITIONS[tz]]

minutes_of_day = st.one_of(
    st.integers(0, 1439),
    st.sampled_from([0, 30, 45, 60, 90, 105, 120, 135, 150, 165, 180, 210, 225, 240]),
)
windows = st.builds(
    Window,
    day=st.integers(0, 6),
    start_min=minutes_of_day,
    end_min=st.one_of(minutes_of_day, st.just(1440)),
)
schedules = st.builds(
    Schedule,
    timezone=st.sampled_from(ZONES),
    windows=st.lists(windows, max_size=5).map(tuple),
)
instants = st.integers(YEAR_START, YEAR_END)


@st.composite
def near_transition(draw: st.DrawFn) -> tuple[Schedule, int]:
    """A schedule whose windows start or end close to the wall time of a DST jump (in
    the gap or the overlap, or near them), and an instant up to two days before it."""
    tz = draw(st.sampled_from(DST_ZONES))
    jump = draw(st.sampled_from(TRANSITIONS[tz]))
    before = (EPOCH + timedelta(milliseconds=jump - MINUTE)).astimezone(zone(tz))
    wall = before.hour * 60 + before.minute + 1  # where the jump begins, in wall time
    near = st.integers(wall - 120, wall + 120).map(lambda m: min(max(m, 0), 1439))
    days = st.sampled_from([before.weekday(), before.weekday(), (before.weekday() + 6) % 7])
    close = st.builds(Window, days, near, st.one_of(near, st.just(1440)))
    found = draw(st.lists(close, min_size=1, max_size=3) | st.lists(windows, max_size=3))
    extra = draw(st.lists(windows, max_size=2))
    t = jump + draw(st.integers(-2 * 1440, 180)) * MINUTE + draw(st.sampled_from(ENDS_OF_MS))
    return Schedule(tz, tuple(found + extra)), t


ENDS_OF_MS = [0, 0, 1, 30_000, 59_999]
cases = st.one_of(st.tuples(schedules, instants), near_transition())
PROPERTY = settings(max_examples=150, deadline=None)
SCAN_MS = 3 * DAY


@PROPERTY
@given(cases, st.lists(st.integers(-3 * 1440, 3 * 1440), max_size=20))
def test_resting_at_agrees_with_model(case: tuple[Schedule, int], steps: list[int]) -> None:
    schedule, t = case
    for step in [0, *steps]:
        assert resting_at(schedule, t + step * MINUTE) == brute_rests(schedule, t + step * MINUTE)


@pytest.mark.slow
@PROPERTY
@given(cases)
def test_next_change_agrees_with_minute_scan(case: tuple[Schedule, int]) -> None:
    schedule, t = case
    expected = brute_next(schedule, t, SCAN_MS)
    assert next_change(schedule, t, SCAN_MS) == expected
    default = next_change(schedule, t)
    if expected is not None:
        assert default == expected
    else:
        assert default is None or default > t + SCAN_MS


@PROPERTY
@given(schedules, st.booleans())
def test_wire_round_trip(schedule: Schedule, enabled: bool) -> None:
    schedule = Schedule(schedule.timezone, schedule.windows, enabled)
    wire = schedule.to_wire()
    assert Schedule.from_wire(wire) == schedule
    assert Schedule.from_wire(wire).to_wire() == wire


wire_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 3000) | st.text(max_size=8)
    | st.sampled_from(["HH:MM", "00:00", "24:00", "23:59", "Europe/Berlin", "day", "start"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["day", "start", "end", "x"]) | st.text(max_size=3),
                      inner, max_size=4),
    max_leaves=12,
)
wire_schedules = st.fixed_dictionaries(
    {"timezone": st.sampled_from(ZONES) | st.text(max_size=12), "windows": wire_values},
    optional={"enabled": wire_values, "extra": wire_values},
)


@PROPERTY
@given(st.one_of(wire_values, wire_schedules))
def test_from_wire_garbage_only_raises_value_error(data: object) -> None:
    try:
        schedule = Schedule.from_wire(data)  # type: ignore[arg-type]
    except ValueError:
        return
    assert Schedule.from_wire(schedule.to_wire()) == schedule


# --- the wire form: tables ------------------------------------------------------------


def test_to_wire_shape() -> None:
    schedule = Schedule("Asia/Kolkata", (Window(0, 1320, 480), Window(5, 0, 1440)), False)
    assert schedule.to_wire() == {
        "timezone": "Asia/Kolkata",
        "enabled": False,
        "windows": [
            {"day": 0, "start": "22:00", "end": "08:00"},
            {"day": 5, "start": "00:00", "end": "24:00"},
        ],
    }


def test_from_wire_enabled_defaults_to_true() -> None:
    schedule = Schedule.from_wire({"timezone": "UTC", "windows": []})
    assert schedule == Schedule("UTC", (), True)


def good(**changes: object) -> dict[str, object]:
    wire: dict[str, object] = {
        "timezone": "Europe/Berlin",
        "enabled": True,
        "windows": [{"day": 0, "start": "22:00", "end": "08:00"}],
    }
    wire.update(changes)
    return wire


def window(**changes: object) -> dict[str, object]:
    return good(windows=[{"day": 0, "start": "22:00", "end": "08:00", **changes}])


# (wire data, a piece of the error message)
REFUSALS = [
    ([], "must be a map"),
    ("Europe/Berlin", "must be a map"),
    ({"windows": []}, "missing field.*timezone"),
    ({"timezone": "UTC"}, "missing field.*windows"),
    (good(extra=1), "unknown field.*'extra'"),
    ({**good(), 1: 2}, "unknown field"),
    (good(timezone="Mars/Olympus_Mons"), "unknown timezone 'Mars/Olympus_Mons'"),
    (good(timezone="Europe"), "unknown timezone 'Europe'"),
    (good(timezone="localtime"), "unknown timezone 'localtime'"),
    (good(timezone="../etc/passwd"), "unknown timezone"),
    (good(timezone="/etc/localtime"), "unknown timezone"),
    (good(timezone=""), "unknown timezone"),
    (good(timezone="Europe/Berlin\x00"), "unknown timezone"),
    (good(timezone="A" * 65), "unknown timezone"),
    (good(timezone=1), "timezone must be a string"),
    (good(timezone=None), "timezone must be a string"),
    (good(enabled="yes"), "enabled must be a boolean"),
    (good(enabled=1), "enabled must be a boolean"),
    (good(windows={"day": 0}), "windows must be an array"),
    (good(windows="mon 22:00-08:00"), "windows must be an array"),
    (good(windows=[[0, "22:00", "08:00"]]), r"windows\[0\]: .*must be a map"),
    (good(windows=[{"day": 0, "start": "22:00"}]), "missing field.*end"),
    (window(note="x"), "unknown field.*'note'"),
    (window(day=7), "day must be an integer 0"),
    (window(day=-1), "day must be an integer 0"),
    (window(day=True), "day must be an integer 0"),
    (window(day="1"), "day must be an integer 0"),
    (window(day=1.0), "day must be an integer 0"),
    (window(start="24:00"), "start must be 'HH:MM' from 00:00 to 23:59"),
    (window(start="7:00"), "start must be 'HH:MM'"),
    (window(start="07:60"), "start must be 'HH:MM'"),
    (window(start="07:00:00"), "start must be 'HH:MM'"),
    (window(start=" 07:00"), "start must be 'HH:MM'"),
    (window(start="٠٧:٠٠"), "start must be 'HH:MM'"),  # non-ASCII digits
    (window(start=420), "start must be a string"),
    (window(end="24:01"), "end must be 'HH:MM' from 00:00 to 24:00"),
    (window(end="25:00"), "end must be 'HH:MM'"),
    (window(end=None), "end must be a string"),
    (good(windows=[{"day": d % 7, "start": "01:00", "end": "02:00"} for d in range(51)]),
     "at most 50 windows, got 51"),
]


@pytest.mark.parametrize(("data", "message"), REFUSALS)
def test_from_wire_refuses(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.from_wire(data)  # type: ignore[arg-type]


def test_from_wire_accepts_the_limits() -> None:
    many = [{"day": d % 7, "start": "01:00", "end": "02:00"} for d in range(MAX_WINDOWS)]
    assert len(Schedule.from_wire(good(windows=many)).windows) == MAX_WINDOWS
    edge = Schedule.from_wire(window(day=6, start="23:59", end="24:00"))
    assert edge.windows == (Window(6, 1439, 1440),)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((7, 0, 60), "day"),
        ((0, 1440, 60), "start"),
        ((0, -1, 60), "start"),
        ((0, 0, 1441), "end"),
        ((0, 0, -1), "end"),
        ((False, 0, 60), "day"),
        ((0, 1.5, 60), "start"),
    ],
)
def test_window_refuses(args: tuple[object, object, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window(*args)  # type: ignore[arg-type]


def test_schedule_refuses() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        Schedule("Nowhere/Special", ())
    with pytest.raises(ValueError, match="tuple of Window"):
        Schedule("UTC", ((0, 0, 60),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 50"):
        Schedule("UTC", (Window(0, 0, 60),) * 51)
    with pytest.raises(ValueError, match="enabled"):
        Schedule("UTC", (), enabled=None)  # type: ignore[arg-type]
    assert Schedule("UTC", [Window(0, 0, 60)]).windows == (Window(0, 0, 60),)  # type: ignore[arg-type]


# --- parse_windows: tables ------------------------------------------------------------

W = Window
PARSED = [
    ("mon-fri 22:00-08:00, sat 00:00-24:00",
     tuple(W(d, 1320, 480) for d in range(5)) + (W(5, 0, 1440),)),
    ("sun 23:00-01:00", (W(6, 1380, 60),)),
    ("daily 12:30-13:15", tuple(W(d, 750, 795) for d in range(7))),
    ("  Mon - Wed  9:00 - 17:00 ", (W(0, 540, 1020), W(1, 540, 1020), W(2, 540, 1020))),
    ("fri-mon 20:00-07:00", (W(4, 1200, 420), W(5, 1200, 420), W(6, 1200, 420), W(0, 1200, 420))),
    ("saturday 00:00-00:00", (W(5, 0, 0),)),
    ("wed-wed 01:00-02:00", (W(2, 60, 120),)),
    ("", ()),
    ("   ", ()),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_windows(text: str, expected: tuple[Window, ...]) -> None:
    assert parse_windows(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("funday 10:00-11:00", "bad day 'funday'"),
        ("mon 10:00", "bad quiet window"),
        ("mon 10:00-11:00,", "bad quiet window ''"),
        ("mon 10:00-11:00,, tue 10:00-11:00", "bad quiet window ''"),
        ("mon-fri-sat 10:00-11:00", "bad quiet window"),
        ("daily-mon 10:00-11:00", "bad day 'daily'"),
        ("mon 24:00-01:00", "bad time '24:00'"),
        ("mon 10:00-24:30", "bad time '24:30'"),
        ("mon 10:60-11:00", "bad time '10:60'"),
        ("mon 100:00-11:00", "bad quiet window"),
        ("mon tue 10:00-11:00", "bad quiet window"),
        ("22:00-08:00", "bad quiet window"),
        (", ".join(["daily 01:00-02:00"] * 8), "at most 50 windows, got 56"),
    ],
)
def test_parse_windows_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_windows(text)


def test_parse_windows_result_feeds_a_schedule() -> None:
    schedule = Schedule("Europe/Berlin", parse_windows("mon-fri 22:00-08:00"))
    assert Schedule.from_wire(schedule.to_wire()) == schedule


# --- micro-benchmark (run this module; not collected as a test) -----------------------


def benchmark(calls: int = 10_000, seed: int = 5) -> None:
    rng = random.Random(seed)
    pool = [
        Schedule(
            rng.choice(ZONES),
            tuple(
                Window(rng.randrange(7), rng.randrange(1440), rng.randrange(1441))
                for _ in range(rng.randrange(1, 6))
            ),
        )
        for _ in range(200)
    ]
    jobs = [(rng.choice(pool), rng.randrange(YEAR_START, YEAR_END)) for _ in range(calls)]
    for label in ("cold caches", "warm caches"):
        began = time.perf_counter()
        for schedule, t in jobs:
            next_change(schedule, t)
        elapsed = time.perf_counter() - began
        print(f"{calls} next_change calls, {label}: {elapsed * 1e3:.0f} ms "
              f"({elapsed / calls * 1e6:.1f} µs per call)")


if __name__ == "__main__":
    benchmark()
