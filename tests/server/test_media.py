"""Media over real HTTP on the server's port: upload, send, fetch, rights (§30)."""

from __future__ import annotations

import hashlib
import io
import os

import httpx
import pytest
import trio
from PIL import Image

from corpchat.protocol import (
    Ack,
    Announce,
    Attachment,
    Error,
    MediaUrl,
    MediaUrlReply,
    Msg,
    Recall,
    Welcome,
)

from ..client import TestClient, send_frame


def png(size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def base(server) -> str:
    return server.url.replace("ws://", "http://").rstrip("/")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def upload(server, token: str, data: bytes, name: str = "a.png",
                 content_type: str = "image/png") -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{base(server)}/media", params={"name": name}, content=data,
                               headers={**bearer(token), "Content-Type": content_type})


async def fetch(server, path: str, token: str | None = None, **headers: str) -> httpx.Response:
    extra = bearer(token) if token else {}
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{base(server)}{path}", headers={**extra, **headers})


async def send_with(client: TestClient, to: str | None, media: str, text: str = "",
                    conv: int | None = None) -> Ack:
    client.session.send_text(text, to=to, conv=conv, attachments=(Attachment(media=media),))
    await client.flush()
    return await client.expect(Ack)


async def test_upload_send_and_fetch_round_trip(server, nursery):
    ann, ben, cid = await server.user("ann"), await server.user("ben"), await server.user("cid")
    data = png()
    reply = await upload(server, ann, data, name="sunset 日落.png", content_type="text/html")
    assert reply.status_code == 201, reply.text
    info = reply.json()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["size"] == len(data)
    assert (info["mime"], info["kind"], info["width"], info["height"]) == \
        ("image/png", "image", 64, 48)  # sniffed: the client's text/html is ignored
    assert info["name"] == "sunset 日落.png"
    media = info["media"]
    # Before any message carries it, only its uploader can fetch it.
    assert (await fetch(server, f"/media/{media}", ann)).content == data
    assert (await fetch(server, f"/media/{media}", ben)).status_code == 404
    a = await TestClient(nursery, server.url, ann).connect()
    b = await TestClient(nursery, server.url, ben).connect()
    welcome = a.taken(Welcome)[0]
    assert welcome.limits["max_attachments"] == 9
    assert welcome.limits["max_upload_bytes"] == 256 * 1024  # this module's setting
    ack = await send_with(a, "ben", media)
    msg = await b.expect(Msg)
    assert (msg.seq, msg.text, msg.kind) == (ack.seq, "", "image")
    (file,) = msg.attachments
    assert (file.media, file.sha256, file.size, file.width) == \
        (media, info["sha256"], len(data), 64)
    got = await fetch(server, f"/media/{media}", ben)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"
    assert got.headers["etag"] == f'"{info["sha256"]}"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == (
        "inline; filename=\"sunset __.png\"; filename*=UTF-8''sunset%20%E6%97%A5%E8%90%BD.png")
    assert (await fetch(server, f"/media/{media}", cid)).status_code == 404  # an outsider
    assert (await fetch(server, f"/media/{media}")).status_code == 401
    assert (await fetch(server, f"/media/{media}", "cc_not-a-token")).status_code == 401
    assert (await fetch(server, "/media/AAAAAAAAAAAAAAAAAAAAAA", ben)).status_code == 404


async def test_range_etag_and_thumbnails(server, nursery):
    ann = await server.user("ann")
    data = png((1200, 900))
    info = (await upload(server, ann, data)).json()
    path = f"/media/{info['media']}"
    part = await fetch(server, path, ann, Range="bytes=10-19")
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = await fetch(server, path, ann, Range="bytes=-5")
    assert tail.status_code == 206 and tail.content == data[-5:]
    beyond = await fetch(server, path, ann, Range=f"bytes={len(data)}-")
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    same = await fetch(server, path, ann, **{"If-None-Match": f'"{info["sha256"]}"'})
    assert same.status_code == 304 and same.content == b""
    for size in (64, 320, 800):
        thumb = await fetch(server, f"{path}?thumb={size}", ann)
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(thumb.content)) as im:
            assert max(im.size) == size and not im.getexif()
    assert (await fetch(server, f"{path}?thumb=100", ann)).status_code == 404


