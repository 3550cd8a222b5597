"""Benchmark: how much the indexer stalls the server's thread while it catches up.

    taskset -c 0 python -m corpchat.search.bench_stall [--messages 20000] [--rounds 3]

For each variant — the indexer as a thread of this process, as its own process
(process.py, what the server runs), and no indexer — a store of seeded corpus
messages (corpus.py) is written while the indexer is already running, then the
main thread sleeps 1 ms in a loop until the index has caught up, recording how
late each sleep wakes: what the event loop would feel (docs/benchmarks.md, "The
indexer off the event loop"). Variants are interleaved, `--rounds` times.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from corpchat.store import Store

from .bench import populate
from .indexer import Indexer
from .process import IndexerProcess, IndexerSettings

VARIANTS = ("thread", "process", "none")


def _indexer(variant: str, store: Store, root: str) -> Indexer | IndexerProcess | None:
    if variant == "thread":
        thread = Indexer(store, root, now_ms=lambda: 0, page=5000, pause_s=0.0)
        thread.start()
        return thread
    if variant == "process":
        child = IndexerProcess(store, root, now_ms=lambda: 0, settings=IndexerSettings(
            page=5000, pause_s=0.0, heap_bytes=64 << 20, nice=10))
        child.start()
        while child.index is None:  # started (the fork server too) before the measured part
            time.sleep(0.01)
        return child
    return None


def _lateness(indexer: Indexer | IndexerProcess | None, head: int) -> tuple[list[float], float]:
    late: list[float] = []
    started = time.perf_counter()
    while indexer.pos < head if indexer else time.perf_counter() - started < 2.0:
        if indexer:
            indexer.wake()
        before = time.perf_counter()
        time.sleep(0.001)
        late.append((time.perf_counter() - before - 0.001) * 1000)
    return sorted(late), time.perf_counter() - started


def run(variant: str, messages: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "db"), map_bytes=1 << 30, durable=False)
        indexer = _indexer(variant, store, os.path.join(tmp, "search"))
        populate(store, messages, 200, 20, 21)
        late, seconds = _lateness(indexer, store.head_pos())
        if indexer:
            indexer.stop()
        store.close()

    def at(q: float) -> float:
        return late[min(len(late) - 1, int(len(late) * q))]

    return (f"{variant:8s} {seconds:5.2f} s: 1 ms sleep wakes late by p50 {at(0.5):.2f}, "
            f"p99 {at(0.99):.2f}, p99.9 {at(0.999):.2f}, max {late[-1]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for variant in VARIANTS:
            print(run(variant, args.messages), flush=True)


if __name__ == "__main__":
    main()
