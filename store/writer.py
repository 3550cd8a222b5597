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


def _inline(fn: Callable[[], None]) -> None:
    fn()


class GroupCommitWriter:
    """Gathers pending writes and commits them in batches on its own thread."""

    def __init__(self, store: Store, on_commit: Callable[[list[Pending]], None], *,
                 max_batch: int = 4096, commit_gap_s: float = 0.0,
                 bulk_max_wait_s: float = 0.05,
                 run_exclusive: Callable[[Callable[[], None]], None] = _inline) -> None:
        self.store = store
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.commit_gap_s = commit_gap_s
        self.bulk_max_wait_s = bulk_max_wait_s
        self._last_commit = 0.0
        self._last_bulk = 0.0  # when a bulk operation was last taken
        self.run_exclusive = run_exclusive
        self.stats = WriterStats()
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
            if self._asleep:  # a busy writer takes it with the next batch anyway
                self._wake.notify()

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
            while not self._pending and not self._bulk and not self._stopping:
                self._asleep = True
                self._wake.wait()
                self._asleep = False
            if not self._pending and not self._bulk:
                return None
            # Commits closer together than commit_gap_s wait for company: an fsync
            # costs the same for one write as for fifty, in time and in CPU.
            wait = self._last_commit + self.commit_gap_s - time.monotonic()
            if wait > 0 and len(self._pending) < self.max_batch and not self._stopping:
                self._wake.wait(wait)
            if self._bulk and (not self._pending or self._bulk_overdue()):
                self._last_bulk = time.monotonic()
                return [self._bulk.popleft()[1]], True
            n = min(len(self._pending), self.max_batch)
            return [self._pending.popleft() for _ in range(n)], False

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
            wtxn.commit()
        except lmdb.MapFullError:
            wtxn.abort()
            raise MapFull() from None
        except BaseException:
            wtxn.abort()
            raise

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
