"""Group robots (docs/api.md; protocol revision 1.7): robot.add/remove/list over the
WebSocket, POST /hooks/robot/<key> into the group, seen by live clients."""

from __future__ import annotations

import httpx

from corpchat.protocol import (
    Error,
    Msg,
    Ok,
    RobotAdd,
    RobotAdded,
    RobotList,
    RobotListReply,
    RobotRemove,
)

from ..client import TestClient
from .test_groups import make_contact, make_group, people, request


async def _hook(url: str, body=None, raw: bytes | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        if raw is not None:
            return await http.post(url, content=raw)
        return await http.post(url, json=body)


async def _add(client: TestClient, conv: int, name="CI") -> RobotAdded | Error:
    return await request(client, RobotAdd, reply=(RobotAdded, Error), conv=conv, name=name)


async def test_robot_posts_into_the_group(server, nursery):
    c = await people(server, nursery, "ann", "bob")
    conv = await make_group(c["ann"], "bob")
    added = await _add(c["ann"], conv, "Build bot")
    assert isinstance(added, RobotAdded), added
    assert added.url.startswith(server.url.replace("ws://", "http://").rstrip("/") + "/hooks/")
    assert len(added.url.rsplit("/", 1)[1]) >= 43  # 256 bits
    answer = await _hook(added.url, {"text": "build 812 passed", "mentions": ["bob"]})
    assert answer.status_code == 200, answer.text
    msg = await c["bob"].expect(Msg)
    while msg.text != "build 812 passed":
        msg = await c["bob"].expect(Msg)
    assert (msg.robot, msg.display, msg.sender, msg.users) == (
        True, "Build bot", f"robot:{added.robot}", ("bob",))
    assert answer.json()["seq"] == msg.seq
    listing = await request(c["bob"], RobotList, reply=(RobotListReply, Error), conv=conv)
    assert [(r.name, r.by) for r in listing.robots] == [("Build bot", "ann")]


async def test_only_managers_add_and_a_removed_key_is_404(server, nursery):
    c = await people(server, nursery, "ann", "bob")
    conv = await make_group(c["ann"], "bob")
    refused = await _add(c["bob"], conv)
    assert isinstance(refused, Error) and refused.code == "forbidden"
    added = await _add(c["ann"], conv)
    gone = await request(c["ann"], RobotRemove, conv=conv, robot=added.robot)
    assert isinstance(gone, Ok), gone
    assert (await _hook(added.url, {"text": "hi"})).status_code == 404
    assert (await _hook(added.url[:-3] + "abc", {"text": "hi"})).status_code == 404


async def test_robot_rate_limit_and_text_limit(server, nursery, clock):
    c = await people(server, nursery, "ann", "bob")
    added = await _add(c["ann"], await make_group(c["ann"], "bob"))
    for i in range(20):
        assert (await _hook(added.url, {"text": f"n{i}"})).status_code == 200
    over = await _hook(added.url, {"text": "one too many"})
    assert over.status_code == 429 and int(over.headers["retry-after"]) == 600
    clock.advance(60)  # the minute is over, the throttle is not
    still = await _hook(added.url, {"text": "x"})
    assert still.status_code == 429 and int(still.headers["retry-after"]) == 540
    clock.advance(539)  # refused posts do not extend it
    assert (await _hook(added.url, None, raw=b"not json")).status_code == 429  # not parsed
    assert int((await _hook(added.url, {"text": "x"})).headers["retry-after"]) == 1
    clock.advance(1)
    assert (await _hook(added.url, {"text": "again"})).status_code == 200
    long = await _hook(added.url, {"text": "x" * 2049})
    assert long.status_code == 400 and long.json()["field"] == "text"
    assert (await _hook(added.url, {"text": "a", "mentions": ["all", "bob"]})).status_code == 400
    assert (await _hook(added.url, None, raw=b"not json")).status_code == 400
    async with httpx.AsyncClient() as http:
        assert (await http.get(added.url)).status_code == 405


async def test_external_groups_only_when_the_corp_allows(server, nursery):
    c = await people(server, nursery, "ann", "bob")
    token = await server.user("carol", corp=None)
    carol = await TestClient(nursery, server.url, token).connect()
    await make_contact(c["ann"], carol)
    conv = await make_group(c["ann"], "bob", "carol")
    refused = await _add(c["ann"], conv)
    assert isinstance(refused, Error) and refused.code == "forbidden"
    await server.admin("corp.set", corp="acme", robots_in_external_groups=True)
    added = await _add(c["ann"], conv, "Alerts")
    assert isinstance(added, RobotAdded), added
    assert (await _hook(added.url, {"markdown": "**disk** full"})).status_code == 200
    msg = await carol.expect(Msg)
    while msg.text != "**disk** full":
        msg = await carol.expect(Msg)
    assert (msg.robot, msg.display, msg.corp) == (True, "Alerts", "acme")
    await server.admin("corp.set", corp="acme", robots_in_external_groups=False)
    assert (await _hook(added.url, {"text": "x"})).status_code == 403
