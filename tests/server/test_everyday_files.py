"""Everyday messaging's follow-ups (revision 1.8) over real sockets: forwards carry
their files, edits and the group notice take attachments, a forward retried after
the forwarder left its target answers as the first time, and a mention in a muted
conversation goes through the real push path."""

from __future__ import annotations

import dataclasses

import trio

from corpchat.adminclient import call_stream, socket_path
from corpchat.protocol import (
    Attachment,
    ConvMute,
    DeviceRegister,
    Edit,
    Edited,
    Error,
    Forward,
    Forwarded,
    GroupLeave,
    GroupNotice,
    GroupRemove,
    Msg,
    Ok,
    Recall,
)

from ..client import TestClient, WireClient
from ..conftest import running_server
from .test_everyday import history, sent
from .test_groups import make_contact, make_group, people, request
from .test_media import fetch, png, send_with, upload
from .test_quiet import PushReceiver, settle


def _token(client: TestClient) -> str:
    return client.session.token


async def _uploaded(server, client: TestClient, color: tuple[int, int, int],
                    name: str = "a.png") -> str:
    return (await upload(server, _token(client), png(color=color), name=name)).json()["media"]


async def _status(server, media: str, client: TestClient) -> int:
    return (await fetch(server, f"/media/{media}", _token(client))).status_code


async def _arrived(client: TestClient, seq: int) -> Msg:
    msg = await client.expect(Msg)
    while msg.seq != seq:
        msg = await client.expect(Msg)
    return msg


# ----- forwarding carries the files --------------------------------------------------


async def test_a_forward_carries_its_files_to_the_targets_members_only(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat", "dan")
    team = await make_group(c["ann"], "ben", name="team")
    other = await make_group(c["ben"], "cat", name="other")
    media = await _uploaded(server, c["ann"], (10, 20, 30), "plan.png")
    original = await send_with(c["ann"], None, media, "the plan", conv=team)
    assert await _status(server, media, c["cat"]) == 404  # not yet theirs to see
    reply = await request(c["ben"], Forward, reply=(Forwarded, Error), client_msg_id="f-1",
                          from_conv=team, seqs=(original.seq,), to_conv=other)
    assert isinstance(reply, Forwarded), reply
    live = await _arrived(c["cat"], reply.seqs[0])
    assert [(a.media, a.name) for a in live.attachments] == [(media, "plan.png")]
    assert (live.text, live.kind, live.forwarded_from.sender) == ("the plan", "image", "ann")
    shown = (await history(c["cat"], other))[reply.seqs[0]]
    assert [a.media for a in shown.attachments] == [media]
    assert await _status(server, media, c["cat"]) == 200  # a member of the target
    assert await _status(server, media, c["dan"]) == 404  # in neither conversation


async def test_a_forwarded_copy_keeps_its_file_when_the_original_is_recalled(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    team = await make_group(c["ann"], "ben")
    other = await make_group(c["ben"], "cat")
    media = await _uploaded(server, c["ann"], (1, 2, 3))
    original = await send_with(c["ann"], None, media, conv=team)
    reply = await request(c["ben"], Forward, reply=(Forwarded, Error), client_msg_id="f-2",
                          from_conv=team, seqs=(original.seq,), to_conv=other)
    assert isinstance(reply, Forwarded)
    assert isinstance(await request(c["ann"], Recall, conv=team, seq=original.seq), Ok)
    assert await _status(server, media, c["cat"]) == 200  # the copy is a message of its own
    assert isinstance(await request(c["ben"], Recall, conv=other, seq=reply.seqs[0]), Ok)
    assert await _status(server, media, c["cat"]) == 404  # every message carrying it recalled


async def test_a_forward_of_a_removed_members_later_file_is_refused(server, nursery):
    """Only what the forwarder sees: a file posted after their removal is not theirs."""
    c = await people(server, nursery, "ann", "ben", "cat")
    team = await make_group(c["ann"], "ben", "cat")
    mine = await make_group(c["cat"], "ben")
    assert isinstance(await request(c["ann"], GroupRemove, conv=team, members=("cat",)), Ok)
    media = await _uploaded(server, c["ann"], (9, 9, 9))
    later = await send_with(c["ann"], None, media, conv=team)
    refused = await request(c["cat"], Forward, reply=(Forwarded, Error), client_msg_id="f-3",
                            from_conv=team, seqs=(later.seq,), to_conv=mine)
    assert isinstance(refused, Error) and refused.code == "not_found"
    assert await _status(server, media, c["cat"]) == 404


# ----- a retried forward after leaving the target ----------------------------------------


async def test_a_forward_retried_after_leaving_the_target_answers_as_the_first_time(
        server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    team = await make_group(c["ann"], "ben")
    other = await make_group(c["cat"], "ben")
    first = await sent(c["ann"], "one", conv=team)
    second = await sent(c["ann"], "two", conv=team)
    frame = dict(client_msg_id="fwd-left", from_conv=team, seqs=(first.seq, second.seq),
                 to_conv=other)
    reply = await request(c["ben"], Forward, reply=(Forwarded, Error), **frame)
    assert isinstance(reply, Forwarded) and not reply.duplicate
    assert isinstance(await request(c["ben"], GroupLeave, conv=other), Ok)
    again = await request(c["ben"], Forward, reply=(Forwarded, Error), **frame)
    assert isinstance(again, Forwarded), again
    assert (again.conv, again.seqs, again.pos, again.duplicate) == (
        reply.conv, reply.seqs, reply.pos, True)
    fresh = await request(c["ben"], Forward, reply=(Forwarded, Error),
                          **{**frame, "client_msg_id": "fwd-new"})
    assert isinstance(fresh, Error) and fresh.code == "not_member"  # a new one is refused


# ----- edits take attachments ------------------------------------------------------------


async def test_an_edit_replaces_the_files_and_every_member_learns_them(server, nursery):
    c = await people(server, nursery, "ann", "ben", "dan")
    conv = await make_group(c["ann"], "ben")
    old = await _uploaded(server, c["ann"], (5, 5, 5), "v0.png")
    new = await _uploaded(server, c["ann"], (6, 6, 6), "v1.png")
    ack = await send_with(c["ann"], None, old, "draft", conv=conv)
    laptop = await WireClient(nursery, server.url, _token(c["ben"])).connect()
    token = laptop.session.sync_token
    await laptop.close()
    ok = await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="final",
                       attachments=(Attachment(media=new, name="final.png"),))
    assert isinstance(ok, Ok), ok
    live = await c["ben"].expect(Edited)
    assert (live.text, [(a.media, a.name) for a in live.attachments]) == (
        "final", [(new, "final.png")])
    shown = (await history(c["ben"], conv))[ack.seq]
    assert (shown.text, [a.media for a in shown.attachments]) == ("final", [new])
    assert await _status(server, new, c["ben"]) == 200
    assert await _status(server, new, c["dan"]) == 404
    back = WireClient(nursery, server.url, _token(c["ben"]))
    back.session.sync_token = token
    await back.connect()
    [synced] = [e for e in back.events if isinstance(e, Edited)]
    assert [a.media for a in synced.attachments] == [new]
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="no files",
                                    attachments=()), Ok)
    dropped = await c["ben"].expect(Edited)
    assert (dropped.text, dropped.attachments) == ("no files", None)
    assert (await history(c["ben"], conv))[ack.seq].attachments is None


