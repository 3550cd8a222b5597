"""Clients on different nodes chat (docs/cluster.md §4-§5): two corpchat nodes in
this process on the 3-server JetStream cluster, a client on each; sends are
forwarded to the conversation's home, every node applies the log to its own
LMDB and fans out to its own sessions."""

from __future__ import annotations

import dataclasses

import pytest
import trio

from corpchat.protocol import Ack, Error, History, HistoryPage, Msg, Send, Sync, SyncPage

from ..client import RawWs, TestClient, WireClient, send_frame
from ..conftest import running_server
from .engine import Engine
from .test_home_log import acked, cluster_config


async def both_ready(servers, timeout: float = 90) -> None:
    """Until every node holds its leases with every node live (a hand-over first)."""
    names = {s.app.cluster.name for s in servers}
    with trio.fail_after(timeout):
        while not all(s.app.cluster.ready and s.app.cluster.leases.state.live == names
                      for s in servers):
            await trio.sleep(0.1)


async def provision(servers, handles: tuple[str, ...]) -> list[dict[str, str]]:
    """The same users, in the same order, on every node (the same uids): users are
    provisioned on each node (docs/cluster.md §2). Each node's tokens by handle."""
    return [{h: await server.user(h) for h in handles} for server in servers]


@pytest.fixture
async def two_nodes(nursery, server_config, nats_cluster, tmp_path):
    async with Engine(nats_cluster.urls) as engine:
        await engine.reset()
    b_config = dataclasses.replace(server_config, data_dir=str(tmp_path / "b"))
    async with running_server(nursery, cluster_config(server_config, nats_cluster.urls,
                                                      "a")) as a, \
            running_server(nursery, cluster_config(b_config, nats_cluster.urls, "b")) as b:
        await both_ready([a, b])
        yield a, b


async def received(client: TestClient, n: int, timeout: float = 60) -> list[Msg]:
    return [await client.expect(Msg, timeout=timeout) for _ in range(n)]


async def test_clients_on_two_nodes_chat_both_ways_in_order(two_nodes, nursery, nats_cluster):
    a, b = two_nodes
    tokens = await provision([a, b], ("alice", "bob"))
    alice = await TestClient(nursery, a.url, tokens[0]["alice"]).connect()
    bob = await TestClient(nursery, b.url, tokens[1]["bob"]).connect()
    for i in range(10):
        await alice.send(f"a{i}", to="bob")
    acks = await acked(alice, 10)
    got = await received(bob, 10)
    conv = acks[0].conv
    assert [m.text for m in got] == [f"a{i}" for i in range(10)]
    assert [m.seq for m in got] == list(range(1, 11)) == [x.seq for x in acks]
    for i in range(10):
        await bob.send(f"b{i}", to="alice")
    back = await acked(bob, 10)
    got = await received(alice, 10)
    assert {x.conv for x in back} == {conv} == {m.conv for m in got}
    assert [m.text for m in got] == [f"b{i}" for i in range(10)]
    assert [m.seq for m in got] == list(range(11, 21)) == [x.seq for x in back]
    # Each node's acks and messages carry its own positions, increasing (§8's resume).
    for client in (alice, bob):
        positions = sorted([x.pos for x in client.taken(Ack)] + [m.pos for m in client.taken(Msg)])
        assert len(set(positions)) == 20
    async with Engine(nats_cluster.urls) as engine:
        logged = await engine.messages(conv)
    assert [m.seq for m in logged] == list(range(1, 21))  # one history, no gap
    homes = {a.app.cluster.home_of(conv), b.app.cluster.home_of(conv)}
    assert len(homes) == 1  # both nodes name the same home
    home, other = (a, b) if homes == {"a"} else (b, a)
    assert other.app.routing.forwarded == 10 and home.app.routing.served == 10
    assert other.app.routing.replicated == 20 and home.app.routing.replicated == 0
    for server in (a, b):  # each node's follower has had every batch
        assert (await server.admin("cluster.status"))["log"]["lag"] == 0


