"""Publishing committed batches to the log, in commit order per conversation.

Runs on the NATS thread's loop. The writer thread hands over each commit
batch's LogBatches (batches.py) in commit order; each conversation's
publishes are chained, so batch N+1 of a conversation is published only
after batch N's PubAck — a publish that fails for a moment (a NATS server
killed, a leader election) is retried in place, never overtaken, so the log
has no gap. The batch is reported done (and only then acked to clients) when
every conversation it touched has its PubAck. A fenced conversation (another
home wrote it: log.Fenced) fails, and so does every later batch of it here:
this node's copy of that conversation is stale (docs/cluster.md §3).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from corpchat.store import Message

from .batches import LogBatch, log_batches
from .log import ConversationLog, Fenced

log = logging.getLogger("corpchat.cluster")

Done = Callable[[set[int]], None]  # called with the conversations that could not be logged
# This node's stored messages of a conversation with after < seq <= upto (its LMDB).
Unlogged = Callable[[int, int, int], list[Message]]


class Publisher:
    def __init__(self, log_: ConversationLog, unlogged: Unlogged, node: str,
                 retry_s: float = 0.2, give_up_s: float = 30.0) -> None:
        self.log = log_
        self.unlogged, self.node = unlogged, node
        self.retry_s, self.give_up_s = retry_s, give_up_s
        self.tails: dict[int, asyncio.Task[None]] = {}  # conv -> its last publish
        # Conversations whose local copy the log will not take (fenced, or a publish
        # given up): every later batch of theirs fails too, so the log never has a gap.
        self.stale: set[int] = set()
        self.logged: dict[int, int] = {}  # conv -> the last message seq the log holds
        self.retries = 0
        self._reported: asyncio.Future[None] | None = None  # the last batch's report

    def submit(self, batches: list[LogBatch], done: Done) -> None:
        """On the loop, in commit order (the writer thread uses call_soon_threadsafe)."""
        tasks = []
        for batch in batches:
            task = asyncio.ensure_future(self._chained(self.tails.get(batch.conv), batch))
            self.tails[batch.conv] = task
            task.add_done_callback(functools.partial(self._forget, batch.conv))
            tasks.append((batch.conv, task))
        self._reported = asyncio.ensure_future(self._report(self._reported, tasks, done))

    def _forget(self, conv: int, task: asyncio.Task[None]) -> None:
        if self.tails.get(conv) is task:
            del self.tails[conv]

    async def _report(self, before: asyncio.Future[None] | None,
                      tasks: list[tuple[int, asyncio.Task[None]]], done: Done) -> None:
        """Batches are reported in commit order, as the single process fans them out:
        a client sees positions in order (and the hub's head is a watermark)."""
        if before is not None:
            await asyncio.wait([before])
        failed: set[int] = set()
        for conv, task in tasks:
            try:
                await asyncio.shield(task)
            except Exception:
                failed.add(conv)
        done(failed)

    async def _chained(self, before: asyncio.Task[None] | None, batch: LogBatch) -> None:
        if before is not None:
            await asyncio.wait([before])  # its outcome is its own; ours follows it
        if batch.conv in self.stale:
            raise Fenced(batch.conv, 0)
        await self._catch_up(batch)
        if batch.payload is None:  # a repeat: acked once it and what came before is logged
            return
        await self._publish(batch)
        self.logged[batch.conv] = batch.last_seq

    async def _catch_up(self, batch: LogBatch) -> None:
        """The log must hold every message before this batch (for a repeat: up to
        its last). A home killed between its LMDB commit and the PubAck left an
        unacked tail that only its LMDB has: it goes to the log first (the
        client's retry then finds it). What the log holds is read once per
        conversation and process, then kept. A log already past the batch's
        first seq was written by another home: this copy is stale."""
        logged = self.logged.get(batch.conv)
        if logged is None:
            stream_seq, logged = await self.read_head(batch.conv)
            self.log.last[batch.conv] = stream_seq
            self.logged[batch.conv] = logged
        if batch.payload is not None and logged >= batch.first_seq:
            self.stale.add(batch.conv)
            log.error("conversation %d: the log is at seq %d, this node wrote %d",
                      batch.conv, logged, batch.first_seq)
            raise Fenced(batch.conv, stream_seq)
        upto = batch.first_seq - 1 if batch.payload is not None else batch.last_seq
        if logged < upto:
            missing = self.unlogged(batch.conv, logged, upto)
            log.warning("conversation %d: logging %d committed but unlogged messages",
                        batch.conv, len(missing))
            for tail in log_batches(self.node, [(m, False) for m in missing]):
                await self._publish(tail)
                self.logged[batch.conv] = tail.last_seq

    async def read_head(self, conv: int) -> tuple[int, int]:
        """The log's head of a conversation, retried like a publish (a server gone,
        a leader election) rather than failing the batch."""
        waited = 0.0
        while True:
            try:
                return await self.log.last_logged(conv)
            except Exception as exc:
                if waited >= self.give_up_s:
                    raise
                self.retries += 1
                log.warning("reading the log of conversation %d failed (%s); retrying",
                            conv, exc.__class__.__name__)
                await asyncio.sleep(self.retry_s)
                waited += self.retry_s

    async def _publish(self, batch: LogBatch) -> None:
        assert batch.payload is not None
        waited = 0.0
        while True:
            try:
                await self.log.publish(batch.conv, batch.payload, batch.msg_id)
                return
            except Fenced:
                self.stale.add(batch.conv)
                log.error("conversation %d fenced: another home wrote it", batch.conv)
                raise
            except Exception as exc:  # a timeout, a server gone: same msg id, same place
                if waited >= self.give_up_s:
                    self.stale.add(batch.conv)
                    log.error("conversation %d: publish given up after %.0f s",
                              batch.conv, waited)
                    raise
                self.retries += 1
                log.warning("publish of conversation %d failed (%s); retrying",
                            batch.conv, exc.__class__.__name__)
                await asyncio.sleep(self.retry_s)
                waited += self.retry_s
