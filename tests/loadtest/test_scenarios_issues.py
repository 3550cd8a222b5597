"""Short real runs of the issue 5 and issue 7 scenarios (resting, group with resting
members, schedules, broadcast).

Tiny sizes, a second or so each, against a server in this trio loop, as in
test_scenarios_more.py. They assert correctness only — nothing lost,
duplicated or reordered, `silent` exactly on resting members' deliveries,
every transition counted, every online customer reached once — never
timings (those are in loadtest/RESULTS.md).
"""

from __future__ import annotations

import dataclasses

import pytest
import trio

from corpchat.store import settings

from ..conftest import running_server
from .test_scenarios_more import assert_clean
from .test_scenarios_more import run_scenario as run_more

pytestmark = pytest.mark.slow


@pytest.fixture
async def roomy(nursery, server_config, clock):
    """The test server with a request budget that outlasts a ManualClock."""
    config = dataclasses.replace(server_config, request_burst=1_000_000)
    async with running_server(nursery, config, clock) as srv:
        yield srv


async def run_scenario(server, scenario: str, **kw) -> dict:
    """Shorter windows than test_scenarios_more's, a longer limit for the set-up."""
    return await run_more(server, scenario, timeout_s=40, **{"duration_s": 0.6, **kw})


async def test_group_with_resting_members_gets_silent_deliveries(roomy):
    doc = await run_scenario(roomy, "group", groups=1, members=6, resting_fraction=0.5)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["resting_members"] == 3
    assert figures["silent_mismatch"] == 0
    # every delivery to the 3 resting members is silent: 3 of the 5 receivers of each
    # message sent by an awake member, 2 of 5 of each sent by a resting one
    assert 0 < figures["silent_msgs"] < doc["counts"]["delivered"]


async def test_resting_alternates_and_silent_follows(roomy):
    doc = await run_scenario(roomy, "resting", groups=1, members=4, rounds=2, duration_s=0.4)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["resting_members"] == 2
    assert figures["silent_mismatch"] == 0
    assert figures["silent_msgs_awake"] == 0 and figures["silent_msgs_resting"] > 0
    assert len(figures["round_ratios"]) == 2 and figures["cpu_ratio"] is not None
    assert set(figures["phases"]) == {"awake1", "resting1", "awake2", "resting2"}


async def test_schedules_counts_every_transition(roomy, clock):
    async def tick() -> None:
        """Once the corp's schedule is set, the server's clock runs 200× fast."""
        while not roomy.app.store.read(settings.all_corp_schedules):
            await trio.sleep(0.02)
        while True:
            await trio.sleep(0.05)
            clock.advance(10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        doc = await run_scenario(roomy, "schedules", clients=20, duration_s=0.3, drain_s=2.0)
        nursery.cancel_scope.cancel()
    figures = doc["figures"]
    assert doc["check"]["ok"]
    assert figures["users"] == 20 and figures["connect_failures"] == 0
    assert figures["transitions"] == figures["transitions_expected"] == 40
    assert figures["idle_plain_cpu_fraction"] >= 0


async def test_broadcast_reaches_every_online_customer_once(roomy):
    doc = await run_scenario(roomy, "broadcast", members=4, consumers=7, rate=40.0,
                             duration_s=1.5)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["sent"] == 7 and figures["skipped"] == 0
    assert figures["online"] == 3 and figures["online_received"] == 3
    assert figures["online_missing"] == 0 and figures["online_duplicates"] == 0
    assert 0 < figures["done_after_s"] and 0 < figures["last_online_after_s"]
    assert figures["p99_ratio"] is not None
    assert doc["counts"]["delivered"] == 3 * doc["counts"]["acked"]
