"""Files in app messages (docs/api.md): POST /api/v1/media, then `attachments` in
POST /api/v1/messages; the recipients may fetch them, nobody else; a real server,
real HTTP, the media service's own rules."""

from __future__ import annotations

import httpx

from corpchat.protocol import Msg

from ..client import TestClient
from .test_api_apps import _base, _post, _setup
from .test_media import fetch, png


async def _upload(server, token: str | None, data: bytes, name: str = "chart.png"):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=_base(server), timeout=10) as http:
        return await http.post("/api/v1/media", params={"name": name}, content=data,
                               headers=headers)


async def test_an_app_message_carries_an_uploaded_file(server, nursery):
    app, token, tokens, depts = await _setup(server)  # reaches alice (sales) and dan
    alice = await TestClient(nursery, server.url, tokens["alice"]).connect()
    uploaded = await _upload(server, token, png())
    assert uploaded.status_code == 200, uploaded.text
    info = uploaded.json()
    assert (info["mime"], info["kind"], info["name"], info["width"]) == (
        "image/png", "image", "chart.png", 64)
    answer = await _post(server, "/api/v1/messages", {
        "to": {"departments": [depts["sales"]]}, "text": "Q3 sales",
        "attachments": [info["media"]]}, token)
    assert answer.status_code == 200 and answer.json()["delivered"] == 1, answer.text
    msg = await alice.expect(Msg)
    assert (msg.text, msg.kind) == ("Q3 sales", "image")
    assert [(a.media, a.name, a.sha256) for a in msg.attachments] == [
        (info["media"], "chart.png", info["sha256"])]
    assert (await fetch(server, f"/media/{info['media']}", tokens["alice"])).content == png()
    assert (await fetch(server, f"/media/{info['media']}", tokens["bob"])).status_code == 404


async def test_attachments_alone_and_refusals(server, nursery):
    app, token, tokens, _ = await _setup(server)
    dan = await TestClient(nursery, server.url, tokens["dan"]).connect()
    assert (await _upload(server, None, png())).status_code == 401
    assert (await _upload(server, token, b"")).status_code == 400  # an empty body
    media = (await _upload(server, token, b"%PDF-1.4 report", "r.pdf")).json()["media"]
    alone = await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]},
                                                     "attachments": [media]}, token)
    assert alone.json()["delivered"] == 1, alone.text
    msg = await dan.expect(Msg)
    assert (msg.text, msg.kind, msg.attachments[0].name) == ("", "file", "r.pdf")
    # a file the app neither uploaded nor may see; a user's own upload is not the app's
    mine = await httpx.AsyncClient().post(
        f"{_base(server)}/media", params={"name": "x.png"}, content=png(),
        headers={"authorization": f"Bearer {tokens['bob']}"})
    for unknown in ("nope", mine.json()["media"]):
        refused = await _post(server, "/api/v1/messages", {
            "to": {"users": ["dan"]}, "text": "x", "attachments": [unknown]}, token)
        assert refused.status_code == 400 and refused.json()["field"] == "attachments", \
            refused.text
    assert len(dan.taken(Msg)) == 1  # the refused ones sent nothing
    other = await server.admin("app.add", corp="acme", name="Other")
    other_token = (await _post(server, "/api/v1/token", {
        "app_id": other["app_id"], "secret": other["secret"]})).json()["access_token"]
    theirs = (await _upload(server, other_token, png())).json()["media"]
    refused = await _post(server, "/api/v1/messages", {
        "to": {"users": ["dan"]}, "attachments": [theirs]}, token)
    assert refused.status_code == 400
    none = await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]}}, token)
    assert none.status_code == 400 and none.json()["field"] == "text"
