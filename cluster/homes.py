"""Which node is a partition's home, and which partition a conversation is in.

Rendezvous (highest random weight) hashing: every node computes the same
home from the same set of live nodes, and a node joining or leaving moves
only the partitions it wins or held (about 1/N of them), never the rest.
Pure functions, no I/O (docs/cluster.md §2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _weight(node: str, partition: int) -> int:
    digest = hashlib.blake2b(f"{node}|{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def partition_of(conv: int, partitions: int) -> int:
    """The partition a conversation belongs to (fixed for the life of a cluster)."""
    digest = hashlib.blake2b(conv.to_bytes(8, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def home_of(partition: int, nodes: Iterable[str]) -> str | None:
    """The live node with the highest weight for `partition`; None with no node.

    Ties (two names with the same 64-bit weight) go to the smaller name, so
    the answer never depends on the order `nodes` comes in.
    """
    best: tuple[int, str] | None = None
    for node in nodes:
        candidate = (_weight(node, partition), node)
        if best is None or candidate[0] > best[0] or (
                candidate[0] == best[0] and candidate[1] < best[1]):
            best = candidate
    return None if best is None else best[1]


def homes(partitions: int, nodes: Iterable[str]) -> dict[int, str]:
    """Every partition's home over `nodes` (empty with no node)."""
    live = sorted(set(nodes))
    if not live:
        return {}
    return {p: home for p in range(partitions) if (home := home_of(p, live)) is not None}


def wanted_by(node: str, partitions: int, nodes: Iterable[str]) -> set[int]:
    """The partitions `node` should hold the leases of."""
    return {p for p, home in homes(partitions, nodes).items() if home == node}


POSITION_BITS = 36  # a node's range of stream positions: 2^36 messages


def position_base(node: str) -> int:
    """Where a cluster node's stream positions start: one of 65,535 ranges of 2^36 by
    its name (all below 2^53, a JavaScript number), so that a sync token of another
    node is below this node's range or above its head (docs/cluster.md §6). Two
    names may share a range (1 in 65,535 per pair): their tokens are not told apart."""
    digest = hashlib.blake2b(node.encode(), digest_size=2).digest()
    return (1 + int.from_bytes(digest, "big") % 65_535) << POSITION_BITS
