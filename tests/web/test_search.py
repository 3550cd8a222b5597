"""Search in the web client (revision 1.6, §32): a hit with its match marked opens the
conversation at that message."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from .test_scenarios import send, start_chat


def search_until_found(page, query: str, timeout_s: float = 10.0):
    """The index follows the commits about a second behind (§32): ask again until it has it."""
    box = page.get_by_role("searchbox", name="Search conversations and messages")
    deadline = time.monotonic() + timeout_s
    while True:
        box.fill(query)
        box.press("Enter")
        hit = page.locator(".hit")
        try:
            expect(hit.first).to_be_visible(timeout=1500)
            return hit
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def test_a_search_hit_opens_the_conversation_at_the_message(web_server, person):
    uma = person(web_server.employee("uma11", name="Uma Sato"))
    vic = person(web_server.employee("vic11", name="Vic Moss"))
    start_chat(uma, "vic11")
    send(uma, "The quarterly invoice for Globex is attached")
    for n in range(5):
        send(uma, f"unrelated chatter {n}")
    expect(uma.locator(".message.mine .state.sent")).to_have_count(6)
    hit = search_until_found(vic, "invoice")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("invoice")
    expect(hit).to_contain_text("Uma Sato")
    hit.click()
    expect(vic.locator(".chat-title h1")).to_have_text("Uma Sato")
    found = vic.locator(".message.found .bubble")
    expect(found).to_have_text("The quarterly invoice for Globex is attached")
