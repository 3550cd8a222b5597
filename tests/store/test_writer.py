"""The group-commit writer: batches, commit-before-report, failures, map growth."""

from __future__ import annotations

import os
import queue
import threading
import time

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
    page, _, _ = store.sync_page(uid=bob.uid, since=0, limit=100, max_bytes=1 << 20)
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
    # 128 KiB: the schema's 60-odd named databases alone filled a 64 KiB map before
    # the first user was stored (the open platform's tables, issue 23, passed the edge).
    store = Store(os.fspath(tmp_path / "db"), map_bytes=128 * 1024, durable=False)
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
        assert store.map_bytes > 128 * 1024
        assert store.stats()["messages_stored"] == n
        page, _, more = store.sync_page(uid=bob.uid, since=0, limit=n, max_bytes=1 << 30)
        assert (len(page), more) == (n, False)
    finally:
        store.close()


# ----- the bulk lane -----


def holder():
    """An operation that keeps the writer busy until released, and the events to do so."""
    running, release = threading.Event(), threading.Event()

    def op(w):
        running.set()
        release.wait(TIMEOUT_S)

    return op, running, release


def contexts(batches: list[list[Pending]]) -> list[list[object]]:
    return [[p.context for p in batch] for batch in batches]


def mixed(batches: list[list[Pending]], bulk: set[object]) -> list[list[object]]:
    """The batches holding a bulk op (its context in `bulk`) and anything else."""
    return [b for b in contexts(batches) if set(b) & bulk and len(b) > 1]


def test_interactive_ops_commit_first_and_bulk_ops_one_per_commit(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, bulk_max_wait_s=TIMEOUT_S)
    hold, running, release = holder()
    writer.start()
    writer.submit(hold, context="hold")
    assert running.wait(TIMEOUT_S)
    for i in range(4):  # interleaved while the writer is busy
        writer.submit(sender(alice, carol, f"b{i}"), context=f"b{i}", bulk=True)
        writer.submit(sender(alice, bob, f"i{i}"), context=f"i{i}")
        writer.submit(sender(alice, bob, f"i{i}x"), context=f"i{i}x")
    assert writer.queued == 12
    release.set()
    batches = [recorder.next()[0] for _ in range(6)]
    writer.stop()
    assert not mixed(batches, {"b0", "b1", "b2", "b3"})
    assert contexts(batches) == [  # each lane in submission order
        ["hold"],
        ["i0", "i0x", "i1", "i1x", "i2", "i2x", "i3", "i3x"],
        ["b0"], ["b1"], ["b2"], ["b3"],
    ]
    assert all(not isinstance(p.result, BaseException) for b in batches for p in b)
    page, _, _ = store.sync_page(uid=carol.uid, since=0, limit=100, max_bytes=1 << 20)
    assert [m.client_msg_id for m in page] == ["b0", "b1", "b2", "b3"]
    assert (writer.stats.batches, writer.stats.bulk_batches) == (6, 4)
    assert writer.queued == 0


def test_interactive_ops_arriving_while_a_bulk_op_waits_out_the_gap_go_first(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, commit_gap_s=0.1, bulk_max_wait_s=TIMEOUT_S)
    hold, running, release = holder()
    writer.start()
    writer.submit(hold, context="hold")
    assert running.wait(TIMEOUT_S)
    writer.submit(sender(alice, carol, "b0"), context="b0", bulk=True)
    release.set()
    assert contexts([recorder.next()[0]]) == [["hold"]]
    # The next commit is due 0.1 s after the last: the bulk op waits for it, and
    # interactive ops submitted meanwhile take that commit.
    writer.submit(sender(alice, bob, "i0"), context="i0")
    writer.submit(sender(alice, bob, "i1"), context="i1")
    batches = [recorder.next()[0] for _ in range(2)]
    writer.stop()
    assert contexts(batches) == [["i0", "i1"], ["b0"]]


