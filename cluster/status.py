"""`admin cluster status`: nodes, leases, homes per node and the log's state.

Runs on the NATS thread's loop; reads the buckets as they are now, not what
this node remembers (a node that lost contact shows what NATS says).
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NoKeysError, NotFoundError

from .follower import Follower
from .homes import homes
from .leases import Leases, lease_key
from .log import LOG_STREAM, ConversationLog
from .publisher import Publisher
from .settings import ClusterSettings


class ClusterNode(Protocol):
    """What the status reads of a node (node.py's ClusterNode)."""

    settings: ClusterSettings
    nc: Client | None
    js: JetStreamContext | None
    leases: Leases | None
    log: ConversationLog | None
    publisher: Publisher | None
    follower: Follower | None

    @property
    def ready(self) -> bool: ...

    @property
    def reason(self) -> str: ...


async def gather(node: ClusterNode) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    out: dict[str, Any] = {"node": node.settings.node, "ready": node.ready,
                           "reason": node.reason, "partitions": node.settings.partitions}
    if node.leases is None or node.js is None or node.nc is None or not node.nc.is_connected:
        return out | {"nodes": [], "leases": [], "homes": {}, "log": None}
    nodes = await _nodes(node, now_ms)
    leases = await _leases(node, now_ms)
    live = [n["node"] for n in nodes if not n["draining"]]
    named = homes(node.settings.partitions, live)
    per_node: dict[str, dict[str, int]] = {
        n: {"named": 0, "held": 0} for n in {*live, *(lease["node"] for lease in leases)}}
    for home in named.values():
        per_node[home]["named"] += 1
    for lease in leases:
        per_node[lease["node"]]["held"] += 1
    return out | {"nodes": nodes, "leases": leases, "homes": per_node,
                  "log": await _log(node)}


async def _nodes(node: ClusterNode, now_ms: int) -> list[dict[str, Any]]:
    assert node.leases is not None
    kv = node.leases.nodes
    try:
        names = await kv.keys()
    except NoKeysError:
        return []
    out = []
    for name in sorted(names):
        try:
            entry = await kv.get(name)
        except NotFoundError:
            continue
        value = json.loads(entry.value or b"{}")
        out.append({"node": name, "url": value.get("url", ""),
                    "draining": bool(value.get("draining")),
                    "beat_age_ms": now_ms - int(value.get("beat_ms", now_ms)),
                    "up_ms": now_ms - int(value.get("started_ms", now_ms))})
    return out


async def _leases(node: ClusterNode, now_ms: int) -> list[dict[str, Any]]:
    assert node.leases is not None
    kv = node.leases.leases
    out = []
    for partition in range(node.settings.partitions):
        try:
            entry = await kv.get(lease_key(partition))
        except NotFoundError:
            continue
        value = json.loads(entry.value or b"{}")
        out.append({"partition": partition, "node": value.get("node", "?"),
                    "revision": entry.revision,
                    "age_ms": now_ms - int(value.get("since_ms", now_ms))})
    return out


async def _log(node: ClusterNode) -> dict[str, Any]:
    assert node.js is not None and node.log is not None
    info = await node.js.stream_info(LOG_STREAM)
    state = info.state
    cluster = info.cluster
    return {"stream": LOG_STREAM, "messages": state.messages, "bytes": state.bytes,
            "last_seq": state.last_seq, "published_here": node.log.published,
            "publish_retries": node.publisher.retries if node.publisher else 0,
            "stale_conversations": len(node.publisher.stale) if node.publisher else 0,
            "leader": cluster.leader if cluster else None,
            "replicas": 1 + len(cluster.replicas or []) if cluster else 1,
            # The stream's last sequence minus the last one this node's follower
            # received (docs/cluster.md §4): batches not yet handed to its writer.
            "lag": state.last_seq - node.follower.delivered if node.follower else None}
