"""The directory's departments, the company's tag library, and moments with images, in
Chromium against a real server (protocol §20.4, §24.1, §27 with 1.4's media)."""

from __future__ import annotations

from playwright.sync_api import expect

from .test_attachments import png


def test_the_department_browser_walks_the_tree(web_server, person):
    token = web_server.employee("ada31", corp="globex", name="Ada Top")  # makes the corp
    sales = web_server.admin("dept.add", corp="globex", name="Sales")["dept"]
    emea = web_server.admin("dept.add", corp="globex", name="EMEA", parent=sales)["dept"]
    web_server.employee("bea31", corp="globex", name="Bea Sales", dept=sales)
    web_server.employee("cal31", corp="globex", name="Cal Emea", dept=emea, title="Account lead")
    ada = person(token)
    ada.get_by_role("button", name="Contacts").click()
    tree = ada.locator("section[aria-label=Departments]")
    expect(tree.locator(".dept")).to_have_text(["Sales›"])
    expect(tree.locator(".person-name")).to_have_text(["Ada Top"])  # no department: at the top
    tree.get_by_role("button", name="Sales").click()
    expect(tree.locator(".crumbs")).to_contain_text("Sales")
    expect(tree.locator(".person-name")).to_have_text(["Bea Sales"])
    tree.get_by_role("button", name="EMEA").click()
    expect(tree.locator(".person")).to_contain_text("Account lead")
    expect(tree.locator("[aria-current=location]")).to_have_text("EMEA")
    tree.locator(".crumbs").get_by_role("button", name="Sales").click()  # back up the path
    expect(tree.locator(".person-name")).to_have_text(["Bea Sales"])


def test_a_corp_admin_keeps_the_tag_library(web_server, person):
    dot = person(web_server.employee("dot32", corp="hooli", name="Dot Admin", corp_admin=True))
    eve = person(web_server.employee("eve32", corp="hooli", name="Eve Staff"))
    dot.get_by_role("button", name="Customers and moments").click()
    library = dot.locator("section[aria-label='Tag library']")
    library.get_by_label("New tag group").fill("Region")
    library.get_by_role("button", name="Add tag group").click()
    library.get_by_label("New tag in Region").fill("North")
    library.get_by_role("button", name="Add tag", exact=True).click()
    expect(library.locator(".tag-chip")).to_have_text(["North×"])
    library.get_by_label("New tag in Region").fill("South")
    library.get_by_role("button", name="Add tag", exact=True).click()
    expect(library.locator(".tag-chip")).to_have_count(2)
    library.get_by_role("button", name="Remove the tag North").click()
    expect(library.locator(".tag-chip")).to_have_text(["South×"])
    eve.get_by_role("button", name="Customers and moments").click()
    theirs = eve.locator("section[aria-label='Tag library']")
    expect(theirs.locator(".tag-chip")).to_have_text(["South"])  # read-only for employees
    expect(theirs.get_by_role("button", name="Add tag group")).to_have_count(0)


def test_a_moment_with_images_reaches_a_customer(web_server, person):
    fox = person(web_server.employee("fox33", corp="vandelay", name="Fox Art"))
    gil = person(web_server.consumer("gil33", name="Gil Buyer"))
    fox.get_by_role("button", name="Contacts").click()
    fox.get_by_label("Customer's handle").fill("gil33")
    fox.get_by_role("button", name="Send request").click()
    gil.get_by_role("button", name="Contacts").click()
    gil.locator("section[aria-label=Requests]").get_by_role("button", name="Accept").click()
    expect(gil.locator(".person-name", has_text="Fox Art")).to_be_visible()
    fox.get_by_role("button", name="Customers and moments").click()
    card = fox.locator("section[aria-label=Moments]")
    card.get_by_label("New moment").fill("Our new showroom is open")
    card.get_by_label("Images for the moment").set_input_files(
        [{"name": f"room{i}.png", "mimeType": "image/png", "buffer": png(60 + i, 40)}
         for i in range(2)])
    expect(card.locator(".chosen-image figcaption")).to_have_text(["ready", "ready"])
    card.get_by_role("button", name="Post moment").click()
    expect(card.locator(".moments .thumb img")).to_have_count(2)
    gil.get_by_role("button", name="Customers and moments").click()
    feed = gil.locator(".moments li", has_text="Our new showroom is open")
    expect(feed.locator(".thumb img")).to_have_count(2)
    widths = feed.locator(".thumb img").evaluate_all(
        "imgs => Promise.all(imgs.map((img) => new Promise((ok) => img.complete && img.naturalWidth"
        " ? ok(img.naturalWidth) : img.addEventListener('load', () => ok(img.naturalWidth)))))")
    assert sorted(widths) == [60, 61]
