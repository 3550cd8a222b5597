"""The robots' rule checker (loadtest/robotrule.py) against the server's own quota
(server/api/robots.py RobotQuota on a ManualClock): answers it gives pass, for any
schedule of posts and any decision instant between a post's send and its answer;
answers that break the rule in each way it can be broken are caught."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given
from hypothesis import strategies as st

from corpchat.loadtest.robotrule import Post, check_rule
from corpchat.protocol.clock import ManualClock
from corpchat.server.api.robots import RobotQuota

PER_MIN, THROTTLE_S = 20, 600


def answered_by_the_server(schedule: list[tuple[int, float, float, float]],
                           per_min: int = PER_MIN, throttle_s: int = THROTTLE_S) -> list[Post]:
    """schedule: (robot, sent, latency, where in [sent, answered] the server decides,
    0..1). The quota sees the posts in the order it decides them."""
    clock = ManualClock()
    quota = RobotQuota(clock, per_min, throttle_s)
    timed = sorted(((sent + latency * at, robot, sent, sent + latency)
                    for robot, sent, latency, at in schedule))
    posts = []
    for decided, robot, sent, answered in timed:
        clock.advance(decided - clock.monotonic())
        wait = quota.take(robot)
        posts.append(Post(robot, sent, answered, 200 if wait is None else 429,
                          None if wait is None else str(max(1, math.ceil(round(wait, 6))))))
    return posts


def steady(robots: int = 2, rate_per_robot: float = 10.0, seconds: float = 5.0,
           latency: float = 0.01, start: float = 1000.0) -> list[tuple[int, float, float, float]]:
    n = int(rate_per_robot * seconds)
    return [(r, start + i / rate_per_robot + r * 0.001, latency, 0.5)
            for r in range(robots) for i in range(n)]



@st.composite
def schedules(draw) -> list[tuple[int, float, float, float]]:
    """Bursts of posts (a robot, a start, a count, a gap between posts), so that robots
    go over their 20 a minute, sit out throttles and come back; each post with its own
    latency and decision instant."""
    out = []
    for robot, start, count, gap in draw(st.lists(st.tuples(
            st.integers(0, 2), st.floats(0, 1300), st.integers(1, 40), st.floats(0, 4)),
            max_size=12)):
        for i in range(count):
            out.append((robot, start + i * gap, draw(st.floats(0, 0.2)), draw(st.floats(0, 1))))
    return out


@given(schedules())
def test_whatever_the_server_answers_passes(schedule):
    verdict = check_rule(answered_by_the_server(schedule), PER_MIN, THROTTLE_S)
    assert verdict.ok, verdict.examples
    assert verdict.posts == verdict.ok_200 + verdict.limited_429 == len(schedule)


def test_a_steady_robot_gets_20_then_a_throttle_counting_down():
    posts = answered_by_the_server(steady(seconds=8))
    verdict = check_rule(posts, PER_MIN, THROTTLE_S)
    assert verdict.ok, verdict.examples
    assert (verdict.ok_200, verdict.limited_429) == (40, 120)
    assert (verdict.throttles, verdict.robots_throttled) == (2, 2)
    # throttled at the 21st post (2.0 s), the last post 5.9 s into the throttle
    assert (verdict.retry_after_min, verdict.retry_after_max) == (595, 600)


def test_posts_after_the_throttle_start_a_new_minute():
    schedule = steady(robots=1, seconds=5) + steady(robots=1, seconds=5, start=1603.0)
    verdict = check_rule(answered_by_the_server(schedule), PER_MIN, THROTTLE_S)
    assert verdict.ok, verdict.examples
    assert (verdict.ok_200, verdict.throttles) == (40, 2)


def _broken(posts: list[Post], change) -> list[str]:
    verdict = check_rule([change(p) for p in posts], PER_MIN, THROTTLE_S)
    assert not verdict.ok
    return verdict.examples


def test_a_countdown_that_stands_still_moves_the_end():
    posts = answered_by_the_server(steady(seconds=5))
    examples = _broken(posts, lambda p: dataclasses.replace(p, retry_after="600")
                       if p.status == 429 else p)
    assert any("moves the throttle's end" in e for e in examples), examples


def test_a_200_during_the_throttle_is_caught():
    posts = answered_by_the_server(steady(robots=1, seconds=5))
    late = posts[-1]
    examples = _broken(posts, lambda p: dataclasses.replace(p, status=200, retry_after=None)
                       if p is late else p)
    assert any("during its throttle" in e for e in examples), examples


def test_a_429_without_retry_after_or_out_of_range_is_caught():
    posts = answered_by_the_server(steady(robots=1, seconds=3))
    for value in (None, "soon", "0", "601", "-1"):
        examples = _broken(posts, lambda p, v=value: dataclasses.replace(p, retry_after=v)
                           if p.status == 429 else p)
        assert any("a 429 with Retry-After" in e for e in examples), (value, examples)


def test_a_throttle_too_early_or_too_late_is_caught():
    # the server throttles after 10, or after 30: checked against the rule of 20
    for per_min, expected in ((10, "after 10 posts answered 200"),
                              (30, "21 posts answered 200 within")):
        posts = answered_by_the_server(steady(robots=1, seconds=6), per_min=per_min)
        examples = _broken(posts, lambda p: p)
        assert any(expected in e for e in examples), (per_min, examples)


def test_a_shorter_throttle_is_caught():
    posts = answered_by_the_server(steady(robots=1, seconds=3), throttle_s=300)
    examples = _broken(posts, lambda p: p)
    assert any("began with Retry-After 300" in e for e in examples), examples


def test_other_answers_are_violations():
    posts = answered_by_the_server(steady(robots=1, seconds=1))
    examples = _broken(posts, lambda p: dataclasses.replace(p, status=503)
                       if p is posts[0] else p)
    assert any("answered 503" in e for e in examples), examples