async def test_an_edit_keeps_the_files_unless_it_names_them(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    media = await _uploaded(server, c["ann"], (7, 7, 7))
    ack = await send_with(c["ann"], None, media, "caption", conv=conv)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text=""), Ok)
    edited = await c["ben"].expect(Edited)
    assert (edited.text, [a.media for a in edited.attachments]) == ("", [media])
    empty = await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="", attachments=())
    assert isinstance(empty, Error) and empty.code == "bad_request"


async def test_an_edit_with_a_file_one_may_not_use_is_refused(server, nursery):
    c = await people(server, nursery, "ann", "ben")
    conv = await make_group(c["ann"], "ben")
    bens = await _uploaded(server, c["ben"], (8, 8, 8))  # pending: ben's alone
    ack = await sent(c["ann"], "text", conv=conv)
    refused = await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="with ben's",
                            attachments=(Attachment(media=bens),))
    assert isinstance(refused, Error) and refused.code == "no_such_media"
    assert (await history(c["ben"], conv))[ack.seq].version is None  # nothing stored


async def test_a_former_member_keeps_the_files_of_their_removal(server, nursery):
    c = await people(server, nursery, "ann", "ben", "cat")
    conv = await make_group(c["ann"], "ben", "cat")
    first = await _uploaded(server, c["ann"], (11, 0, 0))
    later = await _uploaded(server, c["ann"], (12, 0, 0))
    ack = await send_with(c["ann"], None, first, "v0", conv=conv)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="v1"), Ok)
    assert isinstance(await request(c["ann"], GroupRemove, conv=conv, members=("cat",)), Ok)
    assert isinstance(await request(c["ann"], Edit, conv=conv, seq=ack.seq, text="v2",
                                    attachments=(Attachment(media=later),)), Ok)
    shown = (await history(c["cat"], conv))[ack.seq]
    assert (shown.text, [a.media for a in shown.attachments]) == ("v1", [first])
    assert [a.media for a in (await history(c["ben"], conv))[ack.seq].attachments] == [later]


