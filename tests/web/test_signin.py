"""Sign-in for people (revision 1.3, §29): an invite link, a password, the devices view.

Runs once the server speaks `login` and `redeem` (the sign-in feature); the web
client shows these forms only then.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from corpchat.protocol import CLIENT_FRAMES

from .conftest import TIMEOUT_MS
from .test_scenarios import send, start_chat

pytestmark = pytest.mark.skipif("login" not in CLIENT_FRAMES,
                                reason="the server has no sign-in (revision 1.3) yet")


def fresh_page(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    return page


def test_invite_then_password_then_devices(browser, web_server, person):
    nat = person(web_server.employee("nat7", name="Nat Ross"))  # a colleague, signed in elsewhere
    added = web_server.admin("user.add", handle="mia7", corp="acme")
    link = added["invite_link"]
    code = link.split("#invite=", 1)[1]
    page = fresh_page(browser, f"{web_server.url}#invite={code}")
    expect(page.get_by_role("heading", name="Join corpchat")).to_be_visible()
    assert "#invite" not in page.url  # taken out of the address bar at once
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Password again").fill("correct horse battery")
    page.get_by_role("button", name="Set password and sign in").click()
    page.locator("body[data-state=online]").wait_for(state="attached")
    start_chat(page, "nat7")
    send(page, "Hello from my first day")
    expect(nat.locator(".conv", has_text="mia7")).to_contain_text("Hello from my first day")

    other = fresh_page(browser, web_server.url)
    other.get_by_label("Handle").fill("mia7")
    other.get_by_label("Password", exact=True).fill("wrong password!!")
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator(".form-error")).to_have_text("Wrong handle or password.")
    other.get_by_label("Password", exact=True).fill("correct horse battery")
    other.get_by_role("button", name="Sign in").click()
    other.locator("body[data-state=online]").wait_for(state="attached")

    page.get_by_role("button", name=re.compile("^Me")).click()
    devices = page.locator("section[aria-label=Devices] .person")
    expect(devices).to_have_count(2)  # the invite's and the password's (user add issues none)
    expect(page.locator("section[aria-label=Devices]")).to_contain_text("This device")
    other_device = devices.filter(has_not_text="This device").last
    other_device.get_by_role("button").click()
    expect(other.locator("body[data-state=signed_out]")).to_be_attached()  # revoked: 4001
    expect(devices).to_have_count(1)
    for p in (page, other):
        p.context.close()
