"""`admin backup` includes media; a restore elsewhere serves every attachment (§30)."""

from __future__ import annotations

import dataclasses
import os

from corpchat.server.cli import main

from ..conftest import running_server
from .test_groups import people
from .test_media import fetch, png, send_with, upload


async def test_a_backup_restored_elsewhere_serves_every_attachment(nursery, server_config,
                                                                   clock, tmp_path):
    backup = os.fspath(tmp_path / "backup")
    sent = {}
    async with running_server(nursery, server_config, clock) as srv:
        c = await people(srv, nursery, "ann", "ben")
        token = c["ben"].session.token
        for i in range(3):
            data = png(color=(i, 50, 50))
            media = (await upload(srv, c["ann"].session.token, data)).json()["media"]
            await send_with(c["ann"], "ben", media)
            sent[media] = data
        pending = (await upload(srv, c["ann"].session.token, b"%PDF-1.7 unsent")).json()
        done = await srv.admin("backup", path=backup)
        assert done["media_files"] == 4 and done["media_bytes"] > 0
    elsewhere = os.fspath(tmp_path / "elsewhere")
    assert main(["restore", backup, "--data", elsewhere, "--create"]) == 0
    config = dataclasses.replace(server_config, data_dir=elsewhere)
    async with running_server(nursery, config, clock) as srv:
        for media, data in sent.items():
            got = await fetch(srv, f"/media/{media}", token)
            assert got.status_code == 200 and got.content == data
            thumb = await fetch(srv, f"/media/{media}?thumb=64", token)
            assert thumb.status_code == 200  # thumbnails travel with their files
        assert (await fetch(srv, f"/media/{pending['media']}",
                            c["ann"].session.token)).status_code == 200


async def test_archive_export_with_media_is_a_tar_that_keeps_recalled_files(
        server, nursery, server_config, tmp_path):
    import hashlib
    import json
    import tarfile

    import trio

    from corpchat.protocol import Msg, Recall

    from ..client import send_frame
    from .test_groups import make_contact

    c = await people(server, nursery, "amy")
    c.update(await people(server, nursery, "carl", corp=None))
    await make_contact(c["amy"], c["carl"])
    data = png(color=(9, 9, 9))
    media = (await upload(server, c["amy"].session.token, data, name="offer.png")).json()
    ack = await send_with(c["amy"], "carl", media["media"], "the offer")
    await c["carl"].expect(Msg)
    await send_frame(c["amy"], Recall(id=5, conv=ack.conv, seq=ack.seq))
    await c["carl"].expect(Msg)  # the recall notice
    out = tmp_path / "archive.tar"
    argv = ["admin", "archive", "export", "--corp", "acme", "--with-media", "--output",
            str(out), "--data", server_config.data_dir]
    assert await trio.to_thread.run_sync(main, argv) == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
        rows = [json.loads(line) for line in tar.extractfile("archive.jsonl").read().splitlines()]
        stored = tar.extractfile(f"media/{media['sha256']}").read()
    assert names == [f"media/{media['sha256']}", "archive.jsonl"]
    assert hashlib.sha256(stored).hexdigest() == media["sha256"] and stored == data
    (sent,) = [r for r in rows if r["kind"] == "text"]
    assert sent["attachments"][0]["name"] == "offer.png"
    assert any(r["kind"] == "recall" for r in rows)
    assert (await fetch(server, f"/media/{media['media']}",
                        c["carl"].session.token)).status_code == 404  # recalled for the chat
