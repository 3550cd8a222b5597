"""The server-wide pace of upload bytes (server/upload_pace.py): the bucket on an
injected clock, and a real server holding an upload to the pace."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest

from corpchat.protocol.clock import ManualClock
from corpchat.server.config import MediaSettings
from corpchat.server.upload_pace import UploadPace

from ..conftest import running_server
from .test_media import upload

MIB = 1024 * 1024


def test_a_burst_goes_at_once_then_the_bytes_wait_for_the_pace():
    clock = ManualClock()
    pace = UploadPace(bytes_per_s=MIB, burst_bytes=MIB // 2, clock=clock)
    assert pace.delay(MIB // 4) == 0.0
    assert pace.delay(MIB // 4) == 0.0  # the burst is spent
    assert pace.delay(MIB // 4) == pytest.approx(0.25)
    # a second upload meanwhile waits behind what the first owes
    assert pace.delay(MIB // 4) == pytest.approx(0.5)
    clock.advance(0.5)  # the bucket refilled half a MiB: a quarter is still owed
    assert pace.delay(0) == pytest.approx(0.0)
    assert pace.delay(MIB // 4) == pytest.approx(0.25)


def test_an_idle_bucket_fills_only_up_to_its_burst():
    clock = ManualClock()
    pace = UploadPace(bytes_per_s=MIB, burst_bytes=MIB // 2, clock=clock)
    pace.delay(MIB // 2)
    clock.advance(3600)
    assert pace.delay(MIB // 2) == 0.0
    assert pace.delay(MIB // 4) == pytest.approx(0.25)


def test_no_pace_at_zero():
    pace = UploadPace(bytes_per_s=0, burst_bytes=0, clock=ManualClock())
    assert pace.delay(10 * 1024 * MIB) == 0.0


def test_the_pace_may_be_off_but_not_negative():
    assert MediaSettings(upload_bytes_per_s=0).upload_bytes_per_s == 0
    with pytest.raises(ValueError):
        MediaSettings(upload_bytes_per_s=-1)


async def test_a_real_upload_past_the_burst_waits_for_the_pace(nursery, server_config, clock):
    """The injected clock stands still, so the bucket never refills: every chunk past
    the burst is held back (a fast pace keeps the real waits to milliseconds), and the
    upload still arrives whole."""
    media = dataclasses.replace(server_config.media, upload_bytes_per_s=1024 * MIB,
                                upload_burst_bytes=MIB // 4)
    config = dataclasses.replace(server_config, media=media)
    async with running_server(nursery, config, clock) as server:
        token = await server.user("ann")
        small = await upload(server, token, os.urandom(MIB // 8), name="small.bin",
                             content_type="application/octet-stream")
        assert small.status_code == 201, small.text
        assert server.app.media.pace.waits == 0  # within the burst: no wait
        data = os.urandom(MIB + MIB // 4)
        answer = await upload(server, token, data, name="big.bin",
                              content_type="application/octet-stream")
        assert answer.status_code == 201, answer.text
        assert answer.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert server.app.media.pace.waits > 0
