"""Full-text search over the messages: a tantivy index in the data directory
(`search/` beside LMDB's files), kept by one indexer process that follows the
store's message stream, and searches whose hits the store checks one by one.

Layering: this package may import store and protocol; server imports it.
"""

from .analyzer import Term, index_text, terms
from .archive import archive_match
from .caps import SearchCaps
from .index import Candidate, Doc, Removal, SearchIndex
from .indexer import Indexer, IndexerStats, changes_of
from .process import IndexerProcess, IndexerSettings
from .query import MAX_QUERY_CHARS, ParsedQuery, QueryError, parse
from .searcher import KINDS, Hit, Page, Request, read_cursor, search
from .snippet import Snippet, snippet

__all__ = [
    "KINDS", "MAX_QUERY_CHARS", "Candidate", "Doc", "Hit", "Indexer", "IndexerProcess",
    "IndexerSettings", "IndexerStats", "Page",
    "ParsedQuery", "QueryError", "Removal", "Request", "SearchCaps", "SearchIndex", "Snippet",
    "Term",
    "archive_match", "changes_of", "index_text", "parse", "read_cursor", "search", "snippet",
    "terms",
]
