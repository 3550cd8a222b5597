"""Short real runs of every scenario against the test server, in this trio loop.

Small sizes, about a second each. They assert correctness only (nothing
lost, duplicated or reordered; every send answered), never timings:
benchmarks live in loadtest/RESULTS.md.
"""

from __future__ import annotations

import json

import pytest
import trio

from corpchat.adminclient import call, socket_path
from corpchat.loadtest import Options, run
from corpchat.loadtest.report import SCHEMA_VERSION, compare, table


def options(server, scenario: str, **kw) -> Options:
    path = socket_path(server.app.config.data_dir)
    base = dict(clients=10, rate=100.0, duration_s=1.0, warmup_s=0.2, drain_s=5.0, seed=7)
    base.update(kw)
    return Options(scenario=scenario, url=server.url, admin_socket=path, **base)


async def run_in_process(server, scenario: str, **kw) -> dict:
    opts = options(server, scenario, **kw)

    async def admin(cmd, args):
        return await trio.to_thread.run_sync(call, opts.admin_socket, cmd, args)

    with trio.fail_after(20):
        return await run(opts, admin)


def assert_clean(doc: dict) -> None:
    check = doc["check"]
    assert check["ok"], check
    assert (check["lost"], check["duplicated"], check["reordered"]) == (0, 0, 0)
    assert doc["counts"]["unacked_at_end"] == 0
    assert doc["counts"]["connect_failures"] == 0
    assert doc["counts"]["refused"] == {}


@pytest.mark.slow
async def test_direct_delivers_every_acked_message_once_in_order(server):
    doc = await run_in_process(server, "direct")
    assert_clean(doc)
    counts = doc["counts"]
    assert counts["sent"] == counts["acked"] == counts["delivered"] > 0
    assert doc["check"]["checked_deliveries"] == counts["delivered"]
    # one ack-latency sample per message acked inside the window (a count, not a time)
    acked_in_window = round(doc["rates"]["acked_per_s"] * doc["window_s"])
    assert doc["latency_ms"]["ack"]["count"] == acked_in_window > 0
    assert doc["server"]["messages"] > 0
    assert doc["run_id"].startswith("lt-")


@pytest.mark.slow
async def test_idle_connects_everyone_and_reports_memory(server):
    doc = await run_in_process(server, "idle", clients=12, connect_concurrency=5)
    assert_clean(doc)
    figures = doc["figures"]
    assert figures["connections"] == 12
    assert figures["server_connections"] >= 12
    assert figures["connect_hello_per_s"] > 0
    assert "rss_per_connection_bytes" in figures


@pytest.mark.slow
async def test_reconnect_storm_loses_and_repeats_nothing(server):
    doc = await run_in_process(server, "reconnect", duration_s=1.0, rate=150.0)
    assert_clean(doc)
    assert doc["latency_ms"]["resume"]["count"] == 10
    assert doc["counts"]["acked"] == doc["counts"]["sent"]


@pytest.mark.slow
async def test_the_report_is_stable_json_with_a_table_and_a_comparison(server, tmp_path):
    doc = await run_in_process(server, "direct", clients=4, duration_s=0.5, warmup_s=0.1)
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    for key in ("tool", "scenario", "run_id", "started_at", "machine", "options", "window_s",
                "counts", "rates", "latency_ms", "check", "server", "generator", "figures",
                "warnings"):
        assert key in doc
    for kind in ("ack", "e2e", "resume"):
        assert set(doc["latency_ms"][kind]) == {"count", "p50", "p90", "p99", "p999", "max",
                                                 "mean"}
    assert "admin_socket" not in doc["options"]
    again = json.loads(json.dumps(doc))
    assert again == doc
    assert "check" in table(doc)
    assert "+0.00" in compare(doc, doc)


@pytest.mark.slow
async def test_two_worker_processes_merge_into_one_clean_report(server):
    doc = await run_in_process(server, "direct", clients=8, workers=2, duration_s=0.5,
                               warmup_s=0.1)
    assert_clean(doc)
    assert doc["generator"]["workers"] == 2
    assert len(doc["generator"]["cpu_fraction"]) == 2
    assert doc["counts"]["acked"] == doc["counts"]["delivered"] == doc["counts"]["sent"] > 0


@pytest.mark.slow
async def test_progress_reaches_the_coordinator_from_worker_processes(server, capsys):
    doc = await run_in_process(server, "direct", clients=4, workers=2, duration_s=1.2,
                               warmup_s=0.2, progress=True)
    assert_clean(doc)
    lines = [line for line in capsys.readouterr().err.splitlines() if "acked" in line]
    assert lines, "no progress line"
    assert "ack p99" in lines[0] and "generator CPU" in lines[0]
