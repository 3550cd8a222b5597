"""`admin backup` includes media; a restore elsewhere serves every attachment (§29)."""

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
