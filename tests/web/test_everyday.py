"""Everyday messaging in the web client (revision 1.5, protocol §31), in Chromium against
a real server: @mentions with completion, replies, edits, reactions, forwarding, the
group notice, pins and mute — each as a person sees it, on both sides."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .test_scenarios import open_chat_with, send, start_chat


def new_group(page, name: str, *handles: str) -> None:
    page.get_by_role("button", name="New group").click()
    page.get_by_label("Group name").fill(name)
    page.get_by_label("Members").fill(", ".join(handles))
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".chat-title h1")).to_have_text(name)
    expect(page.locator(".chat-sub")).to_contain_text(f"{len(handles) + 1} members")


def message(page, text: str):
    return page.locator(".message", has=page.locator(".bubble", has_text=text)).last


def act(page, text: str, action: str) -> None:
    """Open a message's actions menu and pick one (Reply, React, Edit, Forward, Pin, …)."""
    msg = message(page, text)
    msg.hover()
    msg.get_by_role("button", name="Actions for this message").click()
    page.get_by_role("menu", name="Message actions").get_by_role("menuitem", name=action,
                                                                exact=True).click()


def test_a_mention_completes_highlights_and_badges(web_server, person):
    amy = person(web_server.employee("amy21", name="Amy Stone"))
    bob = person(web_server.employee("bob21", name="Bob Marsh"))
    cyd = person(web_server.employee("cyd21", name="Cyd Park"))
    new_group(amy, "Design review", "bob21", "cyd21")
    box = amy.get_by_role("textbox", name="Message", exact=True)
    box.press_sequentially("@bo")
    options = amy.get_by_role("listbox", name="Mention someone").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Bob Marsh")
    box.press("Enter")  # picks the completion, does not send
    expect(box).to_have_value("@bob21 ")
    box.press_sequentially("please review the mockups")
    box.press("Enter")
    expect(amy.locator(".message.mine .state.sent")).to_have_count(1)
    bob_row = bob.locator(".conv", has_text="Design review")
    expect(bob_row.locator(".mention-badge")).to_have_text("@")
    expect(bob_row).to_contain_text("[@you]")
    cyd_row = cyd.locator(".conv", has_text="Design review")
    expect(cyd_row.locator(".mention-badge")).to_have_count(0)
    open_chat_with(bob, "Design review")
    expect(bob.locator(".message.mentioned .mention.me")).to_have_text("@bob21")
    expect(bob_row.locator(".mention-badge")).to_have_count(0)  # read on opening
    open_chat_with(cyd, "Design review")
    expect(cyd.locator(".mention")).to_have_text("@bob21")
    expect(cyd.locator(".message.mentioned")).to_have_count(0)


def test_a_reply_quotes_its_original_and_an_edit_is_marked(web_server, person):
    dee = person(web_server.employee("dee22", name="Dee Long"))
    eli = person(web_server.employee("eli22", name="Eli Moss"))
    start_chat(eli, "dee22")
    send(eli, "The draft contract is in the share")
    open_chat_with(dee, "Eli Moss")
    act(dee, "The draft contract", "Reply")
    expect(dee.locator(".compose-bar")).to_contain_text("Replying to Eli Moss")
    send(dee, "Thanks, reading it now")
    expect(dee.locator(".compose-bar")).to_have_count(0)
    for page in (dee, eli):
        quote = message(page, "Thanks, reading it now").locator(".quote")
        expect(quote).to_contain_text("The draft contract is in the share")
    message(eli, "Thanks, reading it now").locator(".quote").click()  # jump to the original
    expect(message(eli, "The draft contract")).to_have_class(re.compile(r"\bfound\b"))
    act(dee, "Thanks, reading it now", "Edit")
    box = dee.get_by_role("textbox", name="Message", exact=True)
    expect(box).to_have_value("Thanks, reading it now")
    expect(dee.locator(".compose-bar")).to_contain_text("Editing your message")
    box.fill("Thanks, I have read it: fine by me")
    box.press("Enter")
    for page in (dee, eli):
        edited = message(page, "Thanks, I have read it: fine by me")
        expect(edited.locator(".edited")).to_have_text("edited")
    expect(eli.locator(".message .bubble")).to_have_text(
        ["The draft contract is in the share", "Thanks, I have read it: fine by me"])


def test_reactions_count_toggle_and_show_who(web_server, person):
    fay = person(web_server.employee("fay23", name="Fay Dunn"))
    gus = person(web_server.employee("gus23", name="Gus Hale"))
    start_chat(fay, "gus23")
    send(fay, "We shipped the release")
    open_chat_with(gus, "Fay Dunn")
    act(gus, "We shipped", "React")
    gus.get_by_role("menuitem", name="React with 🎉").click()
    chip = message(fay, "We shipped").locator(".reaction", has_text="🎉")
    expect(chip).to_contain_text("1")
    chip.click()  # Fay adds hers
    expect(chip).to_contain_text("2")
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(message(gus, "We shipped").locator(".reaction", has_text="🎉")).to_contain_text("2")
    message(fay, "We shipped").get_by_role("button", name="Who reacted").click()
    expect(fay.locator("#drawer")).to_contain_text("🎉 · 2")
    who = fay.locator("#drawer .member-list li .grow")
    expect(who).to_have_count(2)
    assert sorted(who.all_inner_texts()) == ["Gus Hale", "You"]
    chip.click()  # and takes it back
    expect(message(gus, "We shipped").locator(".reaction", has_text="🎉")).to_contain_text("1")
    expect(chip).to_have_attribute("aria-pressed", "false")


