"""Authorization matrix of the HTTP API (docs/api.md): every route × every kind of
caller → its documented status. Part of issue 10's matrix (test_authz_matrix.py
covers the WebSocket requests); the table's routes must equal the router's.

The world: acme with dan (in the app's scope), bob (outside it) and a department
in the scope; an acme app and a globex app; olga's group with a robot. Callers:

  none         no Authorization header (for POST /api/v1/token: no credentials, 400)
  garbage      a bearer token that was never issued
  user_token   an employee's device token (not an app's)
  other_corp   a live token of globex's app
  removed_app  a token of an app since removed
  rotated      a token issued before its app's secret was rotated
  expired      a token past its 7,200 s (the clock moved for this caller only)
  app          a live token of acme's app
"""

from __future__ import annotations

import httpx
import pytest

from corpchat.protocol import Error, RobotAdd, RobotAdded

from ..server.test_groups import make_group, people, request

CALLERS = ("none", "garbage", "user_token", "other_corp", "removed_app", "rotated",
           "expired", "app")

# route -> (method, path, body), the path's <…> filled from the world
ROUTES = {
    "token": ("POST", "/api/v1/token", None),  # the caller's credentials go in the body
    "messages": ("POST", "/api/v1/messages", {"to": {"users": ["dan"]}, "text": "hi"}),
    "media": ("POST", "/api/v1/media?name=r.pdf", b"%PDF-1.4 report"),  # the file's bytes
    "user": ("GET", "/api/v1/users/dan", None),
    "department": ("GET", "/api/v1/departments/{dept}/users", None),
    "robot": ("POST", "/hooks/robot/{key}", {"text": "hi"}),
}
PATTERNS = {"token": ("POST", "/api/v1/token"), "messages": ("POST", "/api/v1/messages"),
            "media": ("POST", "/api/v1/media"),
            "user": ("GET", "/api/v1/users/<handle>"),
            "department": ("GET", "/api/v1/departments/<dept>/users"),
            "robot": ("POST", "/hooks/robot/<key>")}

DENIED = {c: 401 for c in CALLERS if c != "app"}
EXPECT: dict[str, dict[str, int]] = {
    # token: the body carries (app_id, secret) of the caller's kind; only the right pair
    "token": {**DENIED, "none": 400, "other_corp": 200, "app": 200, "expired": 200},
    "messages": {**DENIED, "other_corp": 200, "app": 200},  # other_corp: dan skipped
    "media": {**DENIED, "other_corp": 200, "app": 200},  # each app's own upload
    "user": {**DENIED, "other_corp": 404, "app": 200},
    "department": {**DENIED, "other_corp": 404, "app": 200},
    # a robot's key is its only credential: bearer tokens neither help nor hurt
    "robot": dict.fromkeys(CALLERS, 200),
}


async def test_the_table_covers_every_route_and_caller(server):
    assert sorted(PATTERNS.values()) == server.app.api.routes()
    assert all(sorted(v) == sorted(CALLERS) for v in EXPECT.values())


async def _token(http: httpx.AsyncClient, app: dict) -> str:
    answer = await http.post("/api/v1/token", json={"app_id": app["app_id"],
                                                    "secret": app["secret"]})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


async def _world(server, nursery, http: httpx.AsyncClient) -> dict:
    c = await people(server, nursery, "olga", "dan", "bob")
    await server.user("gus", corp="globex")
    dept = (await server.admin("dept.add", corp="acme", name="Sales"))["dept"]
    await server.admin("user.set", handle="dan", dept=dept)
    acme = await server.admin("app.add", corp="acme", name="HR")
    await server.admin("app.scope", app=acme["app_id"], departments=[dept])
    globex = await server.admin("app.add", corp="globex", name="Spy")
    await server.admin("app.scope", app=globex["app_id"], users=["gus"])
    gone = await server.admin("app.add", corp="acme", name="Gone")
    rotated = await server.admin("app.add", corp="acme", name="Rotated")
    await server.admin("app.scope", app=rotated["app_id"], departments=[dept])
    tokens = {"app": await _token(http, acme), "other_corp": await _token(http, globex),
              "removed_app": await _token(http, gone), "rotated": await _token(http, rotated),
              "garbage": "x" * 43, "user_token": await server.user("eve")}
    await server.admin("app.remove", app=gone["app_id"])
    new = await server.admin("app.rotate_secret", app=rotated["app_id"])
    conv = await make_group(c["olga"], "dan")
    robot = await request(c["olga"], RobotAdd, reply=(RobotAdded, Error), conv=conv, name="CI")
    return {"tokens": tokens, "dept": dept, "key": robot.url.rsplit("/", 1)[1],
            "secrets": {"app": acme, "other_corp": globex, "expired": acme,
                        "removed_app": gone, "rotated": {**rotated, "old": True},
                        "user_token": {"app_id": acme["app_id"], "secret": "device token"},
                        "garbage": {"app_id": 999, "secret": "x"}, "none": {}},
            "new_secret": new["secret"]}


async def _call(http: httpx.AsyncClient, world: dict, route: str, caller: str,
                clock) -> httpx.Response:
    method, path, body = ROUTES[route]
    path = path.format(dept=world["dept"], key=world["key"])
    token = world["tokens"].get(caller)
    if caller == "expired":
        token = await _token(http, world["secrets"]["app"])
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if route == "token":
        creds = world["secrets"][caller]
        body = {k: creds[k] for k in ("app_id", "secret") if k in creds} or {"x": 1}
    if caller == "expired":  # this caller's own server: the clock only moves on
        clock.advance(7200)
    if isinstance(body, bytes):
        return await http.request(method, path, content=body, headers=headers)
    return await http.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("caller", CALLERS)
async def test_every_route_as_every_caller(server, nursery, clock, caller):
    base = server.url.replace("ws://", "http://").rstrip("/")
    async with httpx.AsyncClient(base_url=base) as http:
        world = await _world(server, nursery, http)
        problems = []
        for route in ROUTES:
            answer = await _call(http, world, route, caller, clock)
            if answer.status_code != EXPECT[route][caller]:
                problems.append(f"{route}: expected {EXPECT[route][caller]}, got "
                                f"{answer.status_code} {answer.text[:120]}")
            elif answer.status_code >= 400:
                assert "Traceback" not in answer.text and "error" in answer.json()
            elif route == "messages" and caller == "other_corp":
                assert answer.json()["skipped"] == [{"user": "dan", "reason": "not_found"}]
        assert problems == []
