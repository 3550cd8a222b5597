"""Rendezvous hashing (cluster/homes.py): the same answer everywhere, minimal moves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from corpchat.cluster.homes import home_of, homes, partition_of, wanted_by

names = st.sets(st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=8),
                min_size=1, max_size=8)


@given(names, st.integers(0, 1023))
def test_the_home_does_not_depend_on_the_order_of_the_nodes(nodes, partition):
    ordered = sorted(nodes)
    assert home_of(partition, ordered) == home_of(partition, reversed(ordered))
    assert home_of(partition, ordered) in nodes


@given(names, st.text(alphabet="klmnop", min_size=1, max_size=8))
def test_a_new_node_takes_partitions_only_for_itself(nodes, newcomer):
    before = homes(64, nodes)
    after = homes(64, nodes | {newcomer})
    moved = {p for p in before if before[p] != after[p]}
    assert all(after[p] == newcomer for p in moved)


@given(names)
def test_a_node_leaving_moves_only_its_own_partitions(nodes):
    gone = sorted(nodes)[0]
    before = homes(64, nodes)
    after = homes(64, nodes - {gone})
    for p, home in before.items():
        if home != gone:
            assert after[p] == home


def test_every_partition_has_one_home_and_the_spread_is_fair():
    nodes = ["a", "b", "c"]
    wanted = [wanted_by(n, 300, nodes) for n in nodes]
    assert set().union(*wanted) == set(range(300))
    assert sum(len(w) for w in wanted) == 300
    assert all(60 <= len(w) <= 140 for w in wanted)  # ~100 each


def test_no_node_no_home():
    assert home_of(3, []) is None
    assert homes(8, []) == {}


@given(st.integers(1, 2**63), st.integers(1, 512))
def test_a_conversation_is_in_one_fixed_partition(conv, partitions):
    assert 0 <= partition_of(conv, partitions) < partitions
    assert partition_of(conv, partitions) == partition_of(conv, partitions)
