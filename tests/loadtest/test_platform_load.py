"""The robots' load generator (loadtest/platform.py) against a real server: posts on
kept-alive connections, each answered and counted; the old one-connection-per-post
mode still works."""

from __future__ import annotations

import pytest

from corpchat.loadtest.platform import robot_load

from ..server.test_api_robots import _add
from ..server.test_groups import make_group, people


@pytest.mark.parametrize("connections", [0, 3])
async def test_robot_posts_are_all_answered(server, nursery, connections):
    c = await people(server, nursery, "ann", "bob")
    conv = await make_group(c["ann"], "bob")
    keys = [(await _add(c["ann"], conv, f"r{i}")).url.rsplit("/", 1)[1] for i in range(2)]
    url = f"http://127.0.0.1:{server.app.port}"
    counts = await robot_load(url, keys, 200.0, 0.2, connections)
    posted = counts["200"] + counts["429"] + counts["other"]
    assert counts["other"] == 0 and counts["429"] == max(0, posted - 40)
    assert counts["connections"] == (connections or posted)
