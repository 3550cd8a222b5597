"""The indexer: follows the store's message stream into the index, in one thread (the
server runs it in a process of its own, process.py, so that its Python work never holds
the server's GIL; `start()` runs it as a thread of this process, for tools and tests).

It reads committed messages after the index's last position, in pages, turns
each into index changes (`changes_of`: a message is a `Doc`, a recall a
`Removal` of the message it recalls) and commits them with the new position
(index.py). It starts where the committed index ends, so after a crash or a
kill -9 it catches up from LMDB; it never reads what is not committed, so it
never indexes what a crash could take back. Its position is the stream head
of the snapshot it read once it has read every entry up to it (a reaction or
a mute takes a position without an entry), so caught up is `pos == head`.

Reindexing builds a new generation of the index beside the live one, in the
same thread, a page at a time between the live index's own catch-ups (so
searches keep working and stay current); when the new one has reached the
stream's head it becomes current: `CURRENT` names it (written and renamed
atomically) and the old directory is removed. A crash during a rebuild
leaves `CURRENT` on the old one, and the half-built directory is removed at
the next start.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from corpchat.store import Message
from corpchat.store.messages import head, messages_after, stream_page
from corpchat.store.records import SYSTEM

from .index import Change, Doc, Removal, SearchIndex, index_bytes

__all__ = ["CURRENT", "Indexer", "IndexerStats", "Reads", "changes_of", "current_generation",
           "file_names", "indexer_stats", "kind_of"]

log = logging.getLogger("corpchat.search")
CURRENT = "CURRENT"
LOCK_BUSY = "LockBusy"  # tantivy's error when another IndexWriter holds the directory
T = TypeVar("T")


class Reads(Protocol):
    """What the indexer reads the database through: the server's `Store`, or the
    indexer process's `StoreReader` (store/reader.py)."""

    def read(self, op: Callable[..., T], *args: Any, **ids: Any) -> T: ...


def changes_of(msg: Message) -> list[Change]:
    """What one entry of the stream changes in the index: the indexer's one input.

    `msg` is the message an entry names, as stored now: a message (indexed with
    its current text and file names, replacing any earlier version), or a
    recall (its message removed). A feature that changes what a message holds
    (an edit) adds an entry to the `stream` table naming the message at the
    change's position, and the message is indexed again from there.
    """
    if msg.kind == SYSTEM:
        if msg.event == "recall" and msg.ref:
            return [Removal(msg.conv, msg.ref)]
        return []
    names = file_names(msg)
    if msg.recalled or not (msg.text or names):
        return [Removal(msg.conv, msg.seq)]
    return [Doc(msg.conv, msg.seq, msg.pos, msg.time_ms, msg.sender, kind_of(msg), msg.text,
                names)]


def file_names(msg: Message) -> tuple[str, ...]:
    """The names of a message's attachments (revision 1.4's `attachments`, where the
    stored record has them)."""
    return tuple(getattr(a, "name", "") for a in getattr(msg, "attachments", ()))


def kind_of(msg: Message) -> str:
    """What `search.kind` filters on: "text", or the attachments' kind."""
    wire_kind = getattr(msg, "wire_kind", None)
    return (wire_kind() if callable(wire_kind) else None) or msg.kind


@dataclass(frozen=True, slots=True)
class IndexerStats:
    indexed_pos: int  # the last stream position the committed index holds
    lag_messages: int  # stream positions committed to LMDB but not yet searchable
    lag_seconds: float  # age of the oldest of them (0 when none)
    documents: int
    index_bytes: int
    commits: int
    reindexing: bool


@dataclass(slots=True)
class _Rebuild:
    generation: int
    index: SearchIndex
    pos: int = 0
    started: float = 0.0


