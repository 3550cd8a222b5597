"""An app's card (docs/api.md; protocol revision 1.10) in Chromium against a real server:
shown as a card whose title and button open its url, not as its text fallback."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect


def _post(web_server, path: str, body: dict, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(web_server.url.rstrip("/") + path, json=body, headers=headers, timeout=10)


def test_an_apps_card_is_shown_as_a_card(web_server, person):
    uma = person(web_server.employee("uma41", corp="initech", name="Uma Ward"))
    app = web_server.admin("app.add", corp="initech", name="Approvals")
    web_server.admin("app.scope", app=app["app_id"], users=["uma41"])
    token = _post(web_server, "/api/v1/token",
                  {"app_id": app["app_id"], "secret": app["secret"]}).json()["access_token"]
    card = {"title": "Leave approved", "description": "Request 4711, 8-12 Dec",
            "url": "https://hr.initech.example/l/4711", "button": "Review"}
    answer = _post(web_server, "/api/v1/messages", {"to": {"users": ["uma41"]}, "card": card},
                   token)
    assert answer.status_code == 200, answer.text
    uma.locator(".conv", has_text="Approvals").first.click()  # named after the app (§33.3)
    expect(uma.locator(".chat-title h1")).to_have_text("Approvals")
    shown = uma.get_by_role("group", name="Card: Leave approved")
    expect(shown).to_be_visible()
    title = shown.locator("a.card-title")
    expect(title).to_have_text("Leave approved")
    expect(title).to_have_attribute("href", "https://hr.initech.example/l/4711")
    expect(title).to_have_attribute("rel", "noopener noreferrer")
    expect(shown.locator(".card-description")).to_have_text("Request 4711, 8-12 Dec")
    expect(shown.locator("a.card-button")).to_have_text("Review")
    message = uma.locator(".message")
    expect(message).to_have_count(1)
    expect(message).not_to_contain_text("A message this version cannot show")
    expect(message).not_to_contain_text("Review: https://")  # the fallback is for old clients
    expect(message.locator(".who .name")).to_have_text("Approvals")  # not app:<id>
