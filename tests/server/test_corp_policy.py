"""A corp's policy flags (`corpchat admin corp set`): history on transfer, push previews.

The read-state flags are tested with the receipts (test_receipts.py).
"""

from __future__ import annotations

import dataclasses

import pytest

from corpchat.adminclient import AdminError
from corpchat.protocol import Ack, DeviceRegister, Error, History, HistoryPage, Msg, TransferEvent

from ..conftest import running_server
from .test_customers import shop
from .test_groups import people, request
from .test_quiet import PushReceiver


async def test_corp_set_changes_and_reports_the_policy(server, nursery):
    await people(server, nursery, "ann")
    result = await server.admin("corp.set", corp="acme", push_previews=False,
                                full_name="Acme Trading Ltd")
    assert result == {"corp": "acme", "full_name": "Acme Trading Ltd",
                      "show_consumer_reads": True, "show_employee_reads": False,
                      "push_previews": False, "transfer_history": True,
                      "forward_to_customers": False,
                      "robots_in_external_groups": False}
    again = await server.admin("corp.set", corp="acme", transfer_history=False)
    assert (again["push_previews"], again["transfer_history"]) == (False, False)
    with pytest.raises(AdminError) as missing:
        await server.admin("corp.set", corp="nope", push_previews=False)
    assert missing.value.code == "not_found"
    with pytest.raises(AdminError) as wrong:
        await server.admin("corp.set", corp="acme", push_previews="no")
    assert wrong.value.code == "bad_request"


async def test_without_transfer_history_the_colleague_sees_only_what_follows(
        server, nursery, clock):
    c = await shop(server, nursery, customers=("c1",))
    await server.admin("corp.set", corp="acme", transfer_history=False)
    await c["c1"].send("my order?", to="amy")
    conv = (await c["c1"].expect(Ack)).conv
    await server.admin("transfer", **{"from": "amy", "to": "bea", "all": True})
    assert (await c["c1"].expect(TransferEvent)).state == "pending"
    clock.advance(24 * 3600 + 1)
    assert (await c["c1"].expect(TransferEvent)).state == "done"
    before = await request(c["bea"], History, reply=(HistoryPage, Error), conv=conv)
    assert before.msgs == ()
    await c["c1"].send("hello bea", to="bea")
    assert (await c["c1"].expect(Ack)).conv == conv
    assert (await c["bea"].expect(Msg)).text == "hello bea"
    after = await request(c["bea"], History, reply=(HistoryPage, Error), conv=conv)
    assert [m.text for m in after.msgs] == ["hello bea"]


@pytest.mark.parametrize("previews", [True, False])
async def test_push_previews_follow_the_receivers_corp(nursery, server_config, clock, previews):
    receiver = PushReceiver()
    config = dataclasses.replace(server_config, push_url=await receiver.serve(nursery))
    async with running_server(nursery, config, clock) as server:
        c = await people(server, nursery, "ann", "ben")
        await server.admin("corp.set", corp="acme", push_previews=previews)
        await request(c["ben"], DeviceRegister, platform="fcm", push_token="tok-ben")
        await c["ben"].close()
        await c["ann"].send("the secret plan", to="ben")
        await c["ann"].expect(Ack)
        (note,) = await receiver.wait_for(1)
        assert (note["kind"], note["sender"]) == ("message", "ann")
        assert note["preview"] == ("the secret plan" if previews else "")
