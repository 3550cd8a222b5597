"""The indexer in a process of its own, so that indexing never stalls the event loop.

Why a process. Indexing is Python work between tantivy's calls: reading and
decoding a page of messages from LMDB, cutting text into terms (analyzer.py),
building documents — about 30 µs a message, all of it holding the GIL
(tantivy's own calls release it). In a thread of the server that was enough
to stall the event loop: each time the loop released the GIL for a system
call (every socket write of a fan-out), the indexer thread took it and the
loop waited for the interpreter's switch interval (5 ms) to get it back, so
at 5,000 messages/s the direct-message ack p99 went from 7 ms to 60 ms
(docs/benchmarks.md, "Search: the indexer off the event loop"). A process
has its own GIL, and at a lower priority (`[search] indexer_nice`) the
kernel runs the server first whenever both want the core.

How. The server keeps an `IndexerProcess`: it starts the child (through a
fork server, so each start is a fork of a small clean process, not a fresh
interpreter), tells it when batches are committed (`wake`: a byte down a
non-blocking pipe, never a lock the child could die holding) and when to
rebuild or stop (messages on a second pipe), and holds a read-only view of
the live index generation for searches. The child runs the `Indexer` of
indexer.py over a read-only view of LMDB (store/reader.py) and reports after
each step: the position the committed index holds, commits, the generation,
rebuilds. The server reloads its view of the index before it believes a
report, so a reported position is always searchable. If the child dies, the
server starts another a second later; it resumes from the index's last
commit. The child leaves when the server's end of its pipe closes (the
server stopped or was killed).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from corpchat.store import Store
from corpchat.store.reader import StoreReader

from .index import SearchIndex
from .indexer import Indexer, IndexerStats, indexer_stats

__all__ = ["IndexerProcess", "IndexerSettings", "Report"]

log = logging.getLogger("corpchat.search")
RESTART_PAUSE_S = 1.0


@dataclass(frozen=True, slots=True)
class IndexerSettings:
    page: int
    pause_s: float
    heap_bytes: int
    nice: int
    # How the child logs: the server passes a picklable call that sets up logging as its
    # own (level and format: `--log-format json` lines from the indexer too); None: plain.
    log_setup: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """What the child tells the server after each step."""

    pos: int  # the committed index holds the stream up to here
    commits: int
    generation: int
    reindexes: int  # rebuilds finished since the child started
    last_reindex: tuple[int, float] | None
    reindexing: bool


# ----- the child ---------------------------------------------------------------


def child_main(db_path: str, root: str, settings: IndexerSettings, link: Connection,
               wakes: Connection) -> None:
    """The indexer process: follow the stream until the server says stop or goes away."""
    # A terminal's ^C and a SIGTERM to the whole group (systemd's default KillMode, `timeout`)
    # are for the server to handle: it tells the child to stop, and if the server dies the
    # link's end closes and the child leaves on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(settings.nice)
    if settings.log_setup is not None:
        settings.log_setup()
    else:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s (indexer): %(message)s")
    store = StoreReader(db_path)
    indexer = Indexer(store, root, now_ms=lambda: 0, page=settings.page,
                      pause_s=settings.pause_s, heap_bytes=settings.heap_bytes)
    try:
        _follow(indexer, link, wakes)
    finally:
        indexer.stop()
        store.close()


def _follow(indexer: Indexer, link: Connection, wakes: Connection) -> None:
    sent, commits, committed_at = None, 0, 0.0
    while True:
        busy = indexer.step_or_recover()
        if indexer.commits != commits:
            commits, committed_at = indexer.commits, time.monotonic()
        report = Report(indexer.pos, indexer.commits, indexer.generation, indexer.reindexes,
                        indexer.last_reindex, indexer.reindexing)
        if indexer.is_open and report != sent:  # (not open: it failed, and retries)
            try:
                link.send(report)
            except OSError:  # the server is gone
                return
            sent = report
        if busy is None:  # failed: retry in a while, whatever wakes come meanwhile
            rest = RESTART_PAUSE_S
        else:
            if not _wait(link, wakes, 0.0 if busy else 1.0, indexer):
                return
            # Commits at least pause_s apart, so that messages gather into larger ones
            # (each fsyncs); a message after a quiet spell is indexed at once, and a
            # backlog (a full page: a restart, a burst) in full pages back to back.
            rest = 0.0 if busy else committed_at + indexer.pause_s - time.monotonic()
        if rest > 0 and link.poll(rest) and not _wait(link, wakes, 0.0, indexer):
            return


def _wait(link: Connection, wakes: Connection, timeout: float, indexer: Indexer) -> bool:
    """Wait for a wake, a request or `timeout`; False when the server wants us gone."""
    ready = multiprocessing.connection.wait([link, wakes], timeout)
    if wakes in ready:
        os.read(wakes.fileno(), 65536)  # any number of wakes is one
    while link in ready and link.poll():
        try:
            request = link.recv()
        except (EOFError, OSError):  # the server's end closed: it stopped or died
            return False
        if request == "stop":
            return False
        if request == "reindex":
            indexer.request_reindex()
    return True


# ----- the server's side --------------------------------------------------------


class IndexerProcess:
    """The server's handle on the indexer process, and its view of the live index."""

    def __init__(self, store: Store, root: str, *, now_ms: Callable[[], int],
                 settings: IndexerSettings) -> None:
        self.store = store
        self.root = root
        self.now_ms = now_ms
        self.settings = settings
        self.pos = 0
        self.commits = 0
        self.generation = 0
        self.last_reindex: tuple[int, float] | None = None
        self._index: SearchIndex | None = None
        self._report: Report | None = None
        self._changed = threading.Condition()
        self._reindex_wanted = False
        self._reindexes_seen = 0
        self._commit_base = 0
        self._stopping = False
        self._child: Any = None  # multiprocessing's Process of the context
        self._link: Connection | None = None
        self._wakes: Connection | None = None
        self._listener: threading.Thread | None = None

    @property
    def index(self) -> SearchIndex | None:
        """The live generation, read-only (searches read it); None until the child has
        opened it, moments after the start (or longer on a loaded machine)."""
        return self._index

    @property
    def pid(self) -> int | None:
        """The indexer process's pid (None before start)."""
        return None if self._child is None else self._child.pid

    def start(self) -> None:
        """Start the child; it opens the index by itself (the server does not wait)."""
        self._spawn()
        self._listener = threading.Thread(target=self._listen, name="search-indexer-link",
                                          daemon=True)
        self._listener.start()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # each child: a fork of a warm process
        link, child_link = context.Pipe()
        wake_reader, wake_writer = context.Pipe(duplex=False)
        os.set_blocking(wake_writer.fileno(), False)
        self._child = context.Process(
            target=child_main, name="corpchat-search-indexer", daemon=True,
            args=(self.store.path, self.root, self.settings, child_link, wake_reader))
        self._child.start()
        child_link.close()  # the child's ends: ours closed, so its death is our EOF
        wake_reader.close()
        with self._changed:
            self._link, self._wakes = link, wake_writer
            self._reindexes_seen = 0  # the new child counts its rebuilds from 0
            self._commit_base = self.commits  # and its commits: ours only ever grow
            if self._reindex_wanted:  # asked of the child that died: ask this one
                link.send("reindex")

    def wake(self) -> None:
        """New messages are committed (called by the writer thread): never blocks."""
        wakes = self._wakes
        if wakes is None:
            return
        try:
            os.write(wakes.fileno(), b"\0")
        except (BlockingIOError, OSError):  # full: a wake is already waiting; closed: restarting
            pass

    def _listen(self) -> None:
        """Read the child's reports; restart it when it dies (until stop())."""
        while True:
            link = self._link
            assert link is not None
            try:
                report = link.recv()
            except (EOFError, OSError):
                if self._stopping:
                    return
                self._child.join(5)
                log.error("the search indexer process ended (exit code %s): starting another",
                          self._child.exitcode)
                time.sleep(RESTART_PAUSE_S)
                if self._stopping:
                    return
                self._spawn()
                continue
            try:
                self._believe(report)
            except Exception:  # (EMFILE, say) not believed: the next report tries again
                log.exception("the search index could not be reloaded")

    def _believe(self, report: Report) -> None:
        """Make the reported state searchable here, then take it as the state."""
        index = self._index
        if index is None or report.generation != self.generation:
            index = SearchIndex(os.path.join(self.root, str(report.generation)))
        else:  # (a report means something changed; a new child counts commits from 0)
            index.reload()
        with self._changed:
            self._index, self.generation = index, report.generation
            self.pos, self.commits = report.pos, self._commit_base + report.commits
            self.last_reindex = report.last_reindex
            if report.reindexes > self._reindexes_seen:
                self._reindexes_seen = report.reindexes
                self._reindex_wanted = False
            self._report = report
            self._changed.notify_all()

    def request_reindex(self) -> None:
        with self._changed:
            self._reindex_wanted = True
        assert self._link is not None
        self._link.send("reindex")

    def wait_reindexed(self, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._reindex_wanted, timeout_s)

    def stop(self) -> None:
        self._stopping = True
        if self._link is not None:
            try:
                self._link.send("stop")
            except OSError:  # already gone
                pass
        if self._child is not None:
            self._child.join(30)
            if self._child.is_alive():
                log.error("the search indexer process did not stop: killing it")
                self._child.kill()
                self._child.join()
        if self._listener is not None:
            self._listener.join(5)  # it sees the child's end close
        for conn in (self._link, self._wakes):
            if conn is not None:
                conn.close()

    def stats(self) -> IndexerStats:
        report = self._report
        reindexing = self._reindex_wanted or (report is not None and report.reindexing)
        return indexer_stats(self.store, self.now_ms(), self.pos, self._index, self.commits,
                             reindexing)