async def test_a_retry_from_another_node_is_not_a_duplicate(two_nodes, nursery):
    a, b = two_nodes
    tokens = await provision([a, b], ("alice", "bob"))
    alice = await TestClient(nursery, a.url, tokens[0]["alice"]).connect()
    bob = await WireClient(nursery, b.url, tokens[1]["bob"]).connect()
    alice_b = await TestClient(nursery, b.url, tokens[1]["alice"]).connect()  # her 2nd device
    await alice.send("first", to="bob", client_msg_id="cm-1")
    first = await alice.expect(Ack)
    await bob.expect(Msg)
    # The same client_msg_id sent again through the other node: the original's ack.
    await send_frame(alice_b, Send(id=77, to="bob", text="first", client_msg_id="cm-1"))
    again = await alice_b.expect(Ack)
    assert again.duplicate and (again.conv, again.seq) == (first.conv, first.seq)
    await alice.send("second", to="bob", client_msg_id="cm-2")
    second = await alice.expect(Ack)
    assert second.seq == first.seq + 1
    await bob.expect(Msg)
    texts = [f.text for f in bob.wire if isinstance(f, Msg)]
    assert texts == ["first", "second"]  # never twice on the wire
    mine = [m.text for m in alice_b.taken(Msg)]
    assert "second" in mine or not mine  # her other device hears her, never a duplicate
    assert mine.count("first") <= 1


async def test_a_token_of_another_node_is_refused_and_history_has_everything_once(
        two_nodes, nursery):
    """A device moving to another node: its token is of the first node's positions, so
    the second refuses it (bad_sync_token, protocol.md §8.1) rather than answer from
    the wrong place; the device then adopts the new node's token and refetches the
    conversation through history, where every message is once, in seq order."""
    a, b = two_nodes
    assert a.app.store.pos_base != b.app.store.pos_base  # each node its own range
    tokens = await provision([a, b], ("alice", "bob"))
    alice = await TestClient(nursery, a.url, tokens[0]["alice"]).connect()
    bob = await TestClient(nursery, b.url, tokens[1]["bob"]).connect()
    for i in range(5):
        await bob.send(f"seen {i}", to="alice")
    conv = (await acked(bob, 5))[0].conv
    await received(alice, 5)
    token = alice.session.sync_token
    assert int(token) >= a.app.store.pos_base
    await alice.close()
    for i in range(5):  # while she is away
        await bob.send(f"missed {i}", to="alice")
    await acked(bob, 5)
    raw = await RawWs.open(nursery, b.url)  # she comes back through the other node
    welcome = await raw.hello(tokens[1]["alice"])
    await raw.request(Sync(id=1, since=token))
    refused = await raw.expect(Error)
    assert refused.code == "bad_sync_token" and refused.re == 1
    assert int(welcome.sync) >= b.app.store.pos_base  # the token she adopts instead
    await raw.request(History(id=2, conv=conv, limit=100))
    page = await raw.expect(HistoryPage)
    assert sorted(m.seq for m in page.msgs) == list(range(1, 11))  # once each, no gap
    assert sorted(m.text for m in page.msgs) == sorted(
        [f"seen {i}" for i in range(5)] + [f"missed {i}" for i in range(5)])
    await raw.request(Sync(id=3, since=welcome.sync))  # and her new token is good here
    assert isinstance(await raw.expect(SyncPage), SyncPage)


async def test_when_the_home_stops_the_other_node_goes_on_from_the_log(
        nursery, server_config, nats_cluster, tmp_path):
    """The conversation's home stops (its leases released at once): the other node is
    named home, applies the log up to the conversation's head, and its next seq
    follows the last one the former home logged."""
    async with Engine(nats_cluster.urls) as engine:
        await engine.reset()
    b_config = dataclasses.replace(server_config, data_dir=str(tmp_path / "b"))
    running = {name: running_server(nursery, cluster_config(config, nats_cluster.urls, name))
               for name, config in (("a", server_config), ("b", b_config))}
    servers = {name: await r.__aenter__() for name, r in running.items()}
    try:
        await both_ready(list(servers.values()))
        tokens = dict(zip(servers, await provision(list(servers.values()), ("alice", "bob")),
                          strict=True))
        alice = await TestClient(nursery, servers["a"].url, tokens["a"]["alice"]).connect()
        bob = await TestClient(nursery, servers["b"].url, tokens["b"]["bob"]).connect()
        for i in range(5):
            await alice.send(f"before {i}", to="bob")
        conv = (await acked(alice, 5))[0].conv
        await received(bob, 5)
        home = servers["a"].app.cluster.home_of(conv)
        survivor = "b" if home == "a" else "a"
        client, peer = (bob, "alice") if survivor == "b" else (alice, "bob")
        await running.pop(home).__aexit__(None, None, None)
        node = servers[survivor].app.cluster
        with trio.fail_after(60):
            while node.home_of(conv) != survivor or not node.ready:
                await trio.sleep(0.1)
        for i in range(5):
            await client.send(f"after {i}", to=peer)
        after = await acked(client, 5, timeout=90)
        assert [x.seq for x in after] == list(range(6, 11))
        async with Engine(nats_cluster.urls) as engine:
            logged = await engine.messages(conv)
        assert [m.seq for m in logged] == list(range(1, 11))
    finally:
        for r in running.values():
            await r.__aexit__(None, None, None)