def test_a_bulk_op_is_not_starved_by_a_stream_of_interactive_ops(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    commits: list[tuple[list[Pending], int]] = []  # each batch and what was still queued
    bulk_done = threading.Event()

    def on_commit(batch: list[Pending]) -> None:
        commits.append((batch, writer.queued))
        if any(p.context == "bulk" for p in batch):
            bulk_done.set()

    writer = GroupCommitWriter(store, on_commit, bulk_max_wait_s=0.005)
    limit = 10_000
    running: queue.Queue[int] = queue.Queue()
    successor_queued = [threading.Event() for _ in range(limit)]

    def chat(i: int):
        def op(w):  # finishes only once the feeder has queued the next one
            running.put(i)
            successor_queued[i].wait(TIMEOUT_S)
            return w.send_direct(alice, bob, f"i{i}", "hi", NOW)
        return op

    stopped_by: list[str] = []

    def feed() -> None:  # another client, chatting until the bulk op is in (or a bound)
        deadline = time.monotonic() + TIMEOUT_S / 2
        try:
            for i in range(limit - 1):
                if running.get(timeout=TIMEOUT_S) != i:
                    stopped_by.append("out of order")
                    return
                if bulk_done.is_set():
                    stopped_by.append("bulk committed")
                    return
                if time.monotonic() > deadline:
                    break
                writer.submit(chat(i + 1), context=i + 1)
                successor_queued[i].set()
            stopped_by.append("bound reached")
        finally:
            for event in successor_queued:
                event.set()

    writer.submit(chat(0), context=0)
    writer.submit(sender(alice, carol, "bulk"), context="bulk", bulk=True)
    writer.start()
    feeder = threading.Thread(target=feed)
    feeder.start()
    feeder.join(TIMEOUT_S)
    writer.stop()
    assert stopped_by == ["bulk committed"]  # it went in while the chat went on
    batches = [batch for batch, _ in commits]
    [(at, (bulk_batch, still_queued))] = [
        (n, c) for n, c in enumerate(commits) if any(p.context == "bulk" for p in c[0])]
    assert [p.context for p in bulk_batch] == ["bulk"]
    assert still_queued > 0  # it took a commit ahead of a pending interactive op
    assert at < len(commits) - 1  # and the chat resumed after it
    chat_order = [c for c in sum(contexts(batches), []) if c != "bulk"]
    assert chat_order == list(range(len(chat_order)))
    assert not mixed(batches, {"bulk"})
    assert writer.stats.bulk_batches == 1
    assert all(not isinstance(p.result, BaseException) for b in batches for p in b)


def test_stop_commits_both_lanes_interactive_first(store):
    alice, bob, carol = people(store, "alice", "bob", "carol")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, bulk_max_wait_s=TIMEOUT_S)
    for i in range(3):  # queued before the thread starts
        writer.submit(sender(alice, carol, f"b{i}"), context=f"b{i}", bulk=True)
        writer.submit(sender(alice, bob, f"i{i}"), context=f"i{i}")
    writer.start()
    writer.stop()
    batches = []
    while not recorder.batches.empty():
        batches.append(recorder.batches.get_nowait()[0])
    assert contexts(batches) == [["i0", "i1", "i2"], ["b0"], ["b1"], ["b2"]]
    assert store.stats()["messages_stored"] == 6
    assert writer.queued == 0
    with pytest.raises(StorageError):
        writer.submit(sender(alice, carol, "late"), bulk=True)


def test_a_lone_write_after_a_lone_write_commits_at_once_whatever_the_gap(store):
    """A client that waits for each ack never waits for company that cannot come."""
    alice, bob = people(store, "alice", "bob")
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, commit_gap_s=600, commit_share_s=1e-9)
    writer.start()
    for i in range(3):  # each within recorder.next's 10 s, far inside the 600 s gap
        writer.submit(sender(alice, bob, f"c{i}"), context=i)
        assert contexts([recorder.next()[0]]) == [[i]]
    writer.stop()


def company(store, writer, recorder):
    """Make the writer's last batch one of two operations (writes came in company)."""
    alice, bob = people(store, "alice", "bob")
    hold, running, release = holder()
    writer.start()
    writer.submit(hold, context="hold")
    assert running.wait(TIMEOUT_S)
    writer.submit(sender(alice, bob, "a"), context="a")
    writer.submit(sender(alice, bob, "b"), context="b")
    release.set()
    assert contexts([recorder.next()[0], recorder.next()[0]]) == [["hold"], ["a", "b"]]
    return alice, bob


def test_writes_in_company_wait_out_the_gap_for_more(store):
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, commit_gap_s=0.5)  # no share: the gap
    alice, carol = company(store, writer, recorder)
    writer.submit(sender(alice, carol, "c"), context="c")
    writer.submit(sender(alice, carol, "d"), context="d")
    batch, _ = recorder.next()
    writer.stop()
    assert contexts([batch]) == [["c", "d"]]


def test_a_commit_in_company_goes_once_enough_writes_share_its_measured_cost(store):
    """With a share as big as the whole commit's CPU, one write is company enough: it is
    committed as it arrives (the writer woken for it), not when the 600 s gap ends."""
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, commit_gap_s=600, commit_share_s=1.0)
    alice, carol = company(store, writer, recorder)
    assert writer.stats.wanted == 1 and writer.stats.commit_cpu_s > 0
    writer.submit(sender(alice, carol, "c"), context="c")
    batch, _ = recorder.next()
    writer.stop()
    assert contexts([batch]) == [["c"]]


def test_the_writer_waits_for_company_that_does_not_come_and_goes_on(store):
    """After a batch in company nothing comes for a while (a bulk gap shorter than the
    company gap must not end the wait as if there were work): the next write commits."""
    recorder = Recorder(store)
    writer = GroupCommitWriter(store, recorder, commit_gap_s=0.2, commit_share_s=1e-9,
                               bulk_gap_s=0.0)
    alice, bob = company(store, writer, recorder)
    time.sleep(0.3)  # the company gap ends with nothing submitted
    writer.submit(sender(alice, bob, "c"), context="c")
    batch, _ = recorder.next()
    writer.stop()
    assert contexts([batch]) == [["c"]]
