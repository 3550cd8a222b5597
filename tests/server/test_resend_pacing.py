"""Re-sending many unacked messages after a reconnect (docs/protocol.md §8.3, "Pacing re-sends").

The server's rate limit and the client's pacing both run on the injected ManualClock, so
buckets refill only when a test moves the clock: the numbers below are exact, not
timing-dependent.
"""

from __future__ import annotations

import trio

from corpchat.protocol import Ack, ClientSession, CloseCode, Error, ErrorCode, should_reconnect
from corpchat.protocol.pacing import Pacing

from ..client import TestClient

OFFLINE_SENDS = 1000  # far more than one burst (400) of the default limits
# What the reference client did before it paced (and what a client that does not pace
# still does): every unacked send at once after `welcome`.
UNPACED = Pacing(window=10 * OFFLINE_SENDS, rate_per_s=1e9, burst=10 * OFFLINE_SENDS)


async def test_unpaced_resends_are_cut_off_after_one_burst(server, nursery, clock):
    """hello and sync take 2 of the server's 400 tokens, 398 sends are stored, then
    101 refusals in a row close the connection with 1008."""
    await server.user("ben")
    ann = TestClient(nursery, server.url, await server.user("ann"))
    ann.session = ClientSession(ann.session.token, clock=clock, pacing=UNPACED)
    for i in range(OFFLINE_SENDS):
        ann.session.send_text(f"offline {i}", to="ben", client_msg_id=f"c{i}")
    await ann.connect(wait_sync=False)
    with trio.fail_after(10):
        while ann.closed_code is None:
            await trio.sleep(0.01)
    assert (await server.admin("stats"))["messages_stored"] == 400 - 2
    # the 1008 close frame may be lost to the reset of a socket closed with unread data
    assert ann.closed_code in (CloseCode.POLICY_VIOLATION, 1006)
    if ann.closed_code == CloseCode.POLICY_VIOLATION:
        # all that came before the close frame was read: the 101 refusals, and the acks
        # the server wrote before it decided to close. The acks of sends still being
        # committed then are dropped (§5.4): the refusals are answered at once, the acks
        # only after their batch commits. So the next connection re-sends stored ones.
        refused = ann.taken(Error)
        assert [e.code for e in refused] == [ErrorCode.RATE_LIMITED] * 101
        assert len(ann.taken(Ack)) <= 400 - 2
        assert ann.session.unacked == OFFLINE_SENDS - len(ann.taken(Ack))
    assert should_reconnect(CloseCode.POLICY_VIOLATION)  # after a back-off it goes on


async def test_the_reference_client_paces_its_resends_and_all_are_acked(server, nursery, clock):
    """The same backlog through the reference client as it is: a window of 64, its
    bucket of 300 and 150 a second; the test only moves the clock when the client's
    next write is due (its driver's timer), never sleeps."""
    await server.user("ben")
    ann = TestClient(nursery, server.url, await server.user("ann"), clock=clock)
    session = ann.session
    for i in range(OFFLINE_SENDS):
        session.send_text(f"offline {i}", to="ben", client_msg_id=f"c{i}")
    await ann.connect(wait_sync=False)
    with trio.fail_after(60):
        while session.unacked:
            at = session.next_send_at()
            if at is not None and at > clock.monotonic():
                clock.advance(at - clock.monotonic())  # the driver's timer fires
            else:
                await ann.expect(Ack)
    acked = [a.client_msg_id for a in ann.taken(Ack)]
    assert acked == [f"c{i}" for i in range(OFFLINE_SENDS)]  # each once, in order
    assert ann.taken(Error) == [] and ann.closed_code is None
    assert (await server.admin("stats"))["messages_stored"] == OFFLINE_SENDS
    # 300 went out at once, the other 702 frames (hello and sync included) at 150 a second
    assert clock.monotonic() >= (OFFLINE_SENDS + 2 - 300) / 150 - 0.01


async def test_new_sends_wait_behind_the_resends(server, nursery, clock):
    await server.user("ben")
    ann = TestClient(nursery, server.url, await server.user("ann"), clock=clock)
    for i in range(200):
        ann.session.send_text(f"offline {i}", to="ben", client_msg_id=f"c{i}")
    await ann.connect(wait_sync=False)
    await ann.send("typed after the reconnect", to="ben", client_msg_id="new")
    with trio.fail_after(30):
        while ann.session.unacked:
            await ann.expect(Ack)
    acked = [a.client_msg_id for a in ann.taken(Ack)]
    assert acked == [f"c{i}" for i in range(200)] + ["new"]
    assert ann.taken(Error) == []
