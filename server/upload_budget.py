"""The server-wide budget of upload bytes in flight (`[media] upload_bytes_in_flight`).

Every upload being received costs the event loop a read, a parse and a hand-off
to a media thread per chunk; a hundred at once put a hundred such steps between
two chat messages (measured: group e2e p99 23 → 226 ms with 100 uploads of
10 MiB). So uploads take turns: what counts is the body bytes still to arrive of
the uploads admitted — an upload's `Content-Length` less what it has sent so
far (one without a length, streamed, counts as an eighth of the limit until it
ends: it does not say how much is to come). A new upload is admitted while that
sum is under the limit, so at most the limit plus one file is in flight, and a
file larger than the limit still gets its turn.

Past it an upload waits for its turn, in arrival order (a large one is never
overtaken by a stream of small ones), without its body being read: the
client's own TCP window holds it back, or it waits for `100 Continue` when it
sent `Expect: 100-continue`. One that has waited `upload_turn_wait_s` is told
to come back (503 `server_busy`, `Retry-After`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import trio

RETRY_AFTER_S = 1  # the uploads in flight move at tens of MiB/s: a turn comes soon


@dataclass(slots=True)
class Waiting:
    """An upload waiting for its turn; `ticket` is set when the turn comes."""

    declared: int | None
    called: trio.Event = field(default_factory=trio.Event)
    ticket: Ticket | None = None


@dataclass(slots=True)
class UploadBudget:
    limit: int  # bytes
    pending: int = 0  # body bytes the admitted uploads may still send
    busy_refusals: int = 0
    queue: deque[Waiting] = field(default_factory=deque)  # in arrival order

    def admit(self, declared: int | None) -> Ticket | None:
        """A ticket now for an upload of `declared` bytes (None: not said), if it is
        its turn: under the limit, and nobody waiting before it."""
        if self.pending >= self.limit or self.queue:
            return None
        return self._ticket(declared)

    async def turn(self, declared: int | None, wait_s: float) -> Ticket | None:
        """A ticket once it is this upload's turn, waiting at most `wait_s`; None: busy."""
        ticket = self.admit(declared)
        if ticket is not None:
            return ticket
        waiting = Waiting(declared)
        self.queue.append(waiting)
        try:
            with trio.move_on_after(wait_s):
                await waiting.called.wait()
        except BaseException:  # the connection went away while it waited
            self._leave(waiting)
            raise
        if waiting.ticket is None:  # not called in time (a turn given just as the
            self._leave(waiting)  # wait ended still counts: its ticket is set)
            self.busy_refusals += 1
        return waiting.ticket

    def _leave(self, waiting: Waiting) -> None:
        if waiting.ticket is not None:
            waiting.ticket.close()
        else:
            self.queue.remove(waiting)

    def _ticket(self, declared: int | None) -> Ticket:
        share = max(1, self.limit // 8) if declared is None else declared
        self.pending += share
        return Ticket(self, share, counts_down=declared is not None)

    def freed(self) -> None:
        """Bytes arrived or an upload ended: the next in line go while under the limit."""
        while self.queue and self.pending < self.limit:
            waiting = self.queue.popleft()
            waiting.ticket = self._ticket(waiting.declared)
            waiting.called.set()


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
        self.budget.freed()

    def close(self) -> None:
        """The upload ended (stored, refused, cut): what it did not send is free."""
        self.budget.pending -= self.left
        self.left = 0
        self.budget.freed()
