"""The [cluster] table of the server's TOML configuration (docs/cluster.md §7).

No NATS here: the single process reads these settings (and finds them off)
without importing the client.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

__all__ = ["ClusterSettings"]

_NODE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a NATS KV key and subject token


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    urls: tuple[str, ...] = ()  # nats://host:port of the NATS servers; empty: one process
    node: str = ""  # this node's name, unique in the cluster (--node)
    lease_ttl_s: float = 10.0  # a dead node's partitions move after this (node and lease TTL)
    partitions: int = 64  # conversations are spread over these; fixed for a cluster's life
    replicas: int = 3  # JetStream replicas of the log and the buckets (R3)
    log_max_age_s: int = 30 * 86_400  # the log keeps messages this long (then LMDB has them)
    log_max_bytes: int = 8 * 1024**3  # and at most this much (reserved on every replica)
    publish_timeout_s: float = 5.0  # a batch without PubAck after this is refused (storage)
    duplicate_window_s: float = 120.0  # JetStream recognises a repeated Nats-Msg-Id this long

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and value <= 0:
                raise ValueError(f"setting {f.name} must be positive")
        for url in self.urls:
            if not url.startswith(("nats://", "tls://")):
                raise ValueError(f"cluster url {url!r} must begin with nats:// or tls://")
        if self.urls and not _NODE_NAME.fullmatch(self.node):
            raise ValueError("a cluster node needs a name (--node): 1-64 of A-Z a-z 0-9 _ -")
        if self.replicas > 5:
            raise ValueError("replicas must be 1-5 (JetStream's limit)")
