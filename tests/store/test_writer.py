"""The group-commit writer: batches, commit-before-report, failures, map growth."""

from __future__ import annotations

import os
import queue

import pytest

from corpchat.store import GroupCommitWriter, Message, Pending, StorageError, Store

from .test_store import NOW, people

TIMEOUT_S = 10


@pytest.fixture
def store(tmp_path):
    s = Store(os.fspath(tmp_path / "db"), map_bytes=16 * 1024 * 1024, durable=False)
    yield s
    s.close()


class Recorder:
    """on_commit: keeps each batch and what a fresh reader saw when it arrived."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches: queue.Queue[tuple[list[Pending], int]] = queue.Queue()

    def __call__(self, batch: list[Pending]) -> None:
        self.batches.put((batch, self.store.stats()["messages_stored"]))

    def next(self) -> tuple[list[Pending], int]:
        return self.batches.get(timeout=TIMEOUT_S)


def sender(alice, bob, cmid: str, text: str = "hi"):
    return lambda w: w.send_direct(alice, bob, cmid, text, NOW)


def test_one_batch_commits_everything_and_reports_after_the_commit(store):
    alice, bob = people(store, "alice", "bob")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder)
    for i in range(50):  # queued before the thread starts: one batch
        writer.submit(sender(alice, bob, f"c{i}"), context=i)
    writer.start()
    batch, visible_when_reported = recorder.next()
    writer.stop()
    assert [p.context for p in batch] == list(range(50))
    assert visible_when_reported == 50  # committed before on_commit ran
    assert [p.result[0].seq for p in batch] == list(range(1, 51))
    assert writer.stats.batches == 1
    assert writer.stats.max_batch == writer.stats.ops == 50


def test_batches_are_cut_at_max_batch(store):
    alice, bob = people(store, "alice", "bob")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, max_batch=8)
    for i in range(20):
        writer.submit(sender(alice, bob, f"c{i}"))
    writer.start()
    sizes = [len(recorder.next()[0]) for _ in range(3)]
    writer.stop()
    assert sizes == [8, 8, 4]


def test_stop_commits_what_was_submitted_and_refuses_more(store):
    alice, bob = people(store, "alice", "bob")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder)
    writer.start()
    for i in range(30):
        writer.submit(sender(alice, bob, f"c{i}"))
    writer.stop()
    assert store.stats()["messages_stored"] == 30
    with pytest.raises(StorageError):
        writer.submit(sender(alice, bob, "late"))


def test_an_operation_that_raises_fails_alone(store):
    alice, bob = people(store, "alice", "bob")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder)

    def broken(w):
        w.send_direct(alice, bob, "half-written", "x", NOW)  # rolled back with the batch
        raise RuntimeError("bug in one operation")

    writer.submit(sender(alice, bob, "before"))
    writer.submit(broken)
    writer.submit(sender(alice, bob, "after"))
    writer.start()
    batch, _ = recorder.next()
    writer.stop()
    before, failed, after = (p.result for p in batch)
    assert isinstance(failed, RuntimeError)
    assert (before[0].seq, after[0].seq) == (1, 2)  # no gap where the failure was
    assert (before[0].pos, after[0].pos) == (1, 2)
    page, _, _ = store.sync_page(bob.uid, 0, 100, 1 << 20)
    assert [m.client_msg_id for m in page] == ["before", "after"]
    assert store.head_pos() == 2


def test_a_storage_error_refuses_the_batch_and_service_resumes(store):
    alice, bob = people(store, "alice", "bob")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder)

    def key_too_long(w):  # LMDB itself refuses this put
        w.txn.put(b"k" * 600, b"v", db=w.db["meta"])

    writer.submit(sender(alice, bob, "innocent"))
    writer.submit(key_too_long)
    writer.start()
    batch, _ = recorder.next()
    assert all(isinstance(p.result, StorageError) for p in batch)
    assert writer.stats.failures == 1
    writer.submit(sender(alice, bob, "later"))
    later, _ = recorder.next()
    writer.stop()
    assert later[0].result[0].seq == 1
    assert store.stats()["messages_stored"] == 1


def test_the_map_grows_instead_of_failing(tmp_path):
    store = Store(os.fspath(tmp_path / "db"), map_bytes=64 * 1024, durable=False)
    try:
        alice, bob = people(store, "alice", "bob")
        recorder = Recorder(store)
        writer = GroupCommitWriter(store, recorder, max_batch=500)
        n = 3000
        writer.start()
        for i in range(n):
            writer.submit(sender(alice, bob, f"c{i}", text=f"message {i} " + "z" * 100))
        writer.stop()
        results = []
        while not recorder.batches.empty():
            results += [p.result for p in recorder.batches.get_nowait()[0]]
        assert len(results) == n
        assert all(isinstance(r, tuple) and isinstance(r[0], Message) for r in results)
        assert [r[0].seq for r in results] == list(range(1, n + 1))
        assert writer.stats.map_grows > 0
        assert writer.stats.failures == 0
        assert store.map_bytes > 64 * 1024
        assert store.stats()["messages_stored"] == n
        page, _, more = store.sync_page(bob.uid, 0, n, 1 << 30)
        assert (len(page), more) == (n, False)
    finally:
        store.close()
