"""Three corpchat nodes on a 3-server JetStream cluster: membership, leases,
homes, /healthz and `admin cluster status` (docs/cluster.md §2, §7)."""

from __future__ import annotations

import signal
import time

import pytest

from .engine import reset_cluster
from .natscluster import free_port
from .nodes import Node, start_nodes, wait_until, write_config

TTL_S = 2.0
PARTITIONS = 64


def all_ready(nodes: list[Node]) -> bool:
    return all(n.health()[0] == 200 for n in nodes)


def holders(node: Node) -> dict[str, int]:
    """Leases held per node, as the bucket says (through `node`'s admin socket)."""
    status = node.admin("cluster", "status")
    return {name: h["held"] for name, h in status["homes"].items() if h["held"]}


@pytest.fixture
def nodes(nats_cluster, tmp_path):
    reset_cluster(nats_cluster.urls)
    started = start_nodes(tmp_path, nats_cluster.urls, ttl_s=TTL_S)
    yield started
    for node in started:
        node.stop()


def test_three_nodes_share_the_partitions(nodes):
    wait_until(lambda: all_ready(nodes), 60, "three nodes ready", nodes)
    status = nodes[0].admin("cluster", "status")
    assert status["ready"] and status["reason"] == ""
    assert sorted(n["node"] for n in status["nodes"]) == ["a", "b", "c"]
    assert len(status["leases"]) == PARTITIONS
    assert sorted({lease["partition"] for lease in status["leases"]}) == list(range(PARTITIONS))
    for name, home in status["homes"].items():
        assert home["held"] == home["named"] > 0, name  # each holds what the hash names it
    assert status["log"]["replicas"] == 3


def test_a_killed_node_is_rehomed(nodes):
    wait_until(lambda: all_ready(nodes), 60, "three nodes ready", nodes)
    nodes[2].kill()
    killed_at = time.monotonic()
    wait_until(lambda: set(holders(nodes[0])) == {"a", "b"}
               and sum(holders(nodes[0]).values()) == PARTITIONS,
               TTL_S * 30, "the killed node's partitions re-homed", nodes)
    assert time.monotonic() - killed_at >= TTL_S * 0.5  # it waited for the lease to lapse
    assert all_ready(nodes[:2])


def test_a_stopped_node_releases_its_leases_at_once(nodes):
    wait_until(lambda: all_ready(nodes), 60, "three nodes ready", nodes)
    nodes[1].stop()  # SIGTERM: a clean exit deletes its leases and its node key
    assert nodes[1].process is not None and nodes[1].process.returncode == 0
    status = nodes[0].admin("cluster", "status")
    assert "b" not in {n["node"] for n in status["nodes"]}
    assert "b" not in {lease["node"] for lease in status["leases"]}


def test_a_node_stopped_past_its_lease_loses_it_and_rejoins(nodes):
    wait_until(lambda: all_ready(nodes), 60, "three nodes ready", nodes)
    nodes[2].signal(signal.SIGSTOP)
    wait_until(lambda: set(holders(nodes[0])) == {"a", "b"}
               and sum(holders(nodes[0]).values()) == PARTITIONS,
               TTL_S * 30, "the stopped node's partitions taken over", nodes)
    nodes[2].signal(signal.SIGCONT)
    # Its renewals fail (the revisions moved); it beats again, the hash names it
    # again, the others release its partitions, and it takes them back.
    # One snapshot for both checks: while the others release its partitions and it takes
    # them back, a second read can fall in the middle of the hand-over.
    def settled() -> bool:
        held = holders(nodes[0])
        return set(held) == {"a", "b", "c"} and sum(held.values()) == PARTITIONS

    wait_until(lambda: all_ready(nodes) and settled(),
               TTL_S * 45, "the continued node back with its partitions", nodes)


def test_a_node_without_nats_is_not_ready(tmp_path):
    node = Node("lonely", free_port(), tmp_path, [f"nats://127.0.0.1:{free_port()}"])
    node.start(write_config(tmp_path, TTL_S))
    try:
        wait_until(lambda: "cannot reach NATS" in node.health()[1], 30,
                   "/healthz saying why", [node])
        status, body = node.health()
        assert status == 503 and body.startswith("not ready: cannot reach NATS")
        assert node.admin("cluster", "status")["ready"] is False
    finally:
        node.stop()


def test_admin_drain_moves_the_homes_before_the_node_exits(nodes):
    wait_until(lambda: all_ready(nodes), 60, "three nodes ready", nodes)
    held_before = holders(nodes[0])["b"]
    answer = nodes[1].admin("drain")
    assert answer["draining"] is True
    assert answer["leases_released"] == held_before
    assert answer["leases_taken_over"] == PARTITIONS  # all held by a and c before b exits
    assert nodes[1].process is not None and nodes[1].process.wait(timeout=30) == 0
    assert set(holders(nodes[0])) == {"a", "c"}
