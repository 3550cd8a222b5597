"""make test's short version of `make chaos`'s cluster run (tests/reliability/
cluster_chaos.py): four kill -9s, alternately of the node and of one nats-server,
under load; nothing acked lost, duplicated or reordered, in the store or the log."""

from __future__ import annotations

import pytest

from ..reliability.cluster_chaos import run


@pytest.mark.slow
async def test_four_faults_lose_nothing(tmp_path):
    report, _ = await run(faults=4, seconds=20, seed=7, senders=2, readers=1, rate=10,
                          workdir=str(tmp_path))
    assert report.kills == 4
    assert report.tally.acked > 0
    assert report.ok, (report.summary(), report.tally.notes, report.server_errors)
