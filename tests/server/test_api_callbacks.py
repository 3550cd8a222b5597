"""App callbacks from the durable outbox (docs/api.md "Event callbacks"): signed,
in order, at least once; retries on the injected clock; admin app status / replay."""

from __future__ import annotations

import httpx
import pytest
import trio

from corpchat.protocol import Msg

from ..client import TestClient
from .callback_receiver import Receiver
from .test_groups import make_contact, people


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


async def _app(server, receiver: Receiver, **scope) -> dict:
    app = await server.admin("app.add", corp="acme", name="CRM", callback_url=receiver.url)
    receiver.secret = app["secret"]
    if scope:
        await server.admin("app.scope", app=app["app_id"], **scope)
    return app


async def _arrived(receiver: Receiver, n: int) -> list[dict]:
    with trio.fail_after(10):
        while len(receiver.events) < n:
            await trio.sleep(0.01)
    return receiver.events


async def _attempts(server, app: dict, n: int) -> dict:
    with trio.fail_after(10):
        while (status := await server.admin("app.status", app=app["app_id"]))["attempts"] < n:
            await trio.sleep(0.01)
    return status


async def test_contact_and_department_events_signed_in_order(server, nursery, receiver):
    c = await people(server, nursery, "ann")
    app = await _app(server, receiver)
    token = await server.user("carol", corp=None)
    carol = await TestClient(nursery, server.url, token).connect()
    await make_contact(c["ann"], carol)
    dept = (await server.admin("dept.add", corp="acme", name="Sales"))["dept"]
    await server.admin("user.set", handle="ann", dept=dept)
    await server.admin("user.set", handle="ann", dept=0)
    events = await _arrived(receiver, 3)
    assert [e["type"] for e in events] == ["customer.added", "department.joined",
                                           "department.left"]
    assert events[0]["data"] == {"employee": "ann", "customer": "carol"}
    assert events[1]["data"] == {"user": "ann", "department": dept}
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert len({e["id"] for e in events}) == 3
    assert receiver.bad_signatures == 0
    with trio.fail_after(10):  # the receiver saw them before the server saw its 200
        while (status := await server.admin("app.status", app=app["app_id"]))["backlog"]:
            await trio.sleep(0.01)
    assert (status["failing"], status["last_error"]) == (False, None)


async def test_reply_in_the_app_conversation_goes_to_the_callback(server, nursery, receiver):
    token = await server.user("dan")
    app = await _app(server, receiver, users=["dan"])
    dan = await TestClient(nursery, server.url, token).connect()
    base = server.url.replace("ws://", "http://").rstrip("/")
    async with httpx.AsyncClient(base_url=base) as http:
        access = (await http.post("/api/v1/token", json={
            "app_id": app["app_id"], "secret": app["secret"]})).json()["access_token"]
        sent = await http.post("/api/v1/messages", headers={"authorization": f"Bearer {access}"},
                               json={"to": {"users": ["dan"]}, "text": "Approve #12?"})
        assert sent.json()["delivered"] == 1
    msg = await dan.expect(Msg)
    await dan.send("yes", conv=msg.conv)
    events = await _arrived(receiver, 1)
    assert events[0]["type"] == "message"
    assert {k: events[0]["data"][k] for k in ("user", "conv", "text")} == {
        "user": "dan", "conv": msg.conv, "text": "yes"}


async def test_a_failing_receiver_is_retried_then_recovers(server, nursery, clock, receiver):
    c = await people(server, nursery, "ann")
    app = await _app(server, receiver)
    receiver.answers = [500, 500]
    dept = (await server.admin("dept.add", corp="acme", name="Ops"))["dept"]
    await server.admin("user.set", handle="ann", dept=dept)
    status = await _attempts(server, app, 1)  # the failure recorded before the clock moves
    assert (status["backlog"], status["last_error"]) == (1, "HTTP 500")
    clock.advance(1)  # the first retry is due within 0.5-1 s
    await _attempts(server, app, 2)
    clock.advance(2)
    events = await _arrived(receiver, 1)
    assert [e["type"] for e in events] == ["department.joined"]
    assert receiver.requests == 3
    with trio.fail_after(10):
        while (await server.admin("app.status", app=app["app_id"]))["backlog"]:
            await trio.sleep(0.01)
    assert c  # ann stayed connected throughout


