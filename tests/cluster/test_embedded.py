"""The single process stays as it was: no NATS imported, /healthz as before, and
the cluster's settings checked before anything starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from corpchat.cluster import ClusterSettings
from corpchat.server.config import ConfigError, config_from_mapping


def test_the_single_process_never_imports_nats(tmp_path):
    code = (
        "import sys, trio\n"
        "from corpchat.server import App, ServerConfig\n"
        f"app = App(ServerConfig(data_dir={str(tmp_path / 'data')!r}, port=0))\n"
        "async def main():\n"
        "    async with trio.open_nursery() as n:\n"
        "        await n.start(app.serve)\n"
        "        app.request_shutdown()\n"
        "trio.run(main)\n"
        "print(app.cluster, sorted(m for m in sys.modules if m.split('.')[0] == 'nats'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None []"


async def test_healthz_alone_is_ok(server):
    import httpx

    async with httpx.AsyncClient() as http:
        r = await http.get(server.url.replace("ws://", "http://") + "healthz")
    assert (r.status_code, r.text) == (200, "ok\n")


async def test_admin_cluster_status_alone_says_so(server):
    with pytest.raises(Exception, match="runs alone"):
        await server.admin("cluster.status")


def test_the_cluster_table():
    config = config_from_mapping({"cluster": {"urls": ["nats://127.0.0.1:4222"],
                                              "node": "a", "lease_ttl_s": 5}})
    assert config.cluster == ClusterSettings(urls=("nats://127.0.0.1:4222",), node="a",
                                             lease_ttl_s=5.0)
    assert config.cluster.enabled
    assert not config_from_mapping({}).cluster.enabled


@pytest.mark.parametrize("table, problem", [
    ({"urls": ["nats://127.0.0.1:4222"]}, "needs a name"),
    ({"urls": ["nats://127.0.0.1:4222"], "node": "a b"}, "needs a name"),
    ({"urls": ["http://127.0.0.1:4222"], "node": "a"}, "must begin with nats://"),
    ({"lease_ttl_s": 0}, "must be positive"),
    ({"replicas": 7}, "replicas"),
    ({"nodes": 3}, "unknown setting"),
])
def test_bad_cluster_settings_are_refused(table, problem):
    with pytest.raises(ConfigError, match=problem):
        config_from_mapping({"cluster": table})


def test_serve_refuses_cluster_without_node(tmp_path):
    out = subprocess.run([sys.executable, "-m", "corpchat.server.cli", "serve", "--data",
                          str(tmp_path), "--cluster", "nats://127.0.0.1:4222"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "needs a name (--node)" in out.stderr


async def test_a_node_that_cannot_listen_stops_without_waiting_for_nats(server_config):
    """The port is taken: serve fails before the node starts, and its stop does not
    wait a lease TTL for a NATS thread that never ran."""
    import dataclasses
    import socket

    import trio

    from corpchat.server import App

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = dataclasses.replace(
            server_config, port=taken.getsockname()[1],
            cluster=ClusterSettings(urls=("nats://127.0.0.1:1",), node="a", lease_ttl_s=600))
        app = App(config)
        with trio.fail_after(60), pytest.raises(BaseException) as failed:  # not 600 s
            await app.serve()
    assert "Address already in use" in repr(failed.value) or "98" in repr(failed.value)
