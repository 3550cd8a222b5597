"""The search settings: the [search] table of the server's TOML configuration."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SearchCaps"]


@dataclass(frozen=True, slots=True)
class SearchCaps:
    enabled: bool = True  # index messages and answer `search` (off: `search` is refused)
    page_max: int = 50  # hits per `search.page` at most (a larger `limit` is bad_request)
    page_default: int = 20  # hits per page when `limit` is absent
    max_candidates: int = 500  # hits examined per request at most (then a short page)
    query_threads: int = 2  # searches running at once, in worker threads
    per_session: int = 2  # searches one session may have running or waiting at once
    batch_messages: int = 5000  # messages indexed per tantivy commit at most
    pause_s: float = 1.0  # between commits: fewer, larger index commits (each fsyncs)
    writer_heap_bytes: int = 64 * 1024 * 1024  # tantivy's indexing memory
    indexer_nice: int = 10  # the indexer process's niceness: the server runs first

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and value <= 0:
                raise ValueError(f"setting {f.name} must be positive")
        if self.page_default > self.page_max:
            raise ValueError("page_default must not exceed page_max")
        if self.writer_heap_bytes < 15_000_000:
            raise ValueError("writer_heap_bytes must be at least 15000000 (tantivy's floor)")