class Indexer:
    """Owns the index directory `root` (data/search): its generations and its writer."""

    def __init__(self, store: Reads, root: str, *, now_ms: Callable[[], int],
                 page: int = 5000, pause_s: float = 0.05, heap_bytes: int = 64 << 20) -> None:
        self.store = store
        self.root = root
        self.now_ms = now_ms
        self.page = page
        self.pause_s = pause_s
        self.heap_bytes = heap_bytes
        self.generation = 0
        self._index: SearchIndex | None = None  # the current generation, once open()
        self.pos = 0
        self.commits = 0
        self.last_reindex: tuple[int, float] | None = None  # messages, seconds
        self.reindexes = 0  # rebuilds finished
        self._rebuild: _Rebuild | None = None
        self._rebuild_wanted = False
        self._rebuilt = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self, generation: int) -> SearchIndex:
        return SearchIndex(os.path.join(self.root, str(generation)), writable=True,
                           heap_bytes=self.heap_bytes)

    @property
    def is_open(self) -> bool:
        return self._index is not None

    @property
    def reindexing(self) -> bool:
        """A rebuild is asked for or under way."""
        return self._rebuild_wanted

    @property
    def index(self) -> SearchIndex:
        """The live index (searches read it; a rebuild swaps it)."""
        assert self._index is not None, "open() the indexer first"
        return self._index

    def open(self) -> None:
        """Open the current generation (taking tantivy's writer lock); idempotent."""
        if self._index is not None:
            return
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.generation = current_generation(self.root)
        try:
            self._index = self._open(self.generation)
        except (OSError, ValueError) as exc:  # unreadable (a power loss mid-commit, say)
            if LOCK_BUSY in str(exc):
                # Another writer still has it (the indexer of a server just killed, on
                # its way out): never a reason to throw the index away; retry later.
                raise
            log.error("search index %s unreadable (%s): rebuilding it from the database",
                      self.generation, exc)
            self._index = self._fresh()
        _remove_others(self.root, self.generation)  # with its lock held: no rebuild runs
        self.pos = self._index.last_pos()
        if self.pos > self.store.read(head):  # another database's index (a restored backup)
            log.warning("search index holds position %d, past the database's head: "
                        "rebuilding it", self.pos)
            self._index.close()
            self._index = self._fresh()
            self.pos = 0

    def _fresh(self) -> SearchIndex:
        """The current generation, emptied: the indexer refills it from position 0."""
        shutil.rmtree(os.path.join(self.root, str(self.generation)), ignore_errors=True)
        return self._open(self.generation)

    # ----- the thread -----

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._run, name="search-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if self._rebuild is not None:
            self._rebuild.index.close()
        if self._index is not None:
            self._index.close()

    def wake(self) -> None:
        """New messages are committed (the hub calls this after a commit): look now."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = self.step_or_recover()
            if busy is None:
                self._stop.wait(1.0)
                continue
            if not busy:
                self._wake.wait(1.0)
                self._wake.clear()
            self._stop.wait(self.pause_s)  # let commits gather into larger batches

    def step_or_recover(self) -> bool | None:
        """`step`, or None if it failed: the writers are then dropped, and the next
        step reopens the last committed state (wait a moment before it)."""
        try:
            return self.step()
        except Exception as exc:  # a broken index must not take the server down
            if LOCK_BUSY in str(exc):  # the indexer of a server just killed, on its way out
                log.warning("the search index is still locked by another indexer; retrying")
            else:
                log.exception("search indexer step failed; reopening it in a second")
            self._reopen()
            return None

    def step(self) -> bool:
        """Index one page of new messages (and one page of a rebuild); True if
        there may be more to do at once."""
        self.open()
        busy = self._follow(self.index, self.pos, self._commit_live)
        if self._rebuild is None and self._rebuild_wanted:
            self._begin_rebuild()
        if self._rebuild is not None:
            busy = self._rebuild_step(self._rebuild) or busy
        return busy

    def _reopen(self) -> None:
        """Drop the writers (and what they staged): the next step reopens the last
        committed state and reads the stream again from there; a rebuild restarts."""
        for index in (self._index, self._rebuild.index if self._rebuild else None):
            try:
                if index is not None:
                    index.close()
            except Exception:  # noqa: BLE001 - already broken; the lock goes with it
                pass
        self._index = self._rebuild = None

    def _follow(self, index: SearchIndex, pos: int,
                committed: Callable[[int, bool], None]) -> bool:
        """Index the next page of the stream after `pos`; True if it was a full page.

        Positions without a `stream` entry (reactions, mutes) hold nothing to
        index: a page that reaches the end of the stream covers everything up
        to the head read with it, so the index then holds exactly the head, and
        "caught up" is `pos == head` (stats, reindex, tests)."""
        stream_head, entries = self.store.read(stream_page, pos=pos, limit=self.page)
        full = len(entries) == self.page
        last = entries[-1][0] if full else max(pos, stream_head)
        if not entries:
            if last > pos:  # only positions that index nothing: no commit needed
                committed(last, False)
            return False
        index.apply([change for _, msg in entries for change in changes_of(msg)], pos=last)
        index.commit()
        committed(last, True)
        return full

    def _commit_live(self, pos: int, commit: bool) -> None:
        self.pos = pos
        self.commits += commit

    # ----- rebuilding -----

    def request_reindex(self) -> None:
        """Rebuild the index from LMDB while serving; `wait_reindexed` waits for it."""
        with self._rebuilt:
            self._rebuild_wanted = True
        self._wake.set()

    def wait_reindexed(self, timeout_s: float) -> bool:
        with self._rebuilt:
            return self._rebuilt.wait_for(lambda: not self._rebuild_wanted, timeout_s)

    def _begin_rebuild(self) -> None:
        generation = self.generation + 1
        shutil.rmtree(os.path.join(self.root, str(generation)), ignore_errors=True)
        self._rebuild = _Rebuild(generation, self._open(generation), started=time.monotonic())

    def _rebuild_step(self, rebuild: _Rebuild) -> bool:
        def advanced(pos: int, _commit: bool) -> None:
            rebuild.pos = pos

        more = self._follow(rebuild.index, rebuild.pos, advanced)
        if rebuild.pos == 0 and not more:  # an empty stream: record position 0 once
            rebuild.index.apply([], pos=0)
            rebuild.index.commit()
        if not more and rebuild.pos >= self.pos:
            self._swap(rebuild)
        return True

    def _swap(self, rebuild: _Rebuild) -> None:
        """Make the rebuilt generation current (it holds everything the live one does)."""
        _write_current(self.root, rebuild.generation)
        old, old_generation = self.index, self.generation
        self._index, self.generation, self.pos = rebuild.index, rebuild.generation, rebuild.pos
        self._rebuild = None
        old.close()
        shutil.rmtree(os.path.join(self.root, str(old_generation)), ignore_errors=True)
        self.last_reindex = (self.index.documents(), time.monotonic() - rebuild.started)
        self.reindexes += 1
        log.info("search index rebuilt: %d documents in %.1f s", *self.last_reindex)
        with self._rebuilt:
            self._rebuild_wanted = False
            self._rebuilt.notify_all()

    # ----- figures -----

    def stats(self) -> IndexerStats:
        return indexer_stats(self.store, self.now_ms(), self.pos, self._index, self.commits,
                             self._rebuild_wanted)


def indexer_stats(store: Reads, now_ms: int, pos: int, index: SearchIndex | None,
                  commits: int, reindexing: bool) -> IndexerStats:
    """The figures of an index holding the stream up to `pos` (index None: not open yet)."""
    last = store.read(head)
    oldest = store.read(messages_after, pos=pos, limit=1) if last > pos else []
    seconds = max(0.0, (now_ms - oldest[0][1].time_ms) / 1000) if oldest else 0.0
    documents, size = (index.documents(), index_bytes(index.path)) if index else (0, 0)
    return IndexerStats(pos, max(0, last - pos), seconds, documents, size, commits, reindexing)


def current_generation(root: str) -> int:
    """The generation `CURRENT` names (1 when there is none yet)."""
    try:
        with open(os.path.join(root, CURRENT)) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return 1


def _write_current(root: str, generation: int) -> None:
    path = os.path.join(root, CURRENT)
    with open(path + ".tmp", "w") as f:
        f.write(f"{generation}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_others(root: str, generation: int) -> None:
    """Half-built generations from a rebuild a crash interrupted."""
    for entry in os.scandir(root):
        if entry.is_dir() and entry.name != str(generation):
            shutil.rmtree(entry.path, ignore_errors=True)
