"""Cards and markdown (docs/api.md; protocol revision 1.10): an app's card reaches
the employee as a `card` message with its text fallback, stored so that history
gives it back the same; markdown is marked, from apps and robots alike."""

from __future__ import annotations

from corpchat.protocol import Card, History, HistoryPage, Msg

from ..client import TestClient
from .test_api_apps import _post, _setup
from .test_api_robots import _add, _hook
from .test_groups import make_group, people, request


async def test_a_card_and_markdown_reach_the_employee_and_stay(server, nursery):
    app, token, tokens, _ = await _setup(server)
    dan = await TestClient(nursery, server.url, tokens["dan"]).connect()
    card = {"title": "Leave approved", "description": "Request 4711, 8-12 Dec",
            "url": "https://hr.acme.example/l/4711", "button": "Open"}
    answer = await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]}, "card": card},
                         token)
    assert answer.status_code == 200, answer.text
    msg = await dan.expect(Msg)
    assert msg.kind == "card" and msg.markdown is None
    assert msg.card == Card(title="Leave approved", url="https://hr.acme.example/l/4711",
                            description="Request 4711, 8-12 Dec", button="Open")
    assert msg.text == "Leave approved\nRequest 4711, 8-12 Dec\nOpen: https://hr.acme.example/l/4711"
    bare = {"title": "Badge ready", "url": "https://it.acme.example/b"}
    await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]}, "card": bare}, token)
    second = await dan.expect(Msg)
    assert second.card == Card(title="Badge ready", url="https://it.acme.example/b")
    assert second.text == "Badge ready\nDetails: https://it.acme.example/b"
    await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]},
                                             "markdown": "**Payslip** for _November_"}, token)
    md = await dan.expect(Msg)
    assert (md.text, md.markdown, md.kind, md.card) == (
        "**Payslip** for _November_", True, None, None)
    await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]}, "text": "plain"}, token)
    plain = await dan.expect(Msg)
    assert (plain.markdown, plain.card, plain.kind) == (None, None, None)
    page = await request(dan, History, reply=(HistoryPage,), conv=msg.conv, limit=10)
    assert [(m.kind, m.card, m.markdown, m.text) for m in page.msgs] == [
        (m.kind, m.card, m.markdown, m.text) for m in (plain, md, second, msg)]  # newest first


async def test_bad_cards_are_refused_with_the_field(server):
    _, token, _, _ = await _setup(server)
    for card, field in (({"url": "https://x.example"}, "card.title"),
                        ({"title": "t"}, "card.url"),
                        ({"title": "t", "url": "ftp://x.example"}, "card.url"),
                        ({"title": "t", "url": "https://x", "colour": "red"}, "card.colour"),
                        ({"title": "t" * 129, "url": "https://x"}, "card.title")):
        answer = await _post(server, "/api/v1/messages", {"to": {"users": ["dan"]},
                                                          "card": card}, token)
        assert answer.status_code == 400 and answer.json()["field"] == field, (card, answer.text)


async def test_a_robots_markdown_is_marked(server, nursery):
    c = await people(server, nursery, "ann", "bob")
    added = await _add(c["ann"], await make_group(c["ann"], "bob"))
    assert (await _hook(added.url, {"markdown": "**disk** full"})).status_code == 200
    assert (await _hook(added.url, {"text": "**not** markdown"})).status_code == 200
    seen = []
    while len(seen) < 2:
        msg = await c["bob"].expect(Msg)
        if msg.robot:
            seen.append((msg.text, msg.markdown))
    assert seen == [("**disk** full", True), ("**not** markdown", None)]
