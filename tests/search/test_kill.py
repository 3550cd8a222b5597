"""kill -9 of a real server while it indexes, then a restart: the index catches
up from LMDB and holds every message exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from corpchat.adminclient import call, socket_path
from corpchat.search import Indexer, Request, parse, search
from corpchat.store import GROUP, Membership, Store

NOW = 1_800_000_000_000
COUNT = 40_000


def _populate(data: str) -> int:
    """COUNT messages straight into the store (no server); the reader's uid."""
    store = Store(data, map_bytes=256 << 20, durable=False)
    w = store.begin_write()
    corp = w.create_corp("acme", NOW).corp_id
    reader = w.create_user("ann", corp, NOW)
    conv = w.create_conversation(GROUP, "g", NOW, corp).conv
    w.set_membership(uid=reader.uid, conv=conv, membership=Membership(1))
    for i in range(COUNT):
        w.append(conv=conv, sender="ann", now_ms=NOW + i, text=f"报销单 number n{i}")
    w.commit()
    store.close()
    return reader.uid


def _stats(data: str) -> dict | None:
    try:
        return call(socket_path(data), "stats", {})
    except Exception:  # not up yet
        return None


def _open_once_the_orphan_is_gone(indexer: Indexer) -> None:
    """The killed server's indexer process leaves when its pipe closes, within a step; until
    then it holds tantivy's writer lock, and opening refuses (never wiping the index)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            indexer.open()
            return
        except ValueError as exc:
            assert "LockBusy" in str(exc) and time.monotonic() < deadline, exc
            time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_while_indexing_then_restart(tmp_path):
    data = os.fspath(tmp_path / "data")
    uid = _populate(data)
    config = tmp_path / "corpchat.toml"
    # 200 commits of 200, at least 0.05 s apart: the kill lands well before the end
    config.write_text("[search]\nbatch_messages = 200\npause_s = 0.05\n")
    server = subprocess.Popen([sys.executable, "-m", "corpchat.server.cli", "serve", "--data",
                               data, "--listen", "127.0.0.1:0", "--config", os.fspath(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = _stats(data)
            if stats and stats["search_indexed_pos"] > 0:
                break
            time.sleep(0.02)
        assert stats and 0 < stats["search_indexed_pos"] < COUNT, stats  # mid-way
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    store = Store(data, map_bytes=256 << 20, durable=False)
    indexer = Indexer(store, os.path.join(data, "search"), now_ms=lambda: NOW)
    _open_once_the_orphan_is_gone(indexer)
    assert 0 < indexer.pos < COUNT  # what the killed server had committed
    while indexer.step():
        pass
    assert indexer.pos == store.head_pos() == COUNT
    assert indexer.index.documents() == COUNT  # none missed, none twice
    for n in (0, COUNT // 2, COUNT - 1):
        page = search(indexer.index, store, Request(uid=uid, query=parse(f"n{n}"), limit=50))
        assert [hit.msg.text for hit in page.hits] == [f"报销单 number n{n}"]
    indexer.stop()
    store.close()
