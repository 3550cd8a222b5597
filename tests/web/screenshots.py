"""Takes the screenshots of docs/web/ (`python -m tests.web.screenshots`): the main views
of the web client with a small company in it, as a person sees them."""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from .conftest import CHROMIUM, CHROMIUM_ARGS, WebServer, _serve
from .test_attachments import png
from .test_scenarios import open_chat_with, send, start_chat
from .test_search import search_until_found

OUT = Path(__file__).resolve().parents[2] / "docs" / "web"


def company(server: WebServer) -> dict[str, str]:
    full = {"corp_full_name": "Acme Corporation"}
    tokens = {
        "ann": server.employee("ann", name="Ann Lee", title="Product manager", **full),
        "ben": server.employee("ben", name="Ben Ortiz", title="Engineer"),
        "cara": server.employee("cara", name="Cara Singh", title="Designer"),
        "dev": server.employee("dev", name="Dev Patel", title="Support lead"),
        "zoe": server.consumer("zoe", name="Zoe Martin"),
    }
    server.admin("user.set", handle="ann", corp_admin=True)
    product = server.admin("dept.add", corp="acme", name="Product")["dept"]
    engineering = server.admin("dept.add", corp="acme", name="Engineering")["dept"]
    server.admin("dept.add", corp="acme", name="Platform", parent=engineering)
    support = server.admin("dept.add", corp="acme", name="Customer support")["dept"]
    for handle, dept in (("ann", product), ("cara", product), ("ben", engineering),
                         ("dev", support)):
        server.admin("user.set", handle=handle, dept=dept)
    group = server.admin("tag.group_add", corp="acme", name="Customer type")["group"]
    for tag in ("VIP", "Wholesale", "New"):
        server.admin("tag.add", corp="acme", group=group, name=tag)
    return tokens


def signed_in(browser, server, token, width=1280, height=800):
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server.url}#token={token}")
    page.locator("body[data-state=online]").wait_for(state="attached")
    return page


def new_group(page, name, members):
    page.get_by_role("button", name="New group").click()
    page.get_by_label("Group name").fill(name)
    page.get_by_label("Members").fill(members)
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".chat-title h1")).to_have_text(name)