async def test_a_file_gets_no_thumbnail_and_downloads_as_an_attachment(server):
    ann = await server.user("ann")
    info = (await upload(server, ann, b"%PDF-1.7 hello", name="../../etc/report.pdf")).json()
    assert (info["mime"], info["kind"], info["name"]) == ("application/pdf", "file", "report.pdf")
    got = await fetch(server, f"/media/{info['media']}", ann)
    assert got.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    assert (await fetch(server, f"/media/{info['media']}?thumb=64", ann)).status_code == 404


async def test_uploads_without_a_valid_token_are_401(server):
    assert (await upload(server, "cc_nope", b"x")).status_code == 401
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{base(server)}/media", content=b"x")
    assert reply.status_code == 401 and reply.json()["error"] == "auth_failed"
    assert reply.headers["www-authenticate"].startswith("Bearer")


async def test_an_empty_body_is_a_bad_request(server):
    ann = await server.user("ann")
    reply = await upload(server, ann, b"")
    assert reply.status_code == 400 and reply.json()["error"] == "bad_request"


@pytest.fixture
def server_config(server_config):
    import dataclasses

    media = dataclasses.replace(server_config.media, max_upload_bytes=256 * 1024,
                                upload_bytes_per_day=600 * 1024, max_image_pixels=2_000_000)
    return dataclasses.replace(server_config, media=media)


def _temporaries(server) -> list[str]:
    return os.listdir(server.app.media.blobs.tmp)


async def test_over_the_limit_is_413_and_the_partial_file_is_gone(server):
    ann = await server.user("ann")

    async def body():  # streamed, no Content-Length: the limit passes mid-stream
        for _ in range(40):
            yield b"\0" * 16384
            await trio.sleep(0)

    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.post(f"{base(server)}/media", content=body(), headers=bearer(ann))
    assert reply.status_code == 413 and reply.json()["error"] == "too_large"
    assert _temporaries(server) == []
    declared = await upload(server, ann, b"\0" * (300 * 1024))  # over by Content-Length
    assert declared.status_code == 413
    assert _temporaries(server) == [] and list(server.app.media.blobs.walk()) == []


async def test_the_daily_quota_is_429_with_retry_after(server, clock):
    ann = await server.user("ann")
    for _ in range(2):
        assert (await upload(server, ann, os.urandom(250 * 1024))).status_code == 201
    refused = await upload(server, ann, os.urandom(250 * 1024))
    assert refused.status_code == 429 and refused.json()["error"] == "quota_exceeded"
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    clock.advance(86400)  # the next UTC day
    assert (await upload(server, ann, os.urandom(1024))).status_code == 201


async def test_a_decompression_bomb_is_refused(server):
    ann = await server.user("ann")
    out = io.BytesIO()
    Image.new("1", (4000, 4000), 0).save(out, "PNG")  # 16 megapixels in a few KB
    reply = await upload(server, ann, out.getvalue())
    assert reply.status_code == 422 and reply.json()["error"] == "image_too_large"
    assert list(server.app.media.blobs.walk()) == []


