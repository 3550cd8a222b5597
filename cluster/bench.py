"""One home's log throughput through JetStream: `python -m corpchat.cluster.bench`.

Publishes batches the way a home does (cluster/publisher.py: chained per
conversation, in commit order, one JetStream message per batch per
conversation) to the NATS servers given, for a fixed time, and reports
acked batches/s and messages/s for each batch size and number of
conversations written at once. A benchmark, not a test: run it on a cluster
made for it (e.g. `python -m tests.cluster.natscluster`), never on a live one:
it deletes and re-creates the log stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time

import msgpack
import nats
from nats.js.errors import NotFoundError

from corpchat.store import Message

from .batches import log_batches
from .log import LOG_STREAM, ConversationLog, stream_config
from .settings import ClusterSettings


def _messages(conv: int, first_seq: int, n: int, size: int) -> list[tuple[Message, bool]]:
    return [(Message(conv=conv, seq=first_seq + i, pos=first_seq + i, sender="bench",
                     time_ms=0, text="x" * size, client_msg_id=f"{conv}-{first_seq + i}"), False)
            for i in range(n)]


async def _writer(log: ConversationLog, conv: int, per_batch: int, size: int,
                  until: float) -> tuple[int, int]:
    batches = seq = 0
    while time.monotonic() < until:
        for batch in log_batches("bench", _messages(conv, seq + 1, per_batch, size)):
            assert batch.payload is not None
            await log.publish(conv, batch.payload, batch.msg_id)
        seq += per_batch
        batches += 1
    return batches, seq


async def run_one(js, settings: ClusterSettings, replicas: int, convs: int,  # noqa: ANN001
                  per_batch: int, size: int, seconds: float) -> dict[str, float]:
    try:
        await js.delete_stream(LOG_STREAM)
    except NotFoundError:
        pass
    await js.add_stream(stream_config(settings, replicas))
    log = ConversationLog(js, settings)
    started, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    until = started + seconds
    done = await asyncio.gather(*(_writer(log, c + 1, per_batch, size, until)
                                  for c in range(convs)))
    elapsed = time.monotonic() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    batches = sum(b for b, _ in done)
    messages = sum(m for _, m in done)
    return {"replicas": replicas, "conversations": convs, "messages_per_batch": per_batch,
            "batches_per_s": round(batches / elapsed, 1),
            "messages_per_s": round(messages / elapsed, 1),
            "client_cpu_us_per_batch": round(client_cpu / max(batches, 1) * 1e6, 1),
            "payload_bytes_per_batch": len(msgpack.packb([[1, 1, b"x" * (size + 40)]] *
                                                         per_batch))}


async def main_async(args: argparse.Namespace) -> list[dict[str, float]]:
    nc = await nats.connect(servers=args.urls.split(","))
    js = nc.jetstream(timeout=30)
    settings = ClusterSettings(urls=tuple(args.urls.split(",")), node="bench",
                               log_max_bytes=args.log_mb * 1024 * 1024)
    rows = []
    for convs in args.conversations:
        for per_batch in args.batch:
            row = await run_one(js, settings, args.replicas, convs, per_batch, args.size,
                                args.seconds)
            print(json.dumps(row), flush=True)
            rows.append(row)
    await js.delete_stream(LOG_STREAM)
    await nc.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m corpchat.cluster.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", default=os.environ.get("NATS_URLS", "nats://127.0.0.1:4222"))
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=100, help="text bytes per message")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10, 100],
                        help="messages per batch (the writer's group commit)")
    parser.add_argument("--conversations", type=int, nargs="+", default=[1, 16],
                        help="conversations written at once (each chained)")
    parser.add_argument("--log-mb", type=int, default=256)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
