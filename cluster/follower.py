"""Following the log: every batch any home published, in stream order, handed to
the server to apply to this node's LMDB (docs/cluster.md §4).

Runs on the NATS thread's loop. One ordered push consumer per node on
`chat.c.*`, from the stream sequence after the last one this LMDB applied
(kept in its `meta`, written in the same transaction as what it applied): an
ordered consumer has no acks and no redelivery after AckWait (which would
reorder), and nats-py re-creates it from the last sequence it delivered when
the connection or the consumer's server is lost, so nothing is skipped or
delivered twice. A batch is applied once even if it comes again (a restart
before the applied sequence was committed): the writer's operation skips
the seqs it has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .log import LOG_STREAM

log = logging.getLogger("corpchat.cluster")

# (stream sequence, conversation, payload): called on the NATS thread, in stream order.
Apply = Callable[[int, int, bytes], None]


class Follower:
    def __init__(self, js: JetStreamContext, apply: Apply) -> None:
        self.js, self.apply = js, apply
        self.delivered = 0  # the last stream sequence handed to `apply`
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self, after: int) -> None:
        """Follow the log from stream sequence `after + 1`."""
        self.delivered = after
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, max_deliver=1,
                                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=after + 1)
        self._sub = await self.js.subscribe("chat.c.*", stream=LOG_STREAM, cb=self._on_msg,
                                            ordered_consumer=True, config=config,
                                            idle_heartbeat=2.0)

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.delivered:  # never twice, whatever the consumer does
            return
        try:
            conv = int(msg.subject.rsplit(".", 1)[1])
        except ValueError:
            log.error("log message on %r: not a conversation's subject", msg.subject)
            return
        self.delivered = seq
        self.apply(seq, conv, msg.data or b"")

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:  # the connection is already gone
                log.debug("follower unsubscribe: %s", exc)
