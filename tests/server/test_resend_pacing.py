"""Re-sending many unacked messages after a reconnect (docs/protocol.md §8.3, "Pacing re-sends").

The server's rate limit runs on the injected ManualClock, so its bucket refills only
when a test moves the clock: the numbers below are exact, not timing-dependent.
"""

from __future__ import annotations

from collections import deque

import trio

from corpchat.protocol import Ack, Error, Send
from corpchat.server.ratelimit import TokenBucket

from ..client import TestClient

OFFLINE_SENDS = 1000  # far more than one burst (400) of the default limits
WINDOW = 64  # the §8.3 rules: at most 64 re-sends unanswered ...
PACE_PER_S, PACE_BURST = 150.0, 300  # ... and the server's bucket with a margin


async def test_the_unpaced_reference_resend_is_cut_off_after_one_burst(server, nursery):
    """What §8.3 says the reference client does: every unacked send at once after
    `welcome`. hello and sync take 2 of the 400 tokens, 398 sends are stored, then
    101 refusals in a row close the connection."""
    await server.user("ben")
    ann = TestClient(nursery, server.url, await server.user("ann"))
    for i in range(OFFLINE_SENDS):
        ann.session.send_text(f"offline {i}", to="ben")
    await ann.connect(wait_sync=False)
    with trio.fail_after(10):
        while ann.closed_code is None:
            await trio.sleep(0.01)
    stats = await server.admin("stats")
    assert stats["messages_stored"] == 400 - 2
    # the 1008 close frame may be lost to the reset of a socket closed with unread data
    assert ann.closed_code in (1008, 1006)


async def test_resends_paced_as_documented_are_all_accepted(server, nursery, clock):
    await server.user("ben")
    ann = await TestClient(nursery, server.url, await server.user("ann")).connect()
    pace = TokenBucket(PACE_PER_S, PACE_BURST, clock)
    assert pace.take(2)  # hello and sync count too
    session = ann.session
    pending = deque(Send(id=session.next_request_id(), client_msg_id=f"c{i}",
                         text=f"offline {i}", to="ben") for i in range(OFFLINE_SENDS))
    unanswered: set[int] = set()
    while pending or unanswered:
        while pending and len(unanswered) < WINDOW:
            while not pace.take():
                clock.advance(1 / PACE_PER_S)  # the client waits for its next token
            request = pending.popleft()
            unanswered.add(request.id)
            session.queue(request)
        await ann.flush()
        reply = await ann.expect((Ack, Error))
        assert isinstance(reply, Ack), reply
        unanswered.remove(reply.re)
    assert ann.taken(Error) == [] and ann.closed_code is None
    assert (await server.admin("stats"))["messages_stored"] == OFFLINE_SENDS
