"""Who may fetch a file: the rules of the messages and moments that carry it (§30.2)."""

from __future__ import annotations

import hashlib

from corpchat.protocol import (
    Ack,
    Attachment,
    BroadcastCustomers,
    BroadcastDone,
    Created,
    Error,
    GroupRemove,
    MomentEvent,
    MomentPost,
    MomentsFeed,
    MomentsPage,
    Msg,
    Ok,
)

from .test_groups import make_contact, make_group, people, request
from .test_media import fetch, png, send_with, upload


def _token(client) -> str:
    return client.session.token


async def test_outsiders_get_404(server, nursery):
    """Another corp's employee, a consumer without a contact: 404, never 403."""
    c = await people(server, nursery, "ann", "ben")
    c.update(await people(server, nursery, "zed", corp="other"))
    c.update(await people(server, nursery, "carl", corp=None))
    media = (await upload(server, _token(c["ann"]), png())).json()["media"]
    await send_with(c["ann"], "ben", media)
    for outsider in ("zed", "carl"):
        reply = await fetch(server, f"/media/{media}", _token(c[outsider]))
        assert reply.status_code == 404, outsider
    assert (await fetch(server, f"/media/{media}", _token(c["ben"]))).status_code == 200


async def test_a_removed_member_sees_what_came_before_not_after(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    before = (await upload(server, _token(c["ann"]), png(color=(1, 1, 1)))).json()["media"]
    await send_with(c["ann"], None, before, conv=conv)
    removed = await request(c["ann"], GroupRemove, conv=conv, members=("cat",))
    assert isinstance(removed, Ok)
    after = (await upload(server, _token(c["ann"]), png(color=(2, 2, 2)))).json()["media"]
    await send_with(c["ann"], None, after, conv=conv)
    assert (await fetch(server, f"/media/{before}", _token(c["cat"]))).status_code == 200
    assert (await fetch(server, f"/media/{after}", _token(c["cat"]))).status_code == 404
    assert (await fetch(server, f"/media/{after}", _token(c["ben"]))).status_code == 200


async def test_a_consumer_sees_media_of_a_chat_with_their_employee(server, nursery):
    c = await people(server, nursery, "amy")
    c.update(await people(server, nursery, "carl", "dora", corp=None))
    await make_contact(c["amy"], c["carl"])
    media = (await upload(server, _token(c["amy"]), png())).json()["media"]
    await send_with(c["amy"], "carl", media, "our catalogue")
    msg = await c["carl"].expect(Msg)
    assert msg.attachments[0].media == media
    assert (await fetch(server, f"/media/{media}", _token(c["carl"]))).status_code == 200
    assert (await fetch(server, f"/media/{media}", _token(c["dora"]))).status_code == 404


async def test_a_moment_with_nine_images_end_to_end(server, nursery):
    c = await people(server, nursery, "amy", "bea")
    c.update(await people(server, nursery, "carl", "dora", corp=None))
    await make_contact(c["amy"], c["carl"])
    images = [png(color=(i * 20, 0, 0)) for i in range(9)]
    ids = [(await upload(server, _token(c["amy"]), data, name=f"{i}.png")).json()["media"]
           for i, data in enumerate(images)]
    too_many = await request(c["amy"], MomentPost, reply=(Created, Error), text="ten",
                             media=tuple(Attachment(media=m) for m in [*ids, ids[0]]))
    assert isinstance(too_many, Error) and too_many.code == "bad_request"
    posted = await request(c["amy"], MomentPost, reply=(Created, Error), text="new shop",
                           media=tuple(Attachment(media=m) for m in ids))
    assert isinstance(posted, Created), posted
    event = await c["carl"].expect(MomentEvent)
    assert [m.media for m in event.moment.media] == ids
    assert [m.sha256 for m in event.moment.media] == \
        [hashlib.sha256(d).hexdigest() for d in images]
    page = await request(c["carl"], MomentsFeed, reply=(MomentsPage, Error))
    assert [m.media for m in page.moments[0].media] == ids
    for media, data in zip(ids, images, strict=True):
        got = await fetch(server, f"/media/{media}?thumb=64", _token(c["carl"]))
        assert got.status_code == 200
        assert (await fetch(server, f"/media/{media}", _token(c["carl"]))).content == data
        assert (await fetch(server, f"/media/{media}", _token(c["dora"]))).status_code == 404
        assert (await fetch(server, f"/media/{media}", _token(c["bea"]))).status_code == 404


async def test_a_mass_message_with_a_picture(server, nursery):
    c = await people(server, nursery, "amy")
    c.update(await people(server, nursery, "c1", "c2", corp=None))
    for customer in ("c1", "c2"):
        await make_contact(c["amy"], c[customer])
    media = (await upload(server, _token(c["amy"]), png())).json()["media"]
    done = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                         client_msg_id="spring", text="",
                         attachments=(Attachment(media=media, name="offer.png"),))
    assert isinstance(done, BroadcastDone) and done.sent == 2, done
    for customer in ("c1", "c2"):
        msg = await c[customer].expect(Msg)
        assert (msg.kind, msg.attachments[0].name) == ("image", "offer.png")
        assert (await fetch(server, f"/media/{media}", _token(c[customer]))).status_code == 200
    refused = await request(c["amy"], BroadcastCustomers, reply=(BroadcastDone, Error),
                            client_msg_id="x", text="", attachments=(Attachment(media="q" * 22),))
    assert isinstance(refused, Error) and refused.code == "no_such_media"


