"""Short real runs of the group scenarios (group, slow, receipts, announce, external).

Tiny sizes, a second or two each, against a server in this trio loop. The
test server runs on a ManualClock, so per-connection request buckets never
refill: the fixture here gives them a large burst instead. The slow test
also shrinks the server's per-session outbound bound so a member that stops
reading is closed within the run. They assert correctness only — nothing
lost, duplicated or reordered, every send answered, every device of every
member checked — never timings (those are in loadtest/RESULTS.md).
"""

from __future__ import annotations

import dataclasses

import pytest
import trio

from corpchat.adminclient import call, socket_path
from corpchat.loadtest import Options, run

from ..conftest import running_server

pytestmark = pytest.mark.slow


@pytest.fixture
async def roomy(nursery, server_config, clock):
    """The test server with a request budget that outlasts a ManualClock, and a small
    outbound bound (128 KiB) so slow consumers are closed within a short run."""
    config = dataclasses.replace(server_config, request_burst=1_000_000,
                                 outbound_buffer_bytes=128 * 1024)
    async with running_server(nursery, config, clock) as srv:
        yield srv


async def run_scenario(server, scenario: str, timeout_s: float = 30, **kw) -> dict:
    base = dict(clients=6, rate=60.0, duration_s=1.0, warmup_s=0.2, drain_s=5.0, seed=11)
    base.update(kw)
    opts = Options(scenario=scenario, url=server.url,
                   admin_socket=socket_path(server.app.config.data_dir), **base)

    async def admin(cmd, args):
        return await trio.to_thread.run_sync(call, opts.admin_socket, cmd, args)

    with trio.fail_after(timeout_s):
        return await run(opts, admin)


def assert_clean(doc: dict) -> None:
    check, counts = doc["check"], doc["counts"]
    assert check["ok"], check
    assert (check["lost"], check["duplicated"], check["reordered"]) == (0, 0, 0)
    assert check["unacked_delivered"] == check["misrouted"] == 0
    assert counts["unacked_at_end"] == 0
    assert counts["connect_failures"] == 0
    assert counts["refused"] == {}
    assert counts["bad_frames"] == 0
    assert counts["sent"] == counts["acked"] > 0
    assert not [w for w in doc["warnings"] if "drain" in w or "check" in w], doc["warnings"]


async def test_group_every_device_of_every_member_gets_each_message_once(roomy):
    doc = await run_scenario(roomy, "group", groups=2, members=4, two_device_fraction=0.5,
                             rate=80.0)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["groups"] == 2 and figures["members_per_group"] == 4
    assert figures["two_device_members"] == 4 and figures["devices"] == 12
    # each message reaches the group's 6 devices but the sending one: 5 each
    assert doc["counts"]["delivered"] == 5 * doc["counts"]["acked"]
    assert doc["check"]["checked_deliveries"] == doc["counts"]["delivered"]
    main = figures["phases"]["main"]
    assert main["server"]["deliveries"] > 0 and main["server"]["cpu_us_per_delivery"] > 0
    # one end-to-end sample per delivery inside the window (a count, not a time)
    delivered_in_window = round(main["delivered_per_s"] * doc["window_s"])
    assert main["latency_ms"]["e2e"]["count"] == delivered_in_window > 0


async def test_group_split_over_two_worker_processes(roomy):
    doc = await run_scenario(roomy, "group", groups=2, members=3, workers=2, rate=40.0,
                             duration_s=0.6)
    assert_clean(doc)
    assert doc["generator"]["workers"] == 2
    assert doc["counts"]["delivered"] == 2 * doc["counts"]["acked"]


async def test_slow_members_are_closed_and_the_others_get_everything(roomy):
    doc = await run_scenario(roomy, "slow", members=6, slow=2, size=4000, rate=120.0,
                             duration_s=1.5)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["slow_members"] == 2
    assert figures["slow_closed"] == 2
    assert figures["all_slow_closed_after_s"] is not None
    assert figures["p99_ratio"] is not None
    for name in ("baseline", "slow"):
        assert figures["phases"][name]["drained"]
    # the 4 readers: the 2 slow ones are not checked (they stopped reading on purpose)
    checked = doc["check"]["checked_deliveries"]
    assert checked == 3 * doc["counts"]["acked"]


async def test_receipts_every_member_reads_every_message_recorded_once(roomy):
    doc = await run_scenario(roomy, "receipts", members=5, rate=40.0)
    assert_clean(doc)
    figures = doc["figures"]
    receipt_check = figures["receipt_check"]
    assert receipt_check["ok"], receipt_check
    assert receipt_check["messages"] > 0
    assert receipt_check["readers_recorded"] == 4 * receipt_check["messages"]
    assert receipt_check["duplicate_readers"] == 0
    assert 0 < figures["receipt_frames_per_message"] <= 4
    assert figures["reads_per_s"] > 0 and figures["cpu_us_per_read"] > 0
    # one read per message: every read frame covers exactly one message
    assert receipt_check["messages_read"] == receipt_check["reads_sent"] \
        == receipt_check["readers_expected"]


async def test_receipts_with_coalesced_cursors_still_record_every_reader_once(roomy):
    # 5 members at 100 msgs/s: a message every 10 ms, a cursor per member every 100 ms,
    # so one `read` covers several messages and every one of them is still recorded.
    doc = await run_scenario(roomy, "receipts", members=5, rate=100.0, read_every_ms=100.0)
    assert_clean(doc)
    figures = doc["figures"]
    receipt_check = figures["receipt_check"]
    assert receipt_check["ok"], receipt_check
    assert receipt_check["readers_recorded"] == receipt_check["readers_expected"] \
        == receipt_check["messages_read"] == 4 * receipt_check["messages"] > 0
    assert receipt_check["reads_sent"] < receipt_check["messages_read"]
    assert figures["read_every_ms"] == 100.0
    assert figures["read_frames_per_s"] < figures["reads_per_s"]


async def test_announce_reaches_every_member(roomy):
    doc = await run_scenario(roomy, "announce", members=12, rate=20.0)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["rounds"] > 0
    assert figures["time_to_all_ms"]["count"] == figures["rounds"]
    assert doc["counts"]["delivered"] == 11 * doc["counts"]["acked"]
    assert doc["check"]["checked_deliveries"] == doc["counts"]["delivered"]


async def test_external_groups_with_consumers_against_internal_ones(roomy):
    doc = await run_scenario(roomy, "external", groups=1, employees=2, consumers=3,
                             rate=40.0)
    assert_clean(doc)
    figures = doc["figures"]
    phases = figures["phases"]
    for name in ("internal", "external"):
        assert phases[name]["server"]["deliveries"] > 0
        assert phases[name]["drained"]
    assert figures["cpu_ratio"] is not None
    assert doc["counts"]["delivered"] == 4 * doc["counts"]["acked"]
    assert doc["check"]["checked_deliveries"] == doc["counts"]["delivered"]
