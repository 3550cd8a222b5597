"""The writer's commit hook as a cluster node sees it (docs/cluster.md §3).

Which messages a committed batch stored (for the log), and the refusal of
the operations whose conversation the log did not take. Knows the results'
types, not NATS: the node (corpchat.cluster) gets plain messages.
"""

from __future__ import annotations

from corpchat.store import Message, Pending, StorageError

from .ops.results import GroupChange, Notices, Sent


def _messages_of(result: object) -> list[tuple[Message, bool]]:
    if isinstance(result, Sent):
        return [(result.message, result.duplicate)]
    if isinstance(result, GroupChange):
        return [(result.message, False)]
    if isinstance(result, Notices):
        return [(m, False) for m in result.messages]
    return []


def committed_messages(batch: list[Pending]) -> list[tuple[Message, bool]]:
    """(message, is a repeat of a stored one) for every message the batch holds."""
    return [item for pending in batch for item in _messages_of(pending.result)]


def refuse_unlogged(batch: list[Pending], failed: set[int]) -> None:
    """Answer `storage_unavailable` to the operations whose messages the log refused:
    they are committed here but not durable in the cluster, so never acked."""
    if not failed:
        return
    for pending in batch:
        if any(m.conv in failed for m, _ in _messages_of(pending.result)):
            pending.result = StorageError("the cluster's log did not take the write")
