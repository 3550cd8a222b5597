"""The chaos harness (chaos.py) against a cluster node: kill -9 of the corpchat
node and of one of three nats-servers, alternately, under load.

    python -m tests.reliability.cluster_chaos --faults 20 --seconds 60 [--seed 1]

One corpchat node (`serve --cluster … --node a`) on a 3-server JetStream
cluster (tests/cluster/natscluster.py, sync_interval: always). Senders and
readers are chaos.py's peers (reconnecting, resuming from their sync tokens,
re-sending unacked messages with the same client_msg_id). At seeded random
moments the harness kill -9s either the node (started again on its data
directory) or one nats-server (started again on its directory a moment
later). At the end chaos.py's `verify` checks the node's store, every ack and
every peer's view, and this module checks the log: every conversation's log
holds exactly the stored messages, seq 1..N, each once, in order.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

from corpchat.protocol import GroupCreate, Ok

from ..cluster.engine import Engine
from ..cluster.natscluster import NatsCluster, nats_server_binary, start_cluster
from ..cluster.nodes import write_config
from .chaos import (
    KillReport,
    Peer,
    Seen,
    ServerProcess,
    Tally,
    audit,
    provision,
    request,
    settle,
    verify,
)


class NodeProcess(ServerProcess):
    """`corpchat serve --cluster URLS --node a` on one data directory."""

    def __init__(self, data_dir: str, log_path: str, urls: list[str], config: Path) -> None:
        super().__init__(data_dir, log_path)
        self.urls, self.config = urls, config

    def argv(self) -> list[str]:
        return [*super().argv(), "--config", str(self.config), "--cluster", ",".join(self.urls),
                "--node", "a"]

    async def start(self, timeout_s: float = 30.0) -> int:
        """Started once /healthz says ready (it holds its leases, the log is there)."""
        port = await super().start(timeout_s)
        with trio.fail_after(90):
            async with httpx.AsyncClient() as http:
                while True:
                    try:
                        r = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                        if r.status_code == 200:
                            return port
                    except httpx.HTTPError:
                        pass
                    await trio.sleep(0.1)


async def check_log(urls: list[str], audits: dict[str, list[Seen]], tally: Tally) -> None:
    """Each conversation's log against what the node stored (chaos.py's audit)."""
    stored: dict[int, dict[int, Seen]] = {}
    for seen in audits.values():
        for s in seen:
            stored.setdefault(s.conv, {})[s.seq] = s
    async with Engine(urls) as engine:
        for conv, by_seq in stored.items():
            logged = await engine.messages(conv)
            seqs = [m.seq for m in logged]
            if seqs != sorted(set(seqs)):
                tally.flag("reordered", f"conv {conv}: the log's seqs {seqs[:20]}…")
            for seq in sorted(by_seq.keys() - set(seqs)):
                tally.flag("lost", f"conv {conv} seq {seq} is stored but not in the log")
            for m in logged:
                s = by_seq.get(m.seq)
                if s is None or (s.cmid or "") != m.client_msg_id:
                    tally.flag("lost", f"conv {conv} seq {m.seq}: log {m.client_msg_id}, "
                               f"store {s}")


async def fault_loop(node: NodeProcess, nats: NatsCluster, rng: random.Random,
                     faults: int, seconds: float, report: KillReport) -> None:
    began = trio.current_time()
    moments = sorted(rng.uniform(0.05, 0.9) * seconds for _ in range(faults))
    binary = nats_server_binary()
    for i, moment in enumerate(moments):
        await trio.sleep_until(max(began + moment, trio.current_time() + 0.3))
        if i % 2 == 0:
            await node.kill()
            await node.start()
        else:
            server = nats.servers[rng.randrange(len(nats.servers))]
            await trio.to_thread.run_sync(server.kill)
            await trio.sleep(rng.uniform(0.5, 2.0))
            server.start(binary)
        report.kills += 1
    await trio.sleep_until(began + seconds)


async def run(faults: int, seconds: float, seed: int, senders: int, readers: int,
              rate: float, workdir: str) -> tuple[KillReport, NatsCluster]:
    rng = random.Random(seed)
    nats = await trio.to_thread.run_sync(start_cluster, Path(workdir) / "nats")
    node = NodeProcess(os.path.join(workdir, "data"), os.path.join(workdir, "node.log"),
                       nats.urls, write_config(Path(workdir), ttl_s=5.0))
    report = KillReport()
    try:
        await node.start()
        report.tally = await _load(node, nats, rng, faults, seconds, senders, readers, rate,
                                   report)
        await node.stop()
    finally:
        await node.kill()
        nats.stop()
    report.server_errors = node.error_lines()
    report.starts = node.starts
    return report, nats


async def _load(node: NodeProcess, nats: NatsCluster, rng: random.Random, faults: int,
                seconds: float, senders_n: int, readers_n: int, rate: float,
                report: KillReport) -> Tally:
    began = time.monotonic()
    senders = [f"s{i}" for i in range(senders_n)]
    readers = [f"r{i}" for i in range(readers_n)]
    tokens = await provision(node, "acme", senders + readers)
    created = await request(node.url, tokens[senders[0]], GroupCreate, name="chaos",
                            members=tuple(senders[1:] + readers))
    assert isinstance(created, Ok), created
    peers = [Peer(name, name, tokens[name], lambda: node.url, random.Random(rng.random()),
                  targets=({"conv": created.conv}, {"to": readers[i % len(readers)]}),
                  rate_per_s=rate) for i, name in enumerate(senders)]
    peers += [Peer(name, name, tokens[name], lambda: node.url, random.Random(rng.random()),
                   flap_s=(0.3, 1.5)) for name in readers]
    async with trio.open_nursery() as nursery:
        for peer in peers:
            nursery.start_soon(peer.run)
        await fault_loop(node, nats, rng, faults, seconds, report)
        settled = await settle(peers, timeout_s=120)
        audits = {p.user: await audit(node.url, tokens[p.user]) for p in peers}
        for peer in peers:
            peer.stop()
    tally = verify(peers, audits)
    await check_log(nats.urls, audits, tally)
    if not settled:
        tally.flag("faults", "the peers did not all catch up within the time limit")
    report.connections = sum(p.connections for p in peers)
    report.seconds = time.monotonic() - began
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.cluster_chaos",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=20,
                        help="kill -9s, alternately of the node and of a nats-server")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s per sender")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="cluster-chaos-", dir="/tmp")
    limit_s = args.seconds * 2 + args.faults * 15 + 180

    async def bounded() -> tuple[KillReport, NatsCluster]:
        with trio.fail_after(limit_s):
            return await run(args.faults, args.seconds, args.seed, args.senders,
                             args.readers, args.rate, workdir)

    report, _ = trio.run(bounded)
    print(report.summary().replace("chaos: kills=", "cluster chaos: faults="))
    for note in report.tally.notes:
        print(f"  {note}")
    for line in report.server_errors[:20]:
        print(f"  server: {line}")
    if report.ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"data, logs and NATS directories kept in {workdir}")
    print("cluster chaos: OK" if report.ok else "cluster chaos: FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
