"""A node's commits go to the log before their acks (docs/cluster.md §3): one
corpchat node in this process on the 3-server JetStream cluster."""

from __future__ import annotations

import dataclasses

import pytest
import trio

from corpchat.cluster import ClusterSettings
from corpchat.protocol import Ack

from ..client import TestClient
from ..conftest import running_server
from .engine import Engine
from .natscluster import start_cluster


def cluster_config(server_config, urls: list[str], node: str = "a"):
    return dataclasses.replace(server_config, cluster=ClusterSettings(
        urls=tuple(urls), node=node, lease_ttl_s=2.0, log_max_bytes=64 * 1024 * 1024))


async def ready(server, timeout: float = 60) -> None:
    """Until the node holds its leases (a fresh cluster elects its leaders first)."""
    with trio.fail_after(timeout):
        while not server.app.cluster.ready:
            await trio.sleep(0.1)


async def pair(server, nursery) -> tuple[TestClient, TestClient]:
    alice = await TestClient(nursery, server.url, await server.user("alice")).connect()
    bob = await TestClient(nursery, server.url, await server.user("bob")).connect()
    return alice, bob


async def acked(client: TestClient, n: int, timeout: float = 60) -> list[Ack]:
    return [await client.expect(Ack, timeout=timeout) for _ in range(n)]


@pytest.fixture
async def node(nursery, server_config, nats_cluster):
    async with Engine(nats_cluster.urls) as engine:
        await engine.reset()  # each test's node starts a new cluster: conv 1 is new
    async with running_server(nursery, cluster_config(server_config, nats_cluster.urls)) as srv:
        await ready(srv)
        yield srv


async def test_every_acked_message_is_in_the_log_in_order(node, nursery, nats_cluster):
    alice, bob = await pair(node, nursery)
    for i in range(30):
        await alice.send(f"m{i}", to="bob")
    acks = await acked(alice, 30)
    conv = acks[0].conv
    async with Engine(nats_cluster.urls) as engine:
        logged = await engine.messages(conv)
    assert [m.seq for m in logged] == list(range(1, 31))  # total order, no gap
    assert [m.text for m in logged] == [f"m{i}" for i in range(30)]
    assert {(a.seq, a.client_msg_id) for a in acks} == {(m.seq, m.client_msg_id) for m in logged}


async def test_a_retry_is_logged_once(node, nursery, nats_cluster):
    alice, bob = await pair(node, nursery)
    await alice.send("once", to="bob", client_msg_id="cm-1")
    first = await alice.expect(Ack)
    await alice.send("once", to="bob", client_msg_id="cm-1")
    again = await alice.expect(Ack)
    assert again.duplicate and again.seq == first.seq
    async with Engine(nats_cluster.urls) as engine:
        assert [m.client_msg_id for m in await engine.messages(first.conv)] == ["cm-1"]


async def test_group_messages_are_logged_too(node, nursery, nats_cluster):
    alice, bob = await pair(node, nursery)
    await alice.send("hi", to="bob")
    ack = await alice.expect(Ack)
    async with Engine(nats_cluster.urls) as engine:
        assert len(await engine.messages(ack.conv)) == 1


async def test_kill_9_of_one_nats_server_loses_no_acked_message(nursery, server_config,
                                                               tmp_path):
    nats = start_cluster(tmp_path / "own-nats")  # this test kills one of them
    try:
        config = cluster_config(server_config, nats.urls)
        async with running_server(nursery, config) as server:
            await ready(server)
            alice, bob = await pair(server, nursery)
            for i in range(10):
                await alice.send(f"before {i}", to="bob")
            acks = await acked(alice, 10)
            await trio.to_thread.run_sync(nats.servers[0].kill)
            for i in range(20):
                await alice.send(f"after {i}", to="bob")
            acks += await acked(alice, 20, timeout=90)  # re-sent by the client if refused
            conv = acks[0].conv
            async with Engine(nats.urls[1:]) as engine:
                logged = await engine.messages(conv)
            seqs = [m.seq for m in logged]
            assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate
            assert {a.seq for a in acks} <= set(seqs)  # nothing acked is lost
    finally:
        nats.stop()


async def test_a_committed_but_unlogged_tail_is_logged_before_the_next_batch(
        nursery, server_config, nats_cluster):
    """A home killed between its LMDB commit and the PubAck: at its next start the
    messages only its LMDB has go to the log first, so the log has no gap."""
    async with Engine(nats_cluster.urls) as engine:
        await engine.reset()
    async with running_server(nursery, server_config) as alone:  # commits, logs nothing
        alice, bob = await pair(alone, nursery)
        await alice.send("unlogged 1", to="bob")
        await alice.send("unlogged 2", to="bob")
        first = (await acked(alice, 2))[0]
        await alice.close()
        await bob.close()
    async with running_server(nursery, cluster_config(server_config, nats_cluster.urls)) as node:
        await ready(node)
        token = (await node.admin("token.issue", user="alice"))["token"]
        alice = await TestClient(nursery, node.url, token).connect()
        await alice.send("logged 3", to="bob")
        third = await alice.expect(Ack)
        assert third.seq == 3
        async with Engine(nats_cluster.urls) as engine:
            logged = await engine.messages(first.conv)
    assert [(m.seq, m.text) for m in logged] == [
        (1, "unlogged 1"), (2, "unlogged 2"), (3, "logged 3")]


async def test_a_node_whose_copy_is_behind_the_log_cannot_write(nursery, server_config,
                                                                nats_cluster, tmp_path):
    """Two nodes holding conversation 1 (the second's view stale, as a former home's
    after failover): the log is at seq 3, so the second's seq 1 is refused and its
    client told storage_unavailable, and the log keeps one history."""
    from corpchat.protocol import Error

    async with Engine(nats_cluster.urls) as engine:
        await engine.reset()
    async with running_server(nursery, cluster_config(server_config, nats_cluster.urls)) as a:
        await ready(a)
        alice, bob = await pair(a, nursery)
        for i in range(3):
            await alice.send(f"a{i}", to="bob")
        conv = (await acked(alice, 3))[0].conv
    other = dataclasses.replace(server_config, data_dir=str(tmp_path / "b"))
    async with running_server(nursery, cluster_config(other, nats_cluster.urls, "b")) as b:
        await ready(b)
        alice, bob = await pair(b, nursery)  # a copy of the same conversation, empty
        await alice.send("from a stale copy", to="bob")
        error = await alice.expect(Error)
        assert error.code == "storage_unavailable"
        assert not alice.taken(Ack)
        status = await b.admin("cluster.status")
        assert status["log"]["stale_conversations"] == 1
    async with Engine(nats_cluster.urls) as engine:
        assert [m.text for m in await engine.messages(conv)] == ["a0", "a1", "a2"]
