"""Benchmark: indexing throughput, index size, reindex time and query latency.

    python -m corpchat.search.bench [--messages 1000000] [--convs 1000] [--member-of 200]

Writes a seeded corpus (corpus.py: half Chinese) straight into a store in a
temporary directory — not through the WebSocket —: `--convs` groups of 2,000
users, one reader who is a member of `--member-of` of them; then indexes it
all with the indexer (its thread's work, timed), rebuilds it (admin search
reindex's work), and times searches as the reader for rare and frequent
terms, CJK and Latin. Prints one line per figure (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

from corpchat.store import GROUP, Corp, Membership, Store, User

from .corpus import messages
from .index import index_bytes
from .indexer import Indexer
from .query import parse
from .searcher import Request, search

NOW = 1_800_000_000_000
USERS = 2000
RARE = ("星火计划", "zanzibar")  # one message in 10,000 holds one of these
QUERIES = {
    "rare CJK": "星火计划",
    "frequent CJK": "报销",
    "rare Latin": "zanzibar",
    "frequent Latin": "meeting",
    "CJK phrase + Latin": "提交 review",
    "one CJK char": "税",
}


def populate(store: Store, count: int, convs: int, member_of: int,
              seed: int) -> tuple[int, int]:
    """The corpus in `store`; returns the reader's uid and the text bytes."""
    rng = random.Random(seed)
    w = store.begin_write()
    made = w.create_corp("bench", NOW)
    assert isinstance(made, Corp)  # a fresh database refuses nothing
    corp = made.corp_id
    users: list[User] = []
    for i in range(USERS):
        user = w.create_user(f"u{i}", corp, NOW)
        assert isinstance(user, User)
        users.append(user)
    reader = users[0]
    groups = []
    for n in range(convs):
        conv = w.create_conversation(GROUP, f"g{n}", NOW, corp).conv
        members = rng.sample(users[1:], 20) + ([reader] if n < member_of else [])
        for user in members:
            w.set_membership(uid=user.uid, conv=conv, membership=Membership(1))
        groups.append((conv, [u.handle for u in members]))
    w.commit()
    text_bytes = 0
    for start in range(0, count, 50_000):
        w = store.begin_write()
        for i, text in enumerate(messages(min(50_000, count - start), seed + start)):
            if rng.random() < 1e-4:
                text = f"{text} {rng.choice(RARE)}"
            conv, handles = groups[rng.randrange(convs)]
            w.append(conv=conv, sender=rng.choice(handles), now_ms=NOW + start + i, text=text)
            text_bytes += len(text.encode())
        w.commit()
    return reader.uid, text_bytes


def _index(indexer: Indexer) -> float:
    started = time.perf_counter()
    while indexer.step():
        pass
    return time.perf_counter() - started


def _latency(indexer: Indexer, store: Store, uid: int, text: str,
             rounds: int) -> tuple[float, float, int]:
    request = Request(uid=uid, query=parse(text), limit=20)
    times, hits = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        page = search(indexer.index, store, request)
        times.append((time.perf_counter() - started) * 1000)
        hits = len(page.hits)
    times.sort()
    return (statistics.median(times), times[int(len(times) * 0.99) - 1], hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--convs", type=int, default=1000)
    parser.add_argument("--member-of", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "db"), map_bytes=8 << 30, durable=False)
        started = time.perf_counter()
        uid, text_bytes = populate(store, args.messages, args.convs, args.member_of, args.seed)
        print(f"store: {args.messages} messages, {text_bytes} text bytes, written in "
              f"{time.perf_counter() - started:.1f} s")
        indexer = Indexer(store, os.path.join(tmp, "search"), now_ms=lambda: NOW)
        seconds = _index(indexer)
        print(f"indexing: {args.messages / seconds:,.0f} messages/s ({seconds:.1f} s)")
        size = index_bytes(indexer.index.path)
        print(f"index size: {size} bytes, {size / text_bytes:.2f}x the text bytes")
        for name, text in QUERIES.items():
            p50, p99, hits = _latency(indexer, store, uid, text, args.rounds)
            print(f"query {name!r} ({text}): p50 {p50:.2f} ms, p99 {p99:.2f} ms, {hits} hits")
        indexer.request_reindex()
        seconds = _index(indexer)
        print(f"reindex: {seconds:.1f} s ({indexer.index.documents()} documents)")
        indexer.stop()
        store.close()


if __name__ == "__main__":
    main()
