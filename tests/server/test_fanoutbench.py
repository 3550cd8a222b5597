"""The fan-out micro-benchmark runs the server's real fan-out step (no timings asserted)."""

from __future__ import annotations

from corpchat.server.fanoutbench import hub_for, per_delivery_ns


def test_fanout_bench_delivers_to_every_member_and_counts_the_resting():
    hub = hub_for(members=10, resting=4)
    assert per_delivery_ns(hub, 10, 50, "x" * 40) > 0
    assert hub.stats.messages == 50 and hub.stats.deliveries == 50 * 9
    assert hub.quiet._held[9].messages == 50  # each resting receiver counted every message


def test_fanout_bench_without_resting_members_counts_nothing():
    hub = hub_for(members=10, resting=0)
    per_delivery_ns(hub, 10, 20, "x" * 40)
    assert hub.stats.deliveries == 20 * 9 and not hub.quiet._held
