"""What a person does in the web client, in Chromium, against a real server.

Each test has its own people (handles unique in the module's server), each in
a browser context of their own, as on different machines.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect


def open_chat_with(page, name: str):
    page.locator(".conv", has_text=name).first.click()
    expect(page.locator(".chat-title h1")).to_have_text(name)


def start_chat(page, handle: str):
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Handle").fill(handle)
    page.get_by_role("button", name="Open").click()


def send(page, text: str, *, receipt: bool = False):
    if receipt:
        page.get_by_text("Read receipt").click()
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill(text)
    box.press("Enter")


def bubbles(page) -> list[str]:
    return page.locator(".message .bubble").all_inner_texts()


def test_a_message_reaches_a_colleague_signed_in_elsewhere(web_server, person):
    ann = person(web_server.employee("ann1", name="Ann Lee"))
    ben = person(web_server.employee("ben1", name="Ben Ortiz"))
    start_chat(ann, "ben1")
    send(ann, "Hi Ben, the release is at 3pm")
    expect(ann.locator(".message.mine .state.sent")).to_have_count(1)  # acked: committed
    row = ben.locator(".conv", has_text="Ann Lee")
    expect(row).to_contain_text("Hi Ben, the release is at 3pm")
    expect(row.locator(".count")).to_have_text("1")
    open_chat_with(ben, "Ann Lee")
    expect(ben.locator(".message .bubble")).to_have_text(["Hi Ben, the release is at 3pm"])
    expect(row.locator(".count")).to_have_count(0)  # read on opening
    send(ben, "Thanks!")
    expect(ann.locator(".message .bubble")).to_have_text(
        ["Hi Ben, the release is at 3pm", "Thanks!"])
    # A reload keeps the sign-in and the device's sync token (IndexedDB): straight back.
    token = ben.evaluate("window.corpchat.client.syncToken")
    ben.reload()
    ben.locator("body[data-state=online]").wait_for(state="attached")
    assert ben.evaluate("window.corpchat.client.syncToken") == token
    expect(ben.locator(".conv", has_text="Ann Lee")).to_contain_text("Thanks!")


def test_offline_and_back_delivers_everything_once_in_order(web_server, person, browser):
    cat = person(web_server.employee("cat2", name="Cat Diaz"))
    dan = person(web_server.employee("dan2", name="Dan Wu"))
    start_chat(cat, "dan2")
    send(cat, "one")
    open_chat_with(dan, "Cat Diaz")
    expect(dan.locator(".message .bubble")).to_have_text(["one"])

    dan.context.set_offline(True)
    expect(dan.locator("#connbar")).to_contain_text("Offline")
    for text in ("two", "three", "four"):
        send(cat, text)
    send(dan, "sent while offline")  # waits in unacked, shown as sending
    expect(dan.locator(".message.local .state.sending")).to_have_count(1)
    expect(cat.locator(".message.mine .state.sent")).to_have_count(4)

    dan.context.set_offline(False)
    expect(dan.locator(".message .bubble")).to_have_text(
        ["one", "two", "three", "four", "sent while offline"])
    expect(dan.locator(".message.local")).to_have_count(0)
    expect(cat.locator(".message .bubble")).to_have_text(
        ["one", "two", "three", "four", "sent while offline"])
    # Exactly once in the log too: the server has each message one time.
    assert bubbles(dan).count("two") == 1 and bubbles(cat).count("sent while offline") == 1


def test_a_receipt_message_goes_from_one_unread_to_all_read(web_server, person):
    eve = person(web_server.employee("eve3", name="Eve Park"))
    fay = person(web_server.employee("fay3", name="Fay Kim"))
    start_chat(eve, "fay3")
    send(eve, "Please confirm the budget", receipt=True)
    line = eve.locator(".receipt-line")
    expect(line).to_have_text("1 unread")
    line.click()
    drawer = eve.locator("#drawer")
    expect(drawer).to_contain_text("Not read yet · 1")
    expect(drawer).to_contain_text("Fay Kim")
    expect(drawer.get_by_role("button", name="Remind them")).to_be_visible()
    open_chat_with(fay, "Eve Park")
    expect(line).to_have_text("All read")


def test_taking_a_break_shows_the_resting_mark_to_the_sender(web_server, person):
    gil = person(web_server.employee("gil4", name="Gil Roy"))
    hal = person(web_server.employee("hal4", name="Hal Ito"))
    start_chat(gil, "hal4")
    send(gil, "Got a minute?")
    expect(hal.locator(".conv", has_text="Gil Roy")).to_be_visible()
    hal.get_by_role("button", name=re.compile("^Me")).click()
    hal.get_by_role("button", name="30 minutes").click()
    expect(hal.get_by_test_id("my-status")).to_contain_text("Resting until")
    expect(gil.locator(".chat-sub .resting-mark")).to_contain_text("Resting until")
    expect(gil.locator(".conv", has_text="Hal Ito").locator(".resting-mark")).to_be_visible()
    send(gil, "No rush")
    send(gil, "Whenever you are back")
    expect(gil.locator(".message.mine .state.sent")).to_have_count(3)
    hal.get_by_role("button", name="Resume now").click()  # the rest ends: its digest
    expect(hal.locator(".toast.digest")).to_have_text(
        "While you rested: 2 new messages in 1 conversation.")
    expect(gil.locator(".chat-sub .resting-mark")).to_have_count(0)


def test_a_consumer_accepts_a_contact_request_and_sees_name_at_corp(web_server, person):
    ivy = person(web_server.employee("ivy5", corp="globex", name="Ivy Chen",
                                     title="Account manager", corp_full_name="Globex Inc"))
    joe = person(web_server.consumer("joe5", name="Joe Bloggs"))
    ivy.get_by_role("button", name="Contacts").click()
    ivy.get_by_label("Customer's handle").fill("joe5")
    ivy.get_by_label("Note").fill("Your account manager at Globex")
    ivy.get_by_role("button", name="Send request").click()
    joe.get_by_role("button", name="Contacts").click()
    request = joe.locator("section[aria-label=Requests] .person")
    expect(request).to_contain_text("Ivy Chen @globex")
    expect(request).to_contain_text("Your account manager at Globex")
    request.get_by_role("button", name="Accept").click()
    contacts = joe.locator("section[aria-label=Contacts] .person")
    expect(contacts).to_contain_text("Ivy Chen @globex")
    contacts.get_by_role("button", name="Message Ivy Chen @globex").click()
    send(joe, "Hello Ivy")
    expect(ivy.locator(".conv", has_text="Joe Bloggs")).to_contain_text("Hello Ivy")


def test_a_group_is_created_and_appears_for_its_members(web_server, person):
    kim = person(web_server.employee("kim6", name="Kim Ng"))
    lee = person(web_server.employee("lee6", name="Lee Fox"))
    kim.get_by_role("button", name="New group").click()
    kim.get_by_label("Group name").fill("Launch team")
    kim.get_by_label("Members").fill("lee6")
    kim.get_by_role("button", name="Create").click()
    expect(kim.locator(".chat-title h1")).to_have_text("Launch team")
    expect(kim.locator(".system")).to_contain_text("You created the group “Launch team”")
    send(kim, "Welcome aboard")
    open_chat_with(lee, "Launch team")
    expect(lee.locator(".message .bubble")).to_have_text(["Welcome aboard"])
    lee.get_by_role("button", name="Group members and settings").click()
    expect(lee.locator("#drawer .member-list li")).to_have_count(2)
    lee.get_by_role("textbox", name="Message", exact=True).press_sequentially("On my way")
    expect(kim.locator(".typing")).to_have_text("Lee Fox is typing…")
    kim.get_by_role("button", name="Actions for this message").click()
    kim.get_by_role("menuitem", name="Recall").click()
    expect(lee.locator(".message .bubble")).to_have_text(["This message was recalled"])
    expect(lee.locator(".system").last).to_contain_text("Kim Ng recalled a message")


def test_at_phone_width_one_pane_shows_at_a_time(web_server, person):
    pat = person(web_server.employee("pat9", name="Pat Lane"))
    quinn = person(web_server.employee("qui9", name="Quinn Ray"), width=390, height=780)
    start_chat(pat, "qui9")
    send(pat, "A long message that would push a narrow layout sideways if nothing wrapped it")
    expect(quinn.locator(".conv", has_text="Pat Lane")).to_be_visible()
    assert quinn.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    quinn.locator(".conv", has_text="Pat Lane").click()
    expect(quinn.locator(".sidebar")).to_be_hidden()
    expect(quinn.locator(".message .bubble")).to_have_count(1)
    quinn.get_by_role("button", name="Back to conversations").click()
    expect(quinn.locator(".sidebar")).to_be_visible()


def test_a_company_admin_posts_a_notice_and_colleagues_read_it(web_server, person):
    rae = person(web_server.employee("rae10", corp="initech", name="Rae Cole", corp_admin=True))
    sam = person(web_server.employee("sam10", corp="initech", name="Sam Yu"))
    rae.get_by_role("button", name="Notices").click()
    box = rae.get_by_role("textbox", name="Notice")
    box.fill("The office is closed on Friday")
    box.press("Enter")
    expect(rae.locator(".message.mine .state.sent")).to_have_count(1)
    board = sam.locator(".conv", has_text="initech")
    expect(board).to_contain_text("The office is closed on Friday")
    sam.get_by_role("button", name="Notices").click()
    expect(sam.locator(".message .bubble")).to_have_text(["The office is closed on Friday"])


def test_the_quiet_hours_editor_saves_a_schedule(web_server, person):
    wes = person(web_server.employee("wes12", name="Wes Hart"))
    wes.get_by_role("button", name=re.compile("^Me")).click()
    card = wes.locator("section[aria-label='Quiet hours']")
    card.get_by_text("Sat", exact=True).click()  # Mon–Fri are ticked at first: now Mon–Sat
    card.get_by_label("Quiet from").fill("21:30")
    card.get_by_label("Quiet until").fill("07:15")
    card.get_by_label("Time zone").select_option("Europe/Berlin")
    card.get_by_role("button", name="Save schedule").click()
    expect(card).to_contain_text("Now: Mon, Tue, Wed, Thu, Fri, Sat 21:30–07:15 Europe/Berlin")


def test_a_mass_message_reaches_customers_once_a_day(web_server, person):
    xia = person(web_server.employee("xia13", corp="umbrella", name="Xia Li"))
    yan = person(web_server.consumer("yan13", name="Yan Oh"))
    xia.get_by_role("button", name="Contacts").click()
    xia.get_by_label("Customer's handle").fill("yan13")
    xia.get_by_role("button", name="Send request").click()
    yan.get_by_role("button", name="Contacts").click()
    yan.locator("section[aria-label=Requests]").get_by_role("button", name="Accept").click()
    xia.get_by_role("button", name="Customers and moments").click()
    card = xia.locator("section[aria-label='Mass message']")
    expect(card.locator(".quota")).to_contain_text("at most 1 mass message from you per day")
    expect(card.locator(".quota")).to_contain_text("1 customer.")
    for _ in range(2):
        card.get_by_label("Mass message").fill("Spring sale: 20% off this week")
        card.get_by_role("button", name="Send to customers").click()
        expect(card.get_by_test_id("broadcast-result")).to_be_visible()
    expect(card.get_by_test_id("broadcast-result")).to_have_text(
        "Last mass message: sent to 0; 1 skipped (had one today).")
    expect(yan.locator(".conv", has_text="Xia Li @umbrella")).to_contain_text("Spring sale")


def test_what_is_typed_while_a_new_chats_first_message_is_acked_stays(web_server, person):
    """A new direct chat becomes its conversation at the first send's ack, and the chat is
    shown again then: the text typed meanwhile must survive (it used to be lost). Sending
    and typing happen in one JavaScript task, so the ack always comes after the typing."""
    kim = person(web_server.employee("kim51", name="Kim Lee"))
    web_server.employee("lou51", name="Lou Park")
    start_chat(kim, "lou51")
    kim.evaluate("""() => {
      const box = () => document.querySelector('textarea[aria-label="Message"]');
      box().value = "first";
      box().dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
      box().value = "still typing";
      box().dispatchEvent(new Event("input", { bubbles: true }));
    }""")
    expect(kim.locator(".message.mine .state.sent")).to_have_count(1)
    expect(kim.locator(".chat-title h1")).to_have_text("Lou Park")
    box = kim.get_by_role("textbox", name="Message", exact=True)
    expect(box).to_have_value("still typing")
    box.press("Enter")
    expect(kim.locator(".message.mine .state.sent")).to_have_count(2)
    assert bubbles(kim) == ["first", "still typing"]
    expect(box).to_have_value("")
