"""The server-wide budget of upload bytes in flight (`[media] upload_bytes_in_flight`).

Every upload being received costs the event loop a read, a parse and a hand-off
to a media thread per chunk; a hundred at once put a hundred such steps between
two chat messages (measured: group e2e p99 23 → 226 ms with 100 uploads of
10 MiB). So uploads take turns: what counts is the body bytes still to arrive of
the uploads admitted — an upload's `Content-Length` less what it has sent so
far (one without a length, streamed, counts as an eighth of the limit until it
ends: it does not say how much is to come). A new upload is admitted while
that sum is under the limit, so at most the limit plus one file is in flight, a
file larger than the limit still gets its turn, and a large upload cannot be
starved by a stream of small ones; past it the client is told to come back
(503 `server_busy`, `Retry-After`), before it sends its body when it asked with
`Expect: 100-continue`.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY_AFTER_S = 1  # the uploads in flight move at tens of MiB/s: a turn comes soon


@dataclass(slots=True)
class UploadBudget:
    limit: int  # bytes
    pending: int = 0  # body bytes the admitted uploads may still send
    busy_refusals: int = 0

    def admit(self, declared: int | None) -> Ticket | None:
        """A ticket for an upload of `declared` bytes (None: not said), or None: busy."""
        if self.pending >= self.limit:
            self.busy_refusals += 1
            return None
        share = max(1, self.limit // 8) if declared is None else declared
        self.pending += share
        return Ticket(self, share, counts_down=declared is not None)


@dataclass(slots=True)
class Ticket:
    """One admitted upload's share of the budget, given back as its bytes arrive."""

    budget: UploadBudget
    left: int
    counts_down: bool = True  # False: a streamed upload holds its share to the end

    def received(self, size: int) -> None:
        if not self.counts_down:
            return
        taken = min(size, self.left)
        self.left -= taken
        self.budget.pending -= taken

    def close(self) -> None:
        """The upload ended (stored, refused, cut): what it did not send is free."""
        self.budget.pending -= self.left
        self.left = 0
