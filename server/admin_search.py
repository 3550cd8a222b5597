"""The admin commands of search: `search.reindex` and `archive.search`
(registered in admin_commands' table when admin.py imports this module; the
search figures of `stats` are admin_commands.search_stats)."""

from __future__ import annotations

from typing import Any

import trio

from corpchat.protocol.admin import AdminError
from corpchat.search import QueryError, archive_match, parse
from corpchat.store import contacts as tables

from .admin_commands import Stream, command
from .services import Running

REINDEX_TIMEOUT_S = 3600.0  # a rebuild of tens of millions of messages, at worst


@command("search.reindex")
async def search_reindex(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the index from LMDB while serving; answers when the new one is live."""
    indexer = app.indexer
    if indexer is None:
        raise AdminError("forbidden", "search is turned off ([search] enabled = false)")
    indexer.request_reindex()
    done = await trio.to_thread.run_sync(indexer.wait_reindexed, REINDEX_TIMEOUT_S,
                                         abandon_on_cancel=True)
    if not done or indexer.last_reindex is None:
        raise AdminError("timeout", "the rebuild is still running; see `stats`")
    documents, seconds = indexer.last_reindex
    return {"documents": documents, "seconds": round(seconds, 3),
            "indexed_pos": indexer.pos}


@command("archive.search")
async def archive_search(app: Running, args: dict[str, Any]):  # noqa: ANN201 - a Stream
    """The corp archive's entries matching a query (recalled and edited versions too)."""
    name, text = args.get("corp"), args.get("query")
    if not isinstance(name, str) or not isinstance(text, str):
        raise AdminError("bad_request", "corp and query are required")
    corp = app.store.corp_by_name(name)
    if corp is None:
        raise AdminError("not_found", f"no corp {name!r}")
    try:
        query = parse(text)
    except QueryError as exc:
        raise AdminError("bad_request", str(exc)) from None
    since, until = int(args.get("since") or 0), int(args.get("until") or 2**62)

    async def rows():  # noqa: ANN202
        resume: bytes | None = None
        while True:
            page, resume = app.store.read(tables.archive_page, corp.corp_id, since, until, 1000,
                                          resume)
            for entry in page:
                found = archive_match(entry.text, query)
                if found is not None:
                    yield {"time": entry.time_ms, "conv": entry.conv, "seq": entry.seq,
                           "sender": entry.sender, "realm": entry.realm, "kind": entry.kind,
                           "text": entry.text, "snippet": found.text,
                           "ranges": [list(r) for r in found.ranges]}
            if resume is None:
                return
            await trio.lowlevel.checkpoint()  # a long archive: let the server breathe

    return Stream(rows())
