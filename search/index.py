"""The tantivy index of messages: its schema, its one writer, its searches.

One document per message (key "conv:seq"), holding the message's terms (see
analyzer.py) and the numbers the filters need as fast fields; no text is
stored — a hit's text and its visibility are read from the store at query
time. A `Doc` for a key that is already indexed replaces it (an edit); a
`Removal` deletes it (a recall).

The index remembers the last stream position it holds in a meta document
(key "_meta", its `pos` field) that `apply` rewrites in the same tantivy
commit as the documents: a commit is atomic, so after a crash the index
holds exactly the messages up to that position, and the indexer resumes
after it — nothing missed, nothing twice (and a replayed `Doc` would replace
its own copy anyway).

tantivy allows one IndexWriter per index, guarded by a lock file: only the
indexer (in its own process, process.py) opens one (`writable=True`); the
server's searches use a read-only `SearchIndex`, which `reload()`s when the
indexer reports a commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import tantivy

from .analyzer import index_text

__all__ = ["Candidate", "Doc", "Removal", "SearchIndex", "index_bytes"]

META_KEY = "_meta"


@dataclass(frozen=True, slots=True)
class Doc:
    """A message as the index holds it; indexing it again replaces it."""

    conv: int
    seq: int
    pos: int
    time_ms: int
    sender: str  # handle
    kind: str  # "text", "file", "image", …
    text: str
    names: tuple[str, ...] = ()  # attachments' file names: found like text


@dataclass(frozen=True, slots=True)
class Removal:
    """A message that must no longer be found (recalled)."""

    conv: int
    seq: int


Change = Doc | Removal


@dataclass(frozen=True, slots=True)
class Candidate:
    """A hit as the index reports it, before the store decides whether it is shown."""

    conv: int
    seq: int
    pos: int
    score: float


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("key", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("sender", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    for name in ("conv", "pos", "time"):
        builder.add_unsigned_field(name, indexed=True, fast=True)
    builder.add_unsigned_field("seq", fast=True)
    return builder.build()


SCHEMA = _schema()


def doc_key(conv: int, seq: int) -> str:
    return f"{conv}:{seq}"


def index_bytes(path: str) -> int:
    """The size on disk of an index directory.

    tantivy creates and removes temporary files while it commits and merges: a file
    listed by scandir may be gone by its stat, and then it no longer counts.
    """
    total = 0
    for entry in os.scandir(path):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except FileNotFoundError:
            continue
    return total


class SearchIndex:
    """One index directory. Not thread-safe for writes: one thread applies changes."""

    def __init__(self, path: str, *, writable: bool = False,
                 heap_bytes: int = 64 * 1024 * 1024, threads: int = 1) -> None:
        os.makedirs(path, mode=0o700, exist_ok=True)
        self.path = path
        self.index = tantivy.Index(SCHEMA, path=path, reuse=True)
        self.index.config_reader(reload_policy="Manual")
        self.writer = self.index.writer(heap_bytes, threads) if writable else None

    # ----- writing (the indexer) -----

    def apply(self, changes: Iterable[Change], *, pos: int) -> int:
        """Stage changes and record that the index holds everything up to `pos`;
        visible and durable at the next `commit`. Returns how many were staged."""
        writer = self.writer
        assert writer is not None, "opened read-only"
        count = 0
        for change in changes:
            writer.delete_documents_by_term("key", doc_key(change.conv, change.seq))
            if isinstance(change, Doc):
                writer.add_document(_document(change))
            count += 1
        writer.delete_documents_by_term("key", META_KEY)
        writer.add_document(tantivy.Document.from_dict({"key": META_KEY, "pos": pos}, SCHEMA))
        return count

    def commit(self) -> None:
        assert self.writer is not None, "opened read-only"
        self.writer.commit()
        self.index.reload()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.wait_merging_threads()  # releases the lock file
            self.writer = None

    # ----- reading (any thread) -----

    def reload(self) -> None:
        self.index.reload()

    def last_pos(self) -> int:
        """The stream position of the last message the committed index holds."""
        searcher = self.index.searcher()
        query = tantivy.Query.term_query(SCHEMA, "key", META_KEY)
        hits = searcher.search(query, limit=1, count=False).hits
        if not hits:
            return 0
        value = searcher.fast_field_values("pos", [hits[0][1]])[0]
        return int(value or 0)

    def documents(self) -> int:
        """Messages held (the meta document not counted)."""
        return max(0, self.index.searcher().num_docs - 1)

    def search(self, query: tantivy.Query, *, newest: bool, offset: int,
               limit: int) -> list[Candidate]:
        """Up to `limit` candidates from `offset`, newest first or by relevance."""
        searcher = self.index.searcher()
        if newest:
            result = searcher.search(query, limit=limit, count=False, offset=offset,
                                     order_by_field="pos", order=tantivy.Order.Desc)
        else:
            result = searcher.search(query, limit=limit, count=False, offset=offset)
        return _candidates(searcher, result.hits, newest)


def _document(doc: Doc) -> tantivy.Document:
    body = " ".join(index_text(part) for part in (doc.text, *doc.names) if part)
    return tantivy.Document.from_dict(
        {"key": doc_key(doc.conv, doc.seq), "body": body, "sender": doc.sender,
         "kind": doc.kind, "conv": doc.conv, "pos": doc.pos, "time": doc.time_ms,
         "seq": doc.seq}, SCHEMA)


def _candidates(searcher: tantivy.Searcher, hits: Sequence[tuple[float, tantivy.DocAddress]],
                newest: bool) -> list[Candidate]:
    addresses = [address for _, address in hits]
    if not addresses:
        return []
    convs = searcher.fast_field_values("conv", addresses)
    seqs = searcher.fast_field_values("seq", addresses)
    positions = searcher.fast_field_values("pos", addresses)
    return [Candidate(int(conv or 0), int(seq or 0), int(pos or 0),
                      0.0 if newest else float(key))
            for (key, _), conv, seq, pos in zip(hits, convs, seqs, positions, strict=True)]