def test_forwarding_to_a_group_shows_where_it_came_from(web_server, person):
    hal = person(web_server.employee("hal24", name="Hal Ives"))
    ivy = person(web_server.employee("ivy24", name="Ivy Jones"))
    jon = person(web_server.employee("jon24", name="Jon Kerr"))
    new_group(hal, "Ops", "jon24")
    start_chat(ivy, "hal24")
    send(ivy, "The backup finished at 02:00")
    open_chat_with(hal, "Ivy Jones")
    act(hal, "The backup finished", "Forward")
    hal.locator("dialog .pick-row", has_text="Ops").locator("input").check()
    hal.locator("dialog").get_by_role("button", name="Forward").click()
    open_chat_with(jon, "Ops")
    copy = message(jon, "The backup finished at 02:00")
    expect(copy.locator(".forwarded")).to_contain_text("Forwarded from Ivy Jones")


def test_a_group_notice_is_confirmed_and_pins_are_listed(web_server, person):
    kay = person(web_server.employee("kay25", name="Kay Lund"))
    lou = person(web_server.employee("lou25", name="Lou Mays"))
    new_group(kay, "Floor 3", "lou25")
    send(kay, "Fire drill on Tuesday")
    kay.get_by_role("button", name="Group members and settings").click()
    kay.get_by_label("New group notice").fill("Badges are required from Monday")
    kay.locator("#drawer").get_by_role("button", name="Post notice").click()
    receipt = message(kay, "Badges are required").locator(".receipt-line")
    expect(receipt).to_have_text("1 not confirmed")
    receipt.click()
    expect(kay.locator("#drawer")).to_contain_text("Not confirmed yet · 1")
    expect(kay.locator("#drawer").get_by_role("button", name="Remind them")).to_be_visible()
    kay.locator("#drawer").get_by_role("button", name="Close panel").click()
    row = lou.locator(".conv", has_text="Floor 3")
    expect(row).to_contain_text("[Group notice]")
    open_chat_with(lou, "Floor 3")
    banner = lou.locator(".notice-banner")
    expect(banner).to_contain_text("Badges are required from Monday")
    expect(row.locator(".count")).to_have_text("1")  # opening is not confirming
    banner.get_by_role("button", name="Confirm").click()
    expect(message(lou, "Badges are required").locator(".notice-flag")).to_contain_text("Confirmed")
    expect(row.locator(".count")).to_have_count(0)
    expect(receipt).to_have_text("All confirmed")

    act(kay, "Fire drill on Tuesday", "Pin")
    expect(kay.locator(".system").last).to_contain_text("You pinned a message")
    expect(lou.locator(".system").last).to_contain_text("Kay Lund pinned a message")
    lou.get_by_role("button", name="Pinned messages: 1").click()
    expect(lou.locator("#drawer .pins li")).to_contain_text("Fire drill on Tuesday")
    expect(lou.locator("#drawer").get_by_role("button", name="Unpin")).to_have_count(0)  # a member
    kay.get_by_role("button", name="Pinned messages: 1").click()
    kay.locator("#drawer").get_by_role("button", name="Unpin").click()
    expect(kay.locator("#drawer")).to_contain_text("Nothing is pinned yet")


def test_a_muted_chat_shows_its_mark_and_does_not_notify(web_server, person):
    max_ = person(web_server.employee("max26", name="Max Nash"))
    nia = person(web_server.employee("nia26", name="Nia Ode"))
    start_chat(max_, "nia26")
    send(max_, "first")
    open_chat_with(nia, "Max Nash")
    nia.evaluate("window.notified = [];"
                 "window.corpchat.notifier = { notify: (n) => window.notified.push(n.body) }")
    nia.get_by_role("button", name="Mute this conversation").click()
    nia.get_by_role("menu", name="Mute for").get_by_role("menuitem", name="Until I unmute").click()
    expect(nia.get_by_role("button", name="Unmute this conversation")).to_be_visible()
    expect(nia.locator(".conv", has_text="Max Nash").locator(".muted-mark")).to_be_visible()
    send(max_, "while muted")
    expect(nia.locator(".message .bubble").last).to_have_text("while muted")
    nia.get_by_role("button", name="Unmute this conversation").click()
    expect(nia.locator(".conv", has_text="Max Nash").locator(".muted-mark")).to_have_count(0)
    send(max_, "after unmuting")
    expect(nia.locator(".message .bubble").last).to_have_text("after unmuting")
    assert nia.evaluate("window.notified") == ["after unmuting"]


