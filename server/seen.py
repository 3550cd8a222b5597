"""Tokens' last use, noted by `hello` in memory and written every `FLUSH_EVERY_S`.

A hello used to submit one writer operation for its token (at most once a
minute per token): under a crowd of logins that is a submission, a wake-up
of the writer thread, a share of a commit (an fdatasync) and a commit
callback on the event loop per hello, for a figure shown to the minute.
Now `note` keeps the token's device, time and address in a dict and
`flush` writes what gathered in one operation per `FLUSH_CHUNK` tokens,
every `FLUSH_EVERY_S` and once more when the server stops.

Durability: last seen is a hint for the operator (`admin token list`) and
the user (`devices`), never answered to anyone as committed and never part
of an invariant; a crash loses at most the last `FLUSH_EVERY_S` of notes
(before, the notes of the commit under way), and the token's next hello
notes it again. Readers see the notes at once: `overlay` lays them over
what the store returned. The one reader on the writer thread, the
oldest-token eviction in `ops/credentials.py`, orders by the stored time,
at most `FLUSH_EVERY_S` behind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import partial

import trio

from corpchat.store import StorageError, WriteOp, WriteTxn, tokens
from corpchat.store.records import Token

FLUSH_EVERY_S = 2.0
FLUSH_CHUNK = 1000  # tokens per writer operation: no one operation holds a batch up long


class SeenTokens:
    """The last-seen notes not yet written, by token id."""

    __slots__ = ("_record", "_pending")

    def __init__(self, record: Callable[[WriteOp], None]) -> None:
        self._record = record  # submits without waiting (services.record_to)
        self._pending: dict[str, tuple[str, int, str]] = {}  # id: (device, ms, address)

    def __len__(self) -> int:
        return len(self._pending)

    def note(self, token: Token, device: str | None, now_ms: int, address: str) -> None:
        """A hello with `token`: noted if its last use (stored, or noted and not yet
        written) is `tokens.SEEN_EVERY_MS` old, as `tokens.seen_is_due` says."""
        noted = self._pending.get(token.token_id)
        last = token.last_seen_ms if noted is None else max(noted[1], token.last_seen_ms)
        if now_ms - last < tokens.SEEN_EVERY_MS:
            return
        self._pending[token.token_id] = ((device or "")[:tokens.DEVICE_CHARS], now_ms, address)

    def overlay(self, listed: Iterable[Token]) -> list[Token]:
        """Tokens as read from the store, with the notes not yet written applied as
        `tokens.mark_seen` will apply them."""
        pending = self._pending
        return [t if (note := pending.get(t.token_id)) is None else
                dataclasses.replace(t, device=note[0] or t.device, last_seen_ms=note[1],
                                    address=note[2] or t.address)
                for t in listed]

    def flush(self) -> None:
        """Submit what was noted (not waited for); dropped if the writer is stopping."""
        if not self._pending:
            return
        notes, self._pending = list(self._pending.items()), {}
        try:
            for at in range(0, len(notes), FLUSH_CHUNK):
                chunk = notes[at:at + FLUSH_CHUNK]
                self._record(partial(_mark_all, notes=chunk))
        except StorageError:  # the writer is stopping: a last-seen time is not worth more
            pass

    async def run(self) -> None:
        """Flush every FLUSH_EVERY_S until cancelled (cancel-safe)."""
        while True:
            await trio.sleep(FLUSH_EVERY_S)
            self.flush()


def _mark_all(w: WriteTxn, *, notes: list[tuple[str, tuple[str, int, str]]]) -> int:
    marked = 0
    for token_id, (device, now_ms, address) in notes:
        marked += w.do(tokens.mark_seen, token_id, device, now_ms, address)
    return marked