async def test_failing_after_the_retry_period_then_replay(server, nursery, clock, receiver):
    await people(server, nursery, "ann")
    app = await _app(server, receiver)
    receiver.answers = [503] * 1000
    dept = (await server.admin("dept.add", corp="acme", name="Ops"))["dept"]
    await server.admin("user.set", handle="ann", dept=dept)
    for attempt in range(1, 200):
        with trio.fail_after(10):  # each failure recorded before the clock moves on
            while (status := await server.admin("app.status", app=app["app_id"])
                   )["attempts"] < attempt:
                await trio.sleep(0.01)
        if status["failing"]:
            break
        clock.advance(600)
    assert status["failing"] and status["backlog"] == 1 and status["last_error"] == "HTTP 503"
    assert status["next_attempt_ms"] - status["failing_since_ms"] >= 24 * 3600 * 1000
    receiver.answers = []
    replayed = await server.admin("app.replay", app=app["app_id"], since=0)
    assert replayed["backlog"] == 1
    events = await _arrived(receiver, 1)
    first_id = events[0]["id"]
    # A replay of what was delivered sends the same events again, with the same ids.
    await server.admin("app.replay", app=app["app_id"], since=0)
    events = await _arrived(receiver, 2)
    assert events[1]["id"] == first_id


async def test_a_redirect_to_another_host_is_not_followed(server, nursery, receiver):
    await people(server, nursery, "ann")
    app = await _app(server, receiver)
    other = Receiver()  # where the redirect points: it must never be called
    receiver.redirect_to = other.url.replace("127.0.0.1", "localhost")
    try:
        dept = (await server.admin("dept.add", corp="acme", name="Ops"))["dept"]
        await server.admin("user.set", handle="ann", dept=dept)
        with trio.fail_after(10):
            while not (await server.admin("app.status", app=app["app_id"]))["last_error"]:
                await trio.sleep(0.02)
        status = await server.admin("app.status", app=app["app_id"])
        assert "another host" in status["last_error"] and status["backlog"] == 1
        assert other.requests == 0
    finally:
        other.close()


async def test_unreachable_callback_is_an_error_not_a_crash(server, nursery):
    await people(server, nursery, "ann")
    app = await server.admin("app.add", corp="acme", name="R",
                             callback_url="http://127.0.0.1:9/nothing")
    dept = (await server.admin("dept.add", corp="acme", name="Ops"))["dept"]
    await server.admin("user.set", handle="ann", dept=dept)
    with trio.fail_after(10):
        while not (await server.admin("app.status", app=app["app_id"]))["last_error"]:
            await trio.sleep(0.02)
    assert "ConnectError" in (await server.admin("app.status", app=app["app_id"]))["last_error"]


async def test_a_transfer_result_and_the_contacts_it_moves(server, nursery, clock, receiver):
    c = await people(server, nursery, "ann", "bob")
    token = await server.user("carol", corp=None)
    carol = await TestClient(nursery, server.url, token).connect()
    await make_contact(c["ann"], carol)
    await _app(server, receiver)
    await server.admin("transfer", **{"from": "ann", "to": "bob", "customers": ["carol"]})
    clock.advance(24 * 3600 + 1)  # the customer did not refuse within the window
    events = await _arrived(receiver, 3)  # the app came after ann's contact was made
    assert [e["type"] for e in events] == ["customer.removed", "customer.added",
                                           "transfer.result"]
    assert events[1]["data"] == {"employee": "bob", "customer": "carol"}
    assert events[2]["data"] == {"customer": "carol", "from": "ann", "to": "bob",
                                 "result": "done"}
