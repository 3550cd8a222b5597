"""corpchat nodes as processes (`corpchat serve --cluster … --node …`), for tests
and `make chaos`: each with its own data directory and port on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .natscluster import free_port

CONFIG = """\
[cluster]
lease_ttl_s = {ttl}
log_max_bytes = {log_bytes}
partitions = {partitions}
"""


@dataclass
class Node:
    name: str
    port: int
    directory: Path
    urls: list[str]
    process: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self, config: Path) -> None:
        log = open(self.directory / "node.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "corpchat.server.cli", "serve", "--config", str(config),
             "--data", str(self.data), "--listen", f"127.0.0.1:{self.port}",
             "--cluster", ",".join(self.urls), "--node", self.name],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def health(self) -> tuple[int, str]:
        """/healthz: (status, body); (0, why) when nothing answers."""
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except httpx.HTTPError as exc:
            return 0, str(exc)
        return r.status_code, r.text

    def admin(self, *args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "corpchat.server.cli", "admin", "--data",
                              str(self.data), "--json", *args],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"admin {' '.join(args)}: {out.stderr or out.stdout}")
        return json.loads(out.stdout)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # a test may have stopped it
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        return (self.directory / "node.log").read_text(errors="replace")


def write_config(root: Path, ttl_s: float = 2.0, partitions: int = 64) -> Path:
    path = root / "cluster.toml"
    path.write_text(CONFIG.format(ttl=ttl_s, log_bytes=64 * 1024 * 1024, partitions=partitions))
    return path


def start_nodes(root: Path, urls: list[str], names: tuple[str, ...] = ("a", "b", "c"),
                ttl_s: float = 2.0) -> list[Node]:
    config = write_config(root, ttl_s)
    nodes = []
    for name in names:
        directory = root / f"node-{name}"
        directory.mkdir(parents=True)
        node = Node(name, free_port(), directory, urls)
        node.start(config)
        nodes.append(node)
    return nodes


def wait_until(condition, timeout_s: float, what: str, nodes: list[Node] = ()) -> None:  # noqa: ANN001
    """Poll `condition()` until true; fail (with the nodes' logs' tails) after timeout_s.
    A bound on how long the cluster may take, generous for a loaded machine."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {n.name}\n{n.log_text()[-1500:]}" for n in nodes)
    raise AssertionError(f"not within {timeout_s} s: {what}\n{tails}")