async def test_a_truncated_image_is_stored_as_a_plain_file(server):
    ann = await server.user("ann")
    data = png((300, 300))
    reply = await upload(server, ann, data[: len(data) // 2])
    assert reply.status_code == 201
    assert (reply.json()["mime"], reply.json()["kind"]) == ("application/octet-stream", "file")
    assert "width" not in reply.json()


async def test_sending_media_one_may_not_use_is_no_such_media(server, nursery):
    ann, ben = await server.user("ann"), await server.user("ben")
    media = (await upload(server, ann, png())).json()["media"]
    b = await TestClient(nursery, server.url, ben).connect()
    b.session.send_text("", to="ann", attachments=(Attachment(media=media),))
    await b.flush()
    error = await b.expect(Error)
    assert error.code == "no_such_media"
    b.session.send_text("", to="ann", attachments=(Attachment(media="x" * 22),))
    await b.flush()
    assert (await b.expect(Error)).code == "no_such_media"


async def test_forwarding_what_one_sees_and_signed_urls(server, nursery, clock):
    ann, ben, cid = await server.user("ann"), await server.user("ben"), await server.user("cid")
    media = (await upload(server, ann, png())).json()["media"]
    a = await TestClient(nursery, server.url, ann).connect()
    b = await TestClient(nursery, server.url, ben).connect()
    await send_with(a, "ben", media, "look")
    await send_with(b, "cid", media, "fwd")  # ben sees it: he may forward it
    assert (await fetch(server, f"/media/{media}", cid)).status_code == 200
    await send_frame(b, MediaUrl(id=77, media=media, thumb=64))
    reply = await b.expect(MediaUrlReply)
    assert reply.expires == clock.now_ms() + 600_000
    assert (await fetch(server, reply.url)).status_code == 200  # no header needed
    assert (await fetch(server, reply.url.replace("sig=", "sig=0"))).status_code == 401
    clock.advance(601)
    assert (await fetch(server, reply.url)).status_code == 401  # expired
    await send_frame(b, MediaUrl(id=78, media="y" * 22))
    assert (await b.expect(Error)).code == "no_such_media"


async def test_recall_hides_the_attachment(server, nursery):
    ann, ben = await server.user("ann"), await server.user("ben")
    media = (await upload(server, ann, png())).json()["media"]
    a = await TestClient(nursery, server.url, ann).connect()
    b = await TestClient(nursery, server.url, ben).connect()
    ack = await send_with(a, "ben", media)
    await b.expect(Msg)
    await send_frame(a, Recall(id=90, conv=ack.conv, seq=ack.seq))
    notice = await b.expect(Msg)
    assert notice.event == "recall"
    assert (await fetch(server, f"/media/{media}", ben)).status_code == 404
    assert (await fetch(server, f"/media/{media}", ann)).status_code == 404  # uploader too


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\0\0\0\0WEBP",
         b"RIFF\0\0\0\0WAVEfmt ", b"\0\0\0\x18ftypisom", b"%PDF-", b"<html>", b"PK\x03\x04"]
NAMES = ["", "a.png", "../../etc/passwd", "con\x00trol\x1f.txt", "日本語 ファイル.pdf",
         "\u202etxt.exe", "x" * 300, "a/b\\c.png", "%2e%2e%2f"]


async def test_fuzzed_bodies_round_trip_or_are_refused_cleanly(server):
    """Random bodies behind real magic numbers, random names: each upload is stored
    byte for byte under its hash (or refused with a code), and the server stays up."""
    import random

    rng = random.Random(19)
    ann = await server.user("ann")
    for i in range(40):
        data = rng.choice(MAGIC) + rng.randbytes(rng.randrange(0, 5000))
        reply = await upload(server, ann, data, name=rng.choice(NAMES),
                             content_type=rng.choice(["image/png", "text/html", "x/y"]))
        if not data:
            assert reply.status_code == 400
            continue
        if reply.status_code == 422:  # random bytes after a PNG signature: a "huge" image
            assert reply.json()["error"] == "image_too_large"
            continue
        assert reply.status_code == 201, (i, reply.text)
        info = reply.json()
        assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["size"] == len(data)
        assert "/" not in info["name"] and "\\" not in info["name"] and len(info["name"]) <= 255
        assert not any(ord(c) < 0x20 or c == "\u202e" for c in info["name"])
        assert info["mime"] != "text/html"
        got = await fetch(server, f"/media/{info['media']}", ann)
        assert got.content == data
    assert (await fetch(server, "/healthz")).status_code == 200


async def test_an_announcement_with_a_poster_and_head_requests(server, nursery):
    boss, ann = await server.user("boss"), await server.user("ann")
    await server.admin("user.set", handle="boss", corp_admin=True)
    info = (await upload(server, boss, png(), name="poster.png")).json()
    b = await TestClient(nursery, server.url, boss).connect()
    a = await TestClient(nursery, server.url, ann).connect()
    b.session.queue(Announce(id=b.session.next_request_id(), client_msg_id="party", text="",
                             attachments=(Attachment(media=info["media"]),)))
    await b.flush()
    await b.expect(Ack)
    msg = await a.expect(Msg)
    assert (msg.kind, msg.attachments[0].name) == ("image", "poster.png")
    async with httpx.AsyncClient(timeout=10) as http:
        head = await http.head(f"{base(server)}/media/{info['media']}", headers=bearer(ann))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == info["size"]