def test_the_list_shows_last_messages_without_asking_history(web_server, person, browser):
    """Revision 1.9: `conversations` carries each conversation's last message."""
    oda = web_server.employee("oda27", name="Oda Pratt")
    pia = person(web_server.employee("pia27", name="Pia Quay"))
    start_chat(pia, "oda27")
    send(pia, "see you at the offsite")
    expect(pia.locator(".message.mine .state.sent")).to_have_count(1)
    context = browser.new_context()
    context.add_init_script("""(() => {
      window.sentText = [];
      const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function (data) {
        window.sentText.push(new TextDecoder().decode(data));
        return send.call(this, data);
      };
    })()""")
    page = context.new_page()
    try:
        page.goto(f"{web_server.url}#token={oda}")
        row = page.locator(".conv", has_text="Pia Quay")
        expect(row).to_contain_text("see you at the offsite")
        sent = page.evaluate("window.sentText")
        assert any("conversations" in text for text in sent)
        assert not any("history" in text for text in sent), sent
    finally:
        context.close()


def test_opening_a_long_chat_shows_its_newest_messages(web_server, person):
    """The first page of history came into an empty view and left it at its top (the
    oldest of the page), with the newest message out of sight."""
    import trio

    from .bench import _send_all

    quin = web_server.employee("qui28", name="Quin Rowe")
    rex = person(web_server.employee("rex28", name="Rex Shaw"))
    texts = [("rex28", f"status line {n}") for n in range(40)]
    trio.run(_send_all, f"ws://127.0.0.1:{web_server.port}/", quin, texts)
    open_chat_with(rex, "Quin Rowe")
    expect(message(rex, "status line 39")).to_be_in_viewport()


def test_an_old_group_notice_still_waits_for_its_confirm(web_server, person):
    """The notice is further back than the chat's first page: it is fetched for the banner,
    and opening the chat still does not confirm it."""
    import trio
    from trio_websocket import open_websocket_url

    from corpchat.protocol import SUBPROTOCOL, Hello, Send, encode

    token = web_server.employee("sol29", name="Sol Tate")
    ted_token = web_server.employee("ted29", name="Ted Uhl")
    sol = person(token)
    new_group(sol, "Archive crew", "ted29")
    sol.get_by_role("button", name="Group members and settings").click()
    sol.get_by_label("New group notice").fill("Keep the server room locked")
    sol.locator("#drawer").get_by_role("button", name="Post notice").click()
    expect(message(sol, "Keep the server room").locator(".receipt-line")).to_be_visible()
    conv = sol.evaluate("window.corpchat.openConv.conv")

    async def chatter() -> None:
        async with open_websocket_url(f"ws://127.0.0.1:{web_server.port}/",
                                      subprotocols=[SUBPROTOCOL]) as ws:
            await ws.send_message(encode(Hello(id=1, token=token)))
            await ws.get_message()
            for i in range(120):  # more than a page of history after it
                await ws.send_message(encode(Send(id=i + 2, client_msg_id=f"c{i}",
                                                  text=f"log line {i}", conv=conv)))
            acked = 0
            while acked < 120:
                acked += b"ack" in await ws.get_message()

    trio.run(chatter)
    ted = person(ted_token)
    open_chat_with(ted, "Archive crew")
    expect(ted.locator(".notice-banner")).to_contain_text("Keep the server room locked")
    row = ted.locator(".conv", has_text="Archive crew")
    expect(row.locator(".count")).not_to_have_count(0)  # opening is not confirming
    ted.locator(".notice-banner").get_by_role("button", name="Confirm").click()
    expect(ted.locator(".notice-banner").get_by_role("button", name="Confirm")).to_have_count(0)
    expect(row.locator(".count")).to_have_count(0)


def test_several_messages_are_forwarded_at_once_in_order(web_server, person):
    uma = person(web_server.employee("uma30", name="Uma Vale"))
    vic = person(web_server.employee("vic30", name="Vic West"))
    new_group(uma, "Incident room", "vic30")
    start_chat(uma, "vic30")
    for text in ("step one: drain the node", "step two: restart it", "unrelated: lunch?"):
        send(uma, text)
    expect(uma.locator(".message.mine .state.sent")).to_have_count(3)
    act(uma, "step one", "Select to forward")
    message(uma, "step two").get_by_role("checkbox", name="Choose this message").check()
    bar = uma.get_by_role("toolbar", name="Forward several messages")
    expect(bar).to_contain_text("2 selected")
    bar.get_by_role("button", name="Forward 2").click()
    uma.locator("dialog .pick-row", has_text="Incident room").locator("input").check()
    uma.locator("dialog").get_by_role("button", name="Forward").click()
    expect(bar).to_have_count(0)
    open_chat_with(vic, "Incident room")
    copies = vic.locator(".message", has=vic.locator(".forwarded"))
    expect(copies.locator(".bubble")).to_have_text(["step one: drain the node",
                                                     "step two: restart it"])
