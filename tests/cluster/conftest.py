"""A 3-server NATS JetStream cluster for the tests of this folder (natscluster.py)."""

from __future__ import annotations

import pytest

from .natscluster import NatsCluster, start_cluster


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory) -> NatsCluster:
    cluster = start_cluster(tmp_path_factory.mktemp("nats"))
    yield cluster
    cluster.stop()
