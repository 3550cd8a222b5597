"""Apps over the HTTP API (docs/api.md): tokens, scope, messages, idempotency, quotas,
the router's refusals. A real server, real HTTP (httpx), the injected clock."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpchat.protocol import Conversations, ConversationsReply, Msg

from ..client import TestClient
from .test_groups import request


def _base(server) -> str:
    return server.url.replace("ws://", "http://").rstrip("/")


async def _post(server, path: str, body, token: str | None = None, raw: bytes | None = None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=_base(server)) as http:
        if raw is not None:
            return await http.post(path, content=raw, headers=headers)
        return await http.post(path, json=body, headers=headers)


async def _get(server, path: str, token: str | None = None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=_base(server)) as http:
        return await http.get(path, headers=headers)


async def _setup(server):
    """acme with sales (under it: sales-east) and hr; alice in sales-east, bob in hr;
    an app reaching the sales department and dan by name."""
    tokens = {h: await server.user(h) for h in ("alice", "bob", "dan")}
    tokens["eve"] = await server.user("eve", corp="globex")
    sales = (await server.admin("dept.add", corp="acme", name="Sales"))["dept"]
    east = (await server.admin("dept.add", corp="acme", name="East", parent=sales))["dept"]
    hr = (await server.admin("dept.add", corp="acme", name="HR"))["dept"]
    await server.admin("user.set", handle="alice", dept=east)
    await server.admin("user.set", handle="bob", dept=hr)
    app = await server.admin("app.add", corp="acme", name="Approvals")
    await server.admin("app.scope", app=app["app_id"], users=["dan"], departments=[sales])
    token = (await _post(server, "/api/v1/token",
                         {"app_id": app["app_id"], "secret": app["secret"]})).json()
    return app, token["access_token"], tokens, {"sales": sales, "east": east, "hr": hr}


async def test_token_life_cycle(server, clock):
    await server.admin("corp.add", name="acme")
    app = await server.admin("app.add", corp="acme", name="Attendance")
    assert len(app["secret"]) >= 43  # 32 random bytes, base64url
    creds = {"app_id": app["app_id"], "secret": app["secret"]}
    wrong = await _post(server, "/api/v1/token", {**creds, "secret": "x" * 43})
    assert wrong.status_code == 401 and wrong.json()["error"] == "bad_credentials"
    nobody = await _post(server, "/api/v1/token", {"app_id": 999, "secret": "x"})
    assert nobody.status_code == 401
    answer = (await _post(server, "/api/v1/token", creds)).json()
    assert answer["expires_in"] == 7200
    token = answer["access_token"]
    assert (await _get(server, "/api/v1/users/nobody", token)).status_code == 404  # accepted
    clock.advance(7200)
    expired = await _get(server, "/api/v1/users/nobody", token)
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
    assert (await _get(server, "/api/v1/users/nobody")).status_code == 401


async def test_at_most_ten_live_tokens_and_rotation(server):
    await server.admin("corp.add", name="acme")
    app = await server.admin("app.add", corp="acme", name="CRM")
    creds = {"app_id": app["app_id"], "secret": app["secret"]}
    issued = [(await _post(server, "/api/v1/token", creds)).json()["access_token"]
              for _ in range(11)]
    assert (await _get(server, "/api/v1/users/x", issued[0])).status_code == 401  # retired
    for token in issued[1:]:
        assert (await _get(server, "/api/v1/users/x", token)).status_code == 404
    rotated = await server.admin("app.rotate_secret", app=app["app_id"])
    assert (await _get(server, "/api/v1/users/x", issued[-1])).status_code == 401
    assert (await _post(server, "/api/v1/token", creds)).status_code == 401
    assert (await _post(server, "/api/v1/token",
                        {**creds, "secret": rotated["secret"]})).status_code == 200
    await server.admin("app.remove", app=app["app_id"])
    assert (await _post(server, "/api/v1/token",
                        {**creds, "secret": rotated["secret"]})).status_code == 401


async def test_message_reaches_the_scope_only(server, nursery):
    app, token, tokens, depts = await _setup(server)
    alice = await TestClient(nursery, server.url, tokens["alice"]).connect()
    answer = await _post(server, "/api/v1/messages", {
        "to": {"users": ["dan", "bob", "eve", "ghost"], "departments": [depts["hr"]]},
        "text": "Your leave is approved"}, token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["delivered"] == 1  # dan
    assert {(s.get("user") or s.get("department"), s["reason"]) for s in body["skipped"]} == {
        ("bob", "out_of_scope"), ("eve", "not_found"), ("ghost", "not_found"),
        (depts["hr"], "out_of_scope")}
    answer = await _post(server, "/api/v1/messages", {
        "to": {"departments": [depts["sales"]]}, "text": "Quarter closes Friday"}, token)
    assert answer.json()["delivered"] == 1  # alice, in a sub-department
    msg = await alice.expect(Msg)
    assert (msg.text, msg.sender) == ("Quarter closes Friday", f"app:{app['app_id']}")
    listed = await request(alice, Conversations, reply=(ConversationsReply,))
    assert [(c.kind, c.name) for c in listed.convs if c.conv == msg.conv] == [
        ("app", "Approvals")]
    users = (await _get(server, f"/api/v1/departments/{depts['sales']}/users", token)).json()
    assert [u["handle"] for u in users["users"]] == ["alice"]
    assert (await _get(server, f"/api/v1/departments/{depts['hr']}/users",
                       token)).status_code == 404
    assert (await _get(server, "/api/v1/users/alice", token)).json()["department"] == \
        depts["east"]
    assert (await _get(server, "/api/v1/users/bob", token)).status_code == 404


async def test_tags_reach_the_employees_carrying_them(server, nursery):
    app, token, tokens, depts = await _setup(server)  # the scope: sales (alice) and dan
    group = (await server.admin("tag.group_add", corp="acme", name="Roles"))["group"]
    oncall = (await server.admin("tag.add", corp="acme", group=group, name="on call"))["tag"]
    fire = (await server.admin("tag.add", corp="acme", group=group, name="fire warden"))["tag"]
    await server.admin("tag.assign", corp="acme", tag=oncall, handles=["alice", "bob"])
    await server.admin("tag.assign", corp="acme", tag=fire, handles=["bob"])
    bob = await TestClient(nursery, server.url, tokens["bob"]).connect()

    async def send(tags: list[int]) -> dict:
        return (await _post(server, "/api/v1/messages", {"to": {"tags": tags},
                                                         "text": "drill at 3"}, token)).json()

    # on call is not in the scope: only alice (in sales) of its members is reached
    answer = await send([oncall])
    assert (answer["delivered"], answer["skipped"]) == (1, [])
    answer = await send([fire, 999])
    assert answer["delivered"] == 0 and answer["skipped"] == [
        {"tag": fire, "reason": "out_of_scope"}, {"tag": 999, "reason": "not_found"}]
    assert (await _get(server, "/api/v1/users/bob", token)).status_code == 404
    scoped = await server.admin("app.scope", app=app["app_id"], tags=[fire])
    assert scoped["scope"]["tags"] == [fire]
    answer = await send([fire])
    assert (answer["delivered"], answer["skipped"]) == (1, [])
    msg = await bob.expect(Msg)
    assert (msg.text, msg.sender) == ("drill at 3", f"app:{app['app_id']}")
    assert (await _get(server, "/api/v1/users/bob", token)).status_code == 200  # by his tag
    both = await _post(server, "/api/v1/messages", {
        "to": {"users": ["bob"], "tags": [oncall, fire]}, "text": "once each"}, token)
    assert both.json()["delivered"] == 2  # bob once, alice: recipients are counted once
    await server.admin("tag.assign", corp="acme", tag=fire, handles=["bob"], on=False)
    assert (await send([fire]))["skipped"] == [{"tag": fire, "reason": "out_of_scope"}]
    assert (await _get(server, "/api/v1/users/bob", token)).status_code == 404
    with pytest.raises(Exception, match="no tag"):
        await server.admin("app.scope", app=app["app_id"], tags=[12345])


async def test_idempotency_key(server, clock, nursery):
    _, token, tokens, _ = await _setup(server)
    dan = await TestClient(nursery, server.url, tokens["dan"]).connect()
    body = {"to": {"users": ["dan"]}, "text": "once", "idempotency_key": "k-1"}
    first = (await _post(server, "/api/v1/messages", body, token)).json()
    again = (await _post(server, "/api/v1/messages", body, token)).json()
    assert first == again
    await dan.expect(Msg)
    clock.advance(1801)
    later = (await _post(server, "/api/v1/messages", body, token)).json()
    assert later["message_id"] != first["message_id"]
    assert (await dan.expect(Msg)).text == "once"
    assert len(dan.taken(Msg)) == 2  # exactly the two


def _idem_entries(server) -> tuple[int, int]:
    return server.app.store.read(lambda txn, db: (txn.stat(db["app_idem"])["entries"],
                                                  txn.stat(db["app_idem_ix"])["entries"]))


async def test_idempotency_keys_are_swept_after_their_window(server, clock):
    _, token, _, _ = await _setup(server)

    async def send(key: str) -> dict:
        body = {"to": {"users": ["dan"]}, "text": key, "idempotency_key": key}
        return (await _post(server, "/api/v1/messages", body, token)).json()

    first = {key: await send(key) for key in ("a", "b", "c")}
    clock.advance(29 * 60)
    late = await send("d")
    assert await server.app.platform.sweep_once() == 0  # none is 30 minutes old yet
    assert _idem_entries(server) == (4, 4)
    clock.advance(2 * 60)
    again = await send("a")  # past its window: sent anew, under the same key
    assert again["message_id"] != first["a"]["message_id"]
    assert await server.app.platform.sweep_once() == 3  # a's, b's and c's first answers
    assert _idem_entries(server) == (2, 2)  # d, and a's second answer
    assert await send("a") == again and await send("d") == late
    clock.advance(31 * 60)
    assert await server.app.platform.sweep_once() == 2
    assert _idem_entries(server) == (0, 0)


async def test_per_recipient_quota(server, clock):
    _, token, _, _ = await _setup(server)
    body = {"to": {"users": ["dan"]}, "text": "ping"}
    for _ in range(30):
        assert (await _post(server, "/api/v1/messages", body, token)).json()["delivered"] == 1
    over = (await _post(server, "/api/v1/messages", body, token)).json()
    assert over["delivered"] == 0 and over["skipped"] == [{"user": "dan",
                                                           "reason": "rate_limited"}]
    clock.advance(60)
    assert (await _post(server, "/api/v1/messages", body, token)).json()["delivered"] == 1


async def test_router_refusals(server):
    _, token, _, _ = await _setup(server)
    assert (await _get(server, "/api/v1/nothing")).status_code == 404
    wrong = await _get(server, "/api/v1/messages", token)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    big = await _post(server, "/api/v1/messages", None, token, raw=b"{" + b" " * 70_000 + b"}")
    assert big.status_code == 413
    bad = await _post(server, "/api/v1/messages", {"to": {"users": ["dan", 5]}, "text": "x"},
                      token)
    assert bad.status_code == 400 and bad.json()["field"] == "to.users[1]"
    two = await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]}, "text": "x",
                                                   "markdown": "y"}, token)
    assert two.status_code == 400
    long = await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]},
                                                    "text": "x" * 2049}, token)
    assert long.status_code == 400 and long.json()["field"] == "text"
    nan = await _post(server, "/api/v1/token", None, raw=b'{"app_id": NaN, "secret": "s"}')
    assert nan.status_code == 400 and nan.json()["error"] == "bad_json"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                              lambda c: st.lists(c, max_size=3)
                              | st.dictionaries(st.text(max_size=6), c, max_size=3),
                              max_leaves=12).map(lambda v: json.dumps(v).encode())))
def test_any_body_gets_a_clear_answer(body):
    import trio

    from corpchat.server.api.platform import Platform
    from corpchat.server.api.router import Router
    from corpchat.server.api.settings import PlatformCaps

    class NoStore:
        def read(self, *args):
            return None

    router = Router()
    Platform(NoStore(), None, None, PlatformCaps()).register(router)  # type: ignore[arg-type]
    answer = trio.run(router.dispatch, "POST", "/api/v1/token", (), body)
    assert answer.status in (400, 401)
    assert "error" in json.loads(answer.body)


@pytest.mark.parametrize("url", ["ftp://x/", "file:///etc/passwd", "nohost", "http://"])
async def test_callback_urls_are_http_only(server, url):
    await server.user("zed")
    with pytest.raises(Exception, match="http"):
        await server.admin("app.add", corp="acme", name="Bad", callback_url=url)
