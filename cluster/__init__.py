"""corpchat on many nodes over NATS JetStream (docs/cluster.md).

Layering: this package may import store and protocol; server imports it,
and only the composition root (server/app.py) builds a node, and only when
`[cluster] urls` is set. Importing this package does not import NATS: the
client is imported by `corpchat.cluster.node`, which the single process
never loads.
"""

from .homes import home_of, homes, partition_of, wanted_by
from .settings import ClusterSettings

__all__ = ["ClusterSettings", "home_of", "homes", "partition_of", "wanted_by"]
