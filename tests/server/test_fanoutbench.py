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


def test_the_everyday_bench_holds_reactions_for_the_next_write():
    import os

    from corpchat.server.fanoutbench import everyday_hub, everyday_ns

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        plain = everyday_hub(10, 0, devnull)
        at_commit = everyday_hub(10, 0, devnull)
        held = everyday_hub(10, 0.1, devnull)
        assert everyday_ns(plain, 10, 30, "x" * 40, False, False)[1] == 1.0
        assert everyday_ns(at_commit, 10, 30, "x" * 40, True, True)[1] > 1.9
        _, writes = everyday_ns(held, 10, 30, "x" * 40, True, True)
        assert writes < 1.1  # the reactions rode with the next message's write
        assert held.stats.deliveries == 30 * 9
    finally:
        os.close(devnull)