async def test_the_archive_keeps_every_version_with_its_files(server, nursery):
    c = await people(server, nursery, "alice")
    carol = await TestClient(nursery, server.url, await server.user("carol", corp=None)).connect()
    await make_contact(c["alice"], carol)
    offer = await _uploaded(server, c["alice"], (20, 20, 20), "offer.png")
    better = await _uploaded(server, c["alice"], (21, 21, 21), "better.png")
    ack = await send_with(c["alice"], "carol", offer, "our offer")
    assert isinstance(await request(c["alice"], Edit, conv=ack.conv, seq=ack.seq,
                                    text="our better offer",
                                    attachments=(Attachment(media=better),)), Ok)
    path = socket_path(server.app.config.data_dir)
    rows = await trio.to_thread.run_sync(
        lambda: list(call_stream(path, "archive.export", {"corp": "acme"})))
    kept = [(r["text"], r["kind"], [a["media"] for a in r.get("attachments", ())])
            for r in rows][-2:]
    assert kept == [("our offer", "text", [offer]), ("our better offer", "edit", [better])]


# ----- the group notice takes attachments ---------------------------------------------


async def test_the_group_notice_carries_its_files(server, nursery):
    c = await people(server, nursery, "ann", "ben", "dan")
    conv = await make_group(c["ann"], "ben")
    poster = await _uploaded(server, c["ann"], (30, 30, 30), "rota.png")
    ok = await request(c["ann"], GroupNotice, conv=conv, text="",
                       attachments=(Attachment(media=poster),))
    assert isinstance(ok, Ok), ok
    notice = await _arrived(c["ben"], ok.seq)
    assert (notice.notice, notice.receipt, [a.media for a in notice.attachments]) == (
        True, True, [poster])
    assert await _status(server, poster, c["ben"]) == 200
    assert await _status(server, poster, c["dan"]) == 404
    empty = await request(c["ann"], GroupNotice, conv=conv, text="")
    assert isinstance(empty, Error) and empty.code == "bad_request"
    bens = await _uploaded(server, c["ben"], (31, 31, 31))
    unusable = await request(c["ann"], GroupNotice, conv=conv, text="x",
                             attachments=(Attachment(media=bens),))
    assert isinstance(unusable, Error) and unusable.code == "no_such_media"


# ----- a mention breaks through a mute, through the real push path ------------------------


async def test_a_mention_in_a_muted_conversation_is_pushed_a_plain_message_not(
        nursery, server_config, clock):
    """Issue 20: "a mention of a user in a muted conversation still counts and pushes"."""
    receiver = PushReceiver()
    url = await receiver.serve(nursery)
    async with running_server(nursery, dataclasses.replace(server_config, push_url=url),
                              clock) as server:
        c = await people(server, nursery, "ann", "ben")
        conv = await make_group(c["ann"], "ben")
        assert isinstance(await request(c["ben"], DeviceRegister, platform="apns",
                                        push_token="tok-ben"), Ok)
        assert isinstance(await request(c["ben"], ConvMute, conv=conv), Ok)
        await c["ben"].close()
        await sent(c["ann"], "lunch anyone?", conv=conv)
        await sent(c["ann"], "@ben the deploy is yours", conv=conv, mentions=("ben",))
        (pushed,) = await receiver.wait_for(1)
        assert (pushed["kind"], pushed["user"], pushed["preview"], pushed["device_token"]) == (
            "message", "ben", "@ben the deploy is yours", "tok-ben")
        await sent(c["ann"], "@all standup", conv=conv, mentions=("all",))
        await receiver.wait_for(2)
        await sent(c["ann"], "another plain one", conv=conv)
        await settle()
        assert [b["preview"] for b in receiver.bodies] == ["@ben the deploy is yours",
                                                            "@all standup"]
        back = await TestClient(nursery, server.url, _token(c["ben"])).connect()
        from corpchat.protocol import Welcome

        [welcome] = back.taken(Welcome)
        [unread] = [u for u in welcome.unread if u.conv == conv]
        assert (unread.unread, unread.mentions) == (4, 2)  # muted, still counted
