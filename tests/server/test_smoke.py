from corpchat.protocol import Ack, Msg

from ..client import TestClient


async def test_send_reaches_both_devices_of_the_recipient(server, nursery):
    alice_token = await server.user("alice")
    bob_token = await server.user("bob")
    bob1 = await TestClient(nursery, server.url, bob_token, device="phone").connect()
    bob2 = await TestClient(nursery, server.url, bob_token, device="desk").connect()
    alice = await TestClient(nursery, server.url, alice_token).connect()
    await alice.send("hello", to="bob")
    ack = await alice.expect(Ack)
    for device in (bob1, bob2):
        msg = await device.expect(Msg)
        assert (msg.conv, msg.seq, msg.text, msg.sender) == (ack.conv, ack.seq, "hello", "alice")
