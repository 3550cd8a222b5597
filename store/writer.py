"""The group-commit writer: one thread, one transaction per batch.

Callers on the event loop `submit()` write operations; the writer thread
takes everything pending (up to `max_batch`), runs the operations in order
inside one LMDB write transaction, commits (one fsync for the whole batch),
and only then hands the batch with its results to `on_commit`, called on
the writer thread (the server forwards it to the event loop). Nothing is
reported before its commit returns, which is what makes an ack safe.

There are two lanes. Interactive operations (the default: sends, acks, admin
writes) are batched as above. Bulk operations (`submit(..., bulk=True)`, a
mass message's chunks) never share a commit with interactive ones, so a chat
message's fsync never waits behind a chunk's writes: while any interactive
operation is pending the batch is interactive only, and otherwise it is ONE
bulk operation (already a bounded chunk, which bounds how long an interactive
write arriving meanwhile waits). So that a steady stream of interactive
writes cannot starve the bulk lane, a bulk operation that has waited
`bulk_max_wait_s` (since its submission or the start of the previous bulk
commit, whichever is later) gets the next commit to itself. Each lane
commits in submission order, but the lanes do not keep order between them:
a bulk operation submitted before an interactive one may commit after it,
or, when overdue, before interactive ones submitted earlier. That is safe
for a mass message, whose chunk touches only its own direct conversations
and whose task awaits each chunk's commit before submitting the next; never
use the bulk lane for a write whose order relative to interactive writes
matters.

An operation is a callable taking the batch's `WriteTxn`. It checks before
it writes and returns a `Refused` result rather than raising. If one raises
anyway, the whole transaction is aborted and the batch runs again without
it (that operation's result is the exception). When the map is full the
transaction is aborted, the map grown through `run_exclusive` (which must
run its function while no other transaction is open in the process, e.g. on
the event-loop thread between tasks), and the batch runs again. Any other
storage failure refuses the whole batch with StorageError; later batches
are tried afresh, so service resumes when space returns.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lmdb

from .errors import MapFull, StorageError
from .store import Store, WriteTxn

log = logging.getLogger("corpchat.store.writer")

WriteOp = Callable[[WriteTxn], Any]
FEW = 4  # a commit of at most this many operations measures a commit's own cost


@dataclass(slots=True)
class Pending:
    """A submitted operation, its caller's context and, after commit, its result."""

    op: WriteOp
    context: Any = None
    result: Any = None


@dataclass(slots=True)
class WriterStats:
    batches: int = 0
    ops: int = 0
    max_batch: int = 0
    bulk_batches: int = 0  # commits that held a bulk operation (one each)
    commit_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=1024))
    map_grows: int = 0
    failures: int = 0
    # Cumulative commit-time histogram; the last bucket is "+Inf".
    commit_bounds_s: tuple[float, ...] = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                          0.25, 1.0)
    commit_buckets: list[int] = field(default_factory=lambda: [0] * 11)
    commit_total_s: float = 0.0
    # The CPU a commit itself costs the writer thread whatever the batch holds (LMDB's
    # meta page and its two fdatasyncs): an average over the last commits of at most
    # FEW operations (a bigger one adds its own pages' writes, ~3 µs per operation).
    commit_cpu_s: float = 0.0
    wanted: int = 1  # the batch that shares that cost at commit_share_s per operation


def _inline(fn: Callable[[], None]) -> None:
    fn()


