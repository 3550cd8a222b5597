"""Customer inheritance: an employee's customers pass to a colleague.

An operator starts a transfer (`admin transfer`); each customer is told and
may refuse within the window (24 hours); then the transfer completes by
itself, driven by the injected clock like quiet hours: due completions sit
in a heap and a task wakes for the earliest. The writes are in
ops/transfers.py.
"""

from __future__ import annotations

import heapq
import logging
from functools import partial

import trio

from corpchat.protocol.clock import Clock
from corpchat.store import Store, User, WriteOp
from corpchat.store import customers as cust

from .config import ServerConfig
from .ops import Write
from .ops import transfers as ops
from .people import People

log = logging.getLogger("corpchat.transfers")
MAX_SLEEP_S = 60.0


class Transfers:
    def __init__(self, store: Store, clock: Clock, config: ServerConfig, write: Write) -> None:
        self.store, self.clock, self.write = store, clock, write
        self.caps = config.customers
        self.max_members = config.max_group_members
        self._due: list[tuple[int, int, int]] = []  # (due ms, consumer, source)
        self._wake = trio.Event()
        clock.subscribe(self.poke)

    def poke(self) -> None:
        self._wake.set()

    def load(self) -> None:
        for t in self.store.read(cust.all_transfers):
            if t.state == "pending":
                heapq.heappush(self._due, (t.due_ms, t.consumer, t.source))

    def start_op(self, source: User, target: User, consumers: list[User], message: str,
                 now: int) -> WriteOp:
        """The writer operation that starts these customers' transfers (admin `transfer`)."""
        looker = People(self.store)
        return lambda w: ops.start(w, looker, source, target, consumers, message, now,
                                   self.caps, self._schedule)

    def _schedule(self, started: list[cust.Transfer]) -> None:
        for t in started:
            heapq.heappush(self._due, (t.due_ms, t.consumer, t.source))
        self.poke()

    # ----- the timer -----

    async def run(self) -> None:
        """Complete transfers as their windows close. Cancel-safe."""
        while True:
            now = self.clock.now_ms()
            while self._due and self._due[0][0] <= now:
                _, consumer, source = heapq.heappop(self._due)
                await self.write(partial(
                    ops.complete, looker=People(self.store), consumer_uid=consumer,
                    source_uid=source, now=now, max_members=self.max_members))
            delay = (self._due[0][0] - now) / 1000 if self._due else MAX_SLEEP_S
            with trio.move_on_after(max(0.0, min(delay, MAX_SLEEP_S))):
                await self._wake.wait()
            self._wake = trio.Event()
