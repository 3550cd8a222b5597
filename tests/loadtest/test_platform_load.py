"""The robots' load generator (loadtest/platform.py) against a real server: posts on
kept-alive connections, each answered and counted; the old one-connection-per-post
mode still works; a kept connection the server closed while idle sends again."""

from __future__ import annotations

import dataclasses
import json

import pytest
import trio

from corpchat.loadtest.httpclient import KeptConnection
from corpchat.loadtest.platform import robot_load

from ..conftest import running_server
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


@pytest.fixture
def short_keepalive(server_config):
    platform = dataclasses.replace(server_config.platform, keepalive_requests=3,
                                   keepalive_idle_s=0.3)
    return dataclasses.replace(server_config, platform=platform)


async def test_a_kept_connection_closed_while_idle_sends_again(nursery, short_keepalive,
                                                                clock):
    async with running_server(nursery, short_keepalive, clock) as server:
        c = await people(server, nursery, "ann", "bob")
        conv = await make_group(c["ann"], "bob")
        key = (await _add(c["ann"], conv, "r")).url.rsplit("/", 1)[1]
        conn = KeptConnection("127.0.0.1", server.app.port)
        body = b'{"text": "hello"}'
        assert (await conn.post(f"/hooks/robot/{key}", body)).status == 200
        assert conn.stream is not None
        with trio.fail_after(10):  # until the server has closed it (idle 0.3 s)
            await trio.lowlevel.wait_readable(conn.stream.socket)
        answer = await conn.post(f"/hooks/robot/{key}", body)
        assert (answer.status, conn.retried, conn.opened) == (200, 1, 2)
        assert json.loads(answer.body)["conv"] == conv
        for _ in range(3):  # the server's bound of 3 requests: it says close, no retry
            assert (await conn.post(f"/hooks/robot/{key}", body)).status == 200
        assert (conn.retried, conn.opened) == (1, 3)
        await conn.aclose()