class GroupCommitWriter:
    """Gathers pending writes and commits them in batches on its own thread."""

    def __init__(self, store: Store, on_commit: Callable[[list[Pending]], None], *,
                 max_batch: int = 4096, commit_gap_s: float = 0.0,
                 commit_share_s: float = 0.0, bulk_gap_s: float | None = None,
                 bulk_max_wait_s: float = 0.05,
                 run_exclusive: Callable[[Callable[[], None]], None] = _inline) -> None:
        self.store = store
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.commit_gap_s = commit_gap_s
        self.commit_share_s = commit_share_s
        # a bulk operation alone commits at least this long after the last commit began
        self.bulk_gap_s = commit_gap_s if bulk_gap_s is None else bulk_gap_s
        self._company = False  # the last batch held more than one operation
        self._gathering = False  # waiting for company: submit() wakes it at `wanted`
        self.bulk_max_wait_s = bulk_max_wait_s
        self._last_commit = 0.0
        self._last_bulk = 0.0  # when a bulk operation was last taken
        self.run_exclusive = run_exclusive
        self.stats = WriterStats()
        if commit_share_s <= 0:  # no share given: every commit waits out the gap
            self.stats.wanted = max_batch
        self._pending: deque[Pending] = deque()
        self._bulk: deque[tuple[float, Pending]] = deque()  # (submitted at, operation)
        self._wake = threading.Condition()
        self._stopping = False
        self._asleep = False  # waiting for work: only then does submit() notify
        self._thread = threading.Thread(target=self._run, name="corpchat-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: WriteOp, context: Any = None, *, bulk: bool = False) -> None:
        """Queue an operation (thread-safe, never blocks on I/O).

        `bulk=True` puts it in the bulk lane: committed alone, after pending
        interactive operations, and in no fixed order relative to them.
        """
        with self._wake:
            if self._stopping:
                raise StorageError("the writer is stopped")
            if bulk:
                self._bulk.append((time.monotonic(), Pending(op, context)))
            else:
                self._pending.append(Pending(op, context))
            if self._asleep or (self._gathering and len(self._pending) >= self.stats.wanted):
                self._wake.notify()  # a busy writer takes it with the next batch anyway

    @property
    def queued(self) -> int:
        return len(self._pending) + len(self._bulk)

    def stop(self) -> None:
        """Commit everything already submitted, then end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _take(self) -> tuple[list[Pending], bool] | None:
        """The next batch and whether it is a bulk one; None once stopped and empty."""
        with self._wake:
            self._gather()
            if not self._pending and not self._bulk:
                return None
            if self._bulk and (not self._pending or self._bulk_overdue()):
                self._last_bulk = time.monotonic()
                return [self._bulk.popleft()[1]], True
            n = min(len(self._pending), self.max_batch)
            self._company = n > 1
            return [self._pending.popleft() for _ in range(n)], False

    def _gather(self) -> None:
        """Wait for work, then for company (the lock held).

        A commit's own cost (the page writes and fdatasyncs, `commit_cpu_s`) is the
        same for one operation as for fifty, so while operations come in company
        (the last batch held more than one) the next commit waits for
        `stats.wanted` of them — enough that each pays at most `commit_share_s` of
        it — but never past `commit_gap_s` after the last commit began. A lone
        operation after a lone one (a client waiting for each ack) commits at once.
        Without a share (`commit_share_s` 0) every commit waits out the gap, company
        or not: the fixed gap of before. A bulk operation alone waits `bulk_gap_s`.
        Waiting for company, the writer is woken by the operation that makes the
        batch big enough or by its deadline, not by every submit.
        """
        while not self._stopping:
            pending, now = len(self._pending), time.monotonic()
            if pending >= self.stats.wanted or pending >= self.max_batch:
                return
            alone = not self._company and self.commit_share_s > 0  # nobody is coming
            if pending:
                wait = self._last_commit + self.commit_gap_s - now
                if wait <= 0 or (pending == 1 and alone and not self._bulk):
                    return
            elif self._bulk:  # a bulk operation alone: it never shares its commit
                wait = self._last_commit + self.bulk_gap_s - now
                if wait <= 0:
                    return
            else:  # nothing yet: wait for company until the gap ends, else sleep
                wait = self._last_commit + self.commit_gap_s - now
                if wait <= 0 or alone:
                    self._asleep = True
                    self._wake.wait()
                    self._asleep = False
                    continue
            self._gathering = True
            self._wake.wait(wait)
            self._gathering = False

    def _bulk_overdue(self) -> bool:
        if self._stopping:  # everything commits now anyway: interactive first
            return False
        waiting_since = max(self._bulk[0][0], self._last_bulk)
        return time.monotonic() - waiting_since >= self.bulk_max_wait_s

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            batch, bulk = taken
            self._last_commit = time.monotonic()
            self._commit(batch, bulk)
            try:
                self.on_commit(batch)
            except Exception:  # the consumer's bug must not stop durable writes
                log.exception("on_commit failed")

    def _commit(self, batch: list[Pending], bulk: bool) -> None:
        failed: set[int] = set()
        while True:
            started = time.perf_counter()
            try:
                self._apply(batch, failed)
            except MapFull:
                with self.store.resize_lock:
                    self.run_exclusive(self._grow)
                continue
            except _OpFailed as exc:
                failed.add(exc.index)
                batch[exc.index].result = exc.error
                continue
            except (StorageError, lmdb.Error) as exc:
                log.error("batch of %d refused: %s", len(batch), exc)
                self.stats.failures += 1
                error = exc if isinstance(exc, StorageError) else StorageError(str(exc))
                for p in batch:
                    p.result = error
                return
            self._record(len(batch), time.perf_counter() - started, bulk)
            return

    def _apply(self, batch: list[Pending], failed: set[int]) -> None:
        try:
            wtxn = self.store.begin_write()
        except lmdb.Error as exc:
            raise StorageError(str(exc)) from exc
        try:
            for i, p in enumerate(batch):
                if i not in failed:
                    p.result = _run_op(p.op, wtxn, i)
            started = time.thread_time()
            wtxn.commit()
            if len(batch) <= FEW:
                self._measure_commit(time.thread_time() - started)
        except lmdb.MapFullError:
            wtxn.abort()
            raise MapFull() from None
        except BaseException:
            wtxn.abort()
            raise

    def _measure_commit(self, cpu_s: float) -> None:
        """Fold one commit's CPU into the average and size the next batch by it."""
        s = self.stats
        s.commit_cpu_s = cpu_s if not s.commit_cpu_s else 0.8 * s.commit_cpu_s + 0.2 * cpu_s
        if self.commit_share_s > 0:
            s.wanted = max(1, min(self.max_batch, math.ceil(s.commit_cpu_s / self.commit_share_s)))
        else:  # no share given: every commit waits out the gap, as a fixed gap did
            s.wanted = self.max_batch

    def _grow(self) -> None:
        size = self.store.grow_map()
        self.stats.map_grows += 1
        log.info("LMDB map grown to %d bytes", size)

    def _record(self, n: int, seconds: float, bulk: bool) -> None:
        s = self.stats
        s.batches += 1
        s.bulk_batches += bulk
        s.ops += n
        s.max_batch = max(s.max_batch, n)
        s.commit_seconds.append(seconds)
        s.commit_total_s += seconds
        s.commit_buckets[bisect.bisect_left(s.commit_bounds_s, seconds)] += 1


class _OpFailed(Exception):
    def __init__(self, index: int, error: BaseException) -> None:
        self.index = index
        self.error = error


def _run_op(op: WriteOp, wtxn: WriteTxn, index: int) -> Any:
    try:
        return op(wtxn)
    except lmdb.Error:
        raise
    except Exception as exc:
        log.exception("write operation failed")
        raise _OpFailed(index, exc) from exc