def shoot(page, name):
    page.evaluate("document.getElementById('toasts').replaceChildren()")  # passing notices
    page.wait_for_timeout(300)  # let the last frame paint
    page.screenshot(path=str(OUT / f"{name}.png"))
    print("wrote", OUT / f"{name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    server = WebServer(os.path.join(tempfile.mkdtemp(), "data"))
    started: queue.Queue = queue.Queue()
    threading.Thread(target=_serve, args=(server, started), daemon=True).start()
    assert started.get(timeout=30) is None
    tokens = company(server)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        first = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        first.goto(server.url)
        shoot(first, "signin")
        invite = server.admin("user.add", handle="eli", corp="acme")["invite_link"].split("#", 1)[1]
        first.goto(f"{server.url}#{invite}")
        expect(first.get_by_role("heading", name="Join corpchat")).to_be_visible()
        shoot(first, "invite")
        ann, ben, cara = (signed_in(browser, server, tokens[h]) for h in ("ann", "ben", "cara"))
        dev = signed_in(browser, server, tokens["dev"])
        zoe = signed_in(browser, server, tokens["zoe"])
        conversation(ann, ben, cara, dev)
        people(ann, dev, zoe)
        shoot(ann, "chat")
        everyday(ann, ben, cara, dev)
        everyday_shots(ann, dev)
        search_until_found(ann, "launch")
        ann.locator(".hit").last.click()
        shoot(ann, "search")
        ann.get_by_role("searchbox", name="Search conversations and messages").fill("")
        ann.get_by_role("button", name="Me: status, quiet hours, settings").click()
        shoot(ann, "quiet-hours")
        devices = ann.locator("section[aria-label=Devices]")
        expect(devices).to_contain_text("This device")
        devices.evaluate("el => el.scrollIntoView({ block: 'end' })")
        shoot(ann, "devices")
        dev.get_by_role("button", name="Customers and moments").click()
        dev.locator(".chip", has_text="VIP").first.click()
        dev.get_by_label("New moment").fill("Our spring catalogue is out — ask me for a copy!")
        dev.get_by_label("Images for the moment").set_input_files(
            [{"name": f"catalogue-{i}.png", "mimeType": "image/png", "buffer": png(300, 300)}
             for i in range(3)])
        expect(dev.locator(".chosen-image figcaption")).to_have_text(["ready"] * 3)
        dev.get_by_role("button", name="Post moment").click()
        expect(dev.locator(".moments")).to_contain_text("spring catalogue")
        shoot(dev, "customers")
        zoe.get_by_role("button", name="Chats").click()
        open_chat_with(zoe, "Dev Patel @acme")
        shoot(zoe, "consumer-chat")
        phone = signed_in(browser, server, tokens["ben"], width=390, height=780)
        shoot(phone, "phone-list")
        open_chat_with(phone, "Launch team")
        shoot(phone, "phone-chat")
        browser.close()
    trio_stop(server)


def conversation(ann, ben, cara, dev) -> None:
    new_group(ann, "Launch team", "ben, cara, dev")
    send(ann, "Morning all! Launch checklist is in the wiki — please have a look before 3pm.",
         receipt=True)
    open_chat_with(ben, "Launch team")
    send(ben, "On it. Release notes are drafted, I'll share them at noon.")
    open_chat_with(cara, "Launch team")
    cara.locator(".composer input[type=file]").set_input_files(
        [{"name": "store-listing.png", "mimeType": "image/png", "buffer": png(360, 220)},
         {"name": "release-notes.txt", "mimeType": "text/plain", "buffer": b"v2.0 notes\n" * 300}])
    expect(cara.locator(".upload .state.sent")).to_have_count(2)
    send(cara, "Screenshots for the store listing are done ✓")
    start_chat(ann, "ben")
    send(ann, "Can you review the pricing page copy today?")
    open_chat_with(ben, "Ann Lee")
    send(ben, "Sure, after standup.")
    dev.get_by_role("button", name="Me: status, quiet hours, settings").click()
    dev.get_by_role("button", name="1 hour").click()
    dev.get_by_role("button", name="Chats").click()
    start_chat(ann, "dev")
    send(ann, "Are the support macros updated for the launch?")
    open_chat_with(ann, "Launch team")
    ann.locator(".receipt-line").first.click()
    expect(ann.locator("#drawer")).to_contain_text("Read")
    ann.locator("#drawer").get_by_role("button", name="Close panel").click()
    ann.get_by_role("button", name="Group members and settings").click()
    expect(ann.locator("#drawer .member-list li")).to_have_count(4)


def everyday(ann, ben, cara, dev) -> None:
    """Mentions, a reply, reactions, an edit, the group notice and a pin in the launch group;
    Dev (who was mentioned) opens it last."""
    open_chat_with(ben, "Launch team")
    open_chat_with(cara, "Launch team")
    act(ben, "Launch checklist", "Reply")
    box = ben.get_by_role("textbox", name="Message", exact=True)
    box.press_sequentially("@de")
    box.press("Enter")
    box.press_sequentially("can you check the support part of it? @ca")
    box.press("Enter")
    box.press_sequentially("the screenshots look great")
    box.press("Enter")
    act(cara, "Launch checklist", "React")
    cara.get_by_role("menuitem", name="React with 👍").click()
    act(ben, "Launch checklist", "React")
    ben.get_by_role("menuitem", name="React with 👍").click()
    act(ben, "Release notes are drafted", "Edit")
    box.fill("On it. Release notes are drafted, I'll share them at 11:30.")
    box.press("Enter")
    expect(message(ben, "at 11:30").locator(".edited")).to_be_visible()
    notice = "Launch: Thursday 10:00. Code freeze Wednesday 18:00."
    ann.get_by_label("New group notice").fill(notice)
    ann.locator("#drawer").get_by_role("button", name="Post notice").click()
    act(ann, "at 11:30", "Pin")
    expect(ann.locator(".system").last).to_contain_text("You pinned a message")
    dev.get_by_role("button", name="Me: status, quiet hours, settings").click()
    dev.get_by_role("button", name="Resume now").click()
    dev.get_by_role("button", name="Chats").click()
    expect(dev.locator(".conv", has_text="Launch team").locator(".mention-badge")).to_be_visible()
    open_chat_with(dev, "Launch team")
    expect(dev.locator(".notice-banner")).to_contain_text("Code freeze")


def everyday_shots(ann, dev) -> None:
    shoot(dev, "everyday")
    dev.get_by_role("button", name="Pinned messages: 1").click()
    expect(dev.locator("#drawer .pins li")).to_have_count(1)
    shoot(dev, "pins")
    dev.locator("#drawer").get_by_role("button", name="Close panel").click()
    ann.locator("#drawer").get_by_role("button", name="Close panel").click()
    ann.get_by_role("button", name="Contacts").click()
    tree = ann.locator("section[aria-label=Departments]")
    expect(tree.locator(".dept")).to_have_count(3)
    tree.get_by_role("button", name="Engineering").click()
    expect(tree.locator(".person-name")).to_have_text(["Ben Ortiz"])
    tree.evaluate("el => el.scrollIntoView()")
    shoot(ann, "directory")
    ann.get_by_role("button", name="Chats").click()


def message(page, text: str):
    return page.locator(".message", has=page.locator(".bubble", has_text=text)).last


def act(page, text: str, action: str) -> None:
    msg = message(page, text)
    msg.hover()
    msg.get_by_role("button", name="Actions for this message").click()
    page.get_by_role("menu", name="Message actions").get_by_role("menuitem", name=action,
                                                                exact=True).click()


def people(ann, dev, zoe) -> None:
    dev.get_by_role("button", name="Contacts").click()
    dev.get_by_label("Customer's handle").fill("zoe")
    dev.get_by_label("Note").fill("Your support contact at Acme")
    dev.get_by_role("button", name="Send request").click()
    zoe.get_by_role("button", name="Contacts").click()
    expect(zoe.locator("section[aria-label=Requests]")).to_contain_text("Dev Patel @acme")
    shoot(zoe, "consumer-request")
    zoe.get_by_role("button", name="Accept").click()
    expect(zoe.locator("section[aria-label=Contacts]")).to_contain_text("Dev Patel @acme")
    zoe.get_by_role("button", name="Message Dev Patel @acme").click()
    send(zoe, "Hi Dev, my order #1042 has not arrived yet.")
    open_chat_with(dev, "Zoe Martin")
    send(dev, "Sorry about that, Zoe — I'm checking with the warehouse now.")


def trio_stop(server: WebServer) -> None:
    import trio

    trio.from_thread.run_sync(server.app.request_shutdown, trio_token=server.token)
    server.done.wait(20)


if __name__ == "__main__":
    main()