async def test_an_unreferenced_upload_is_swept_after_a_day(server, nursery, clock):
    c = await people(server, nursery, "ann", "ben")
    kept = (await upload(server, _token(c["ann"]), png(color=(5, 5, 5)))).json()
    lost = (await upload(server, _token(c["ann"]), png(color=(6, 6, 6)))).json()
    await send_with(c["ann"], "ben", kept["media"])
    media = server.app.media
    clock.advance(86400 - 1)
    assert await media.sweep_once() == 0
    clock.advance(1)
    assert await media.sweep_once() == 1
    assert not media.blobs.exists(lost["sha256"]) and media.blobs.exists(kept["sha256"])
    assert (await fetch(server, f"/media/{lost['media']}", _token(c["ann"]))).status_code == 404
    assert (await fetch(server, f"/media/{kept['media']}", _token(c["ben"]))).status_code == 200
    c["ann"].session.send_text("", to="ben", attachments=(Attachment(media=lost["media"]),))
    await c["ann"].flush()
    assert (await c["ann"].expect(Error)).code == "no_such_media"
    assert not [a for a in c["ann"].taken(Ack) if a.seq > 1]


async def test_a_full_corp_quota_is_507_and_expired_uploads_free_it(nursery, server_config,
                                                                    clock):
    import dataclasses

    from ..conftest import running_server

    media = dataclasses.replace(server_config.media, corp_media_bytes=3000)
    config = dataclasses.replace(server_config, media=media)
    async with running_server(nursery, config, clock) as srv:
        c = await people(srv, nursery, "ann")
        c.update(await people(srv, nursery, "carl", corp=None))  # no corp: no corp quota
        assert (await upload(srv, _token(c["ann"]), b"%PDF-" + b"a" * 2000)).status_code == 201
        full = await upload(srv, _token(c["ann"]), b"%PDF-" + b"b" * 2000)
        assert full.status_code == 507 and full.json()["error"] == "corp_quota_full"
        assert (await upload(srv, _token(c["carl"]), b"%PDF-" + b"c" * 2000)).status_code == 201
        clock.advance(86400)
        await srv.app.media.sweep_once()  # the unsent upload expired: its bytes count no more
        assert (await upload(srv, _token(c["ann"]), b"%PDF-" + b"d" * 2000)).status_code == 201


async def test_a_refused_send_keeps_no_claim_on_its_upload(server, nursery, clock):
    """A send refused in its transaction (not a member) writes nothing: its upload is
    still pending, and swept after a day."""
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ben"], "cat")  # ann is not a member
    media = (await upload(server, _token(c["ann"]), png())).json()
    c["ann"].session.send_text("", conv=conv, attachments=(Attachment(media=media["media"]),))
    await c["ann"].flush()
    assert (await c["ann"].expect(Error)).code == "not_member"
    clock.advance(86400)
    assert await server.app.media.sweep_once() == 1


async def test_a_moment_refused_in_its_transaction_keeps_no_claim(server, nursery, clock):
    """The day's second moment is refused inside the writer (quota_exceeded): the
    upload it named stays pending and is swept after a day."""
    c = await people(server, nursery, "amy")
    first = await request(c["amy"], MomentPost, reply=(Created, Error), text="one a day")
    assert isinstance(first, Created)
    media = (await upload(server, _token(c["amy"]), png())).json()
    second = await request(c["amy"], MomentPost, reply=(Created, Error), text="two",
                           media=(Attachment(media=media["media"]),))
    assert isinstance(second, Error) and second.code == "quota_exceeded"
    clock.advance(86400)
    assert await server.app.media.sweep_once() == 1


async def test_an_authenticated_upload_is_not_capped_as_unauthenticated(nursery, server_config,
                                                                        clock):
    """Past its token check an upload frees its place among the connections that have
    not authenticated yet (at most 1 per address here): a second upload gets in while
    the first one is still streaming."""
    import dataclasses

    import httpx
    import trio

    from ..conftest import running_server
    from .test_media import base, bearer

    config = dataclasses.replace(server_config, max_unauthenticated_per_address=1)
    async with running_server(nursery, config, clock) as srv:
        c = await people(srv, nursery, "ann")
        token = _token(c["ann"])
        go_on, finished = trio.Event(), trio.Event()

        async def slow_body():
            yield b"%PDF-" + b"a" * 1000
            await go_on.wait()
            yield b"b" * 1000

        async def first(task_status=trio.TASK_STATUS_IGNORED):
            async with httpx.AsyncClient(timeout=10) as http:
                task_status.started()
                reply = await http.post(f"{base(srv)}/media", content=slow_body(),
                                        headers=bearer(token))
                assert reply.status_code == 201
            finished.set()

        await nursery.start(first)
        await trio.sleep(0.3)  # the first upload is past its head, waiting for its body
        assert (await upload(srv, token, b"%PDF-second")).status_code == 201
        go_on.set()
        with trio.fail_after(5):
            await finished.wait()
