"""The open platform's scenarios against a real server: `robots` (with a real clock:
robots added over the WebSocket, posts over HTTP on kept-alive connections, every
200 seen by every member, every 429 checked against the 20-a-minute / 10-minute
rule) and `appmessage` (one app message to a department, every device has it once)."""

from __future__ import annotations

import pytest

from ..conftest import running_server
from .test_scenarios_more import run_scenario

pytestmark = pytest.mark.slow


@pytest.fixture
async def real_clock_server(nursery, server_config):
    """The throttle's Retry-After counts down on the server's clock: a real one here."""
    async with running_server(nursery, server_config) as srv:
        yield srv


async def run_robots(server, timeout_s: float = 40, scenario: str = "robots", **kw) -> dict:
    base = dict(clients=6, robots=3, rate=150.0, duration_s=1.2, warmup_s=0.3,
                drain_s=10.0, seed=3)
    return await run_scenario(server, scenario, timeout_s, **{**base, **kw})


async def test_robots_get_20_posts_then_429s_with_a_countdown(real_clock_server):
    doc = await run_robots(real_clock_server)
    check, robots = doc["check"], doc["figures"]["robots"]
    assert check["ok"], check
    assert check["violations"] == 0
    assert robots["robots"] == 3 and robots["groups"] == 1
    # 1.5 s at 150/s round 3 robots: ~75 posts each, so each is throttled after 20
    assert robots["answers"]["200"] == 60 == doc["counts"]["acked"]
    assert robots["answers"]["429"] == robots["posts"] - 60 > 0
    assert robots["answered_200_per_robot"] == [20, 20]
    assert robots["rule"]["robots_throttled"] == 3
    assert robots["rule"]["retry_after_max_s"] == 600
    assert robots["rule"]["retry_after_min_s"] >= 598
    # every 200 reached every member's device (6 members, none of them the sender)
    assert check["checked_deliveries"] == 60 * 6
    assert doc["counts"]["refused"] == {}
    assert robots["connections"] == 3  # one kept-alive connection per robot


async def test_a_throttle_that_never_counts_down_is_a_violation(server):
    """The test server's ManualClock stands still, so its Retry-After says 600 s for as
    long as the run lasts: the throttle's end moves with the wall clock, and the
    scenario says so."""
    doc = await run_robots(server, robots=1, rate=60.0, duration_s=3.0, warmup_s=0.2)
    check = doc["check"]
    assert not check["ok"]
    assert check["violations"] > 0
    assert any("moves the throttle's end" in e for e in check["examples"]), check
    assert check["lost"] == check["duplicated"] == 0


async def test_an_app_message_reaches_every_employee_once(server):
    doc = await run_robots(server, scenario="appmessage", clients=8, rounds=2,
                           duration_s=0.4, warmup_s=0.1, drain_s=10.0)
    check, figures = doc["check"], doc["figures"]["appmessage"]
    assert check["ok"], check
    assert figures["recipients"] == 8
    assert [r["status"] for r in figures["rounds"]] == [200, 200]
    assert [r["delivered"] for r in figures["rounds"]] == [8, 8]
    assert [r["devices"] for r in figures["rounds"]] == [8, 8]
    assert [r["missing"] for r in figures["rounds"]] == [0, 0]
    assert figures["time_to_all_ms_max"] is not None
    assert doc["warnings"] == []
