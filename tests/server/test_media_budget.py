"""Uploads take turns: the budget of upload bytes in flight, the wait for a turn,
503 `server_busy` with Retry-After when none comes, and `Expect: 100-continue`
(real server, raw sockets)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import pytest
import trio

from corpchat.server.upload_budget import UploadBudget

from .test_media import upload

LIMIT = 200 * 1024


@pytest.fixture
def server_config(server_config):
    media = dataclasses.replace(server_config.media, max_upload_bytes=256 * 1024,
                                upload_bytes_in_flight=LIMIT, upload_turn_wait_s=0.2)
    return dataclasses.replace(server_config, media=media)


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1].strip("/"))


async def _answer_head(stream: trio.SocketStream) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = await stream.receive_some(65536)
        assert more, f"closed before an answer: {data!r}"
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


async def _final_answer(stream: trio.SocketStream) -> tuple[int, dict[str, str], dict]:
    status, headers, body = await _answer_head(stream)
    while len(body) < int(headers["content-length"]):
        body += await stream.receive_some(65536)
    return status, headers, json.loads(body)


async def _head_expecting(server, token: str, size: int) -> trio.SocketStream:
    """An upload's head with `Expect: 100-continue`, its body not yet sent."""
    stream = await trio.open_tcp_stream("127.0.0.1", port_of(server))
    await stream.send_all((f"POST /media?name=big.bin HTTP/1.1\r\nHost: t\r\n"
                           f"Authorization: Bearer {token}\r\nContent-Length: {size}\r\n"
                           "Expect: 100-continue\r\n\r\n").encode())
    return stream


async def test_past_the_budget_an_upload_that_gets_no_turn_is_503(server):
    ann, ben = await server.user("ann"), await server.user("ben")
    first = await _head_expecting(server, ann, LIMIT)
    with trio.fail_after(10):
        status, _, _ = await _answer_head(first)
    assert status == 100  # admitted: its body is wanted
    assert server.app.media.budget.pending == LIMIT

    busy = await upload(server, ben, os.urandom(10 * 1024))  # a client without Expect
    assert busy.status_code == 503 and busy.json()["error"] == "server_busy"
    assert busy.headers["retry-after"] == "1"
    polite = await _head_expecting(server, ben, 10 * 1024)
    with trio.fail_after(10):  # refused before it sends a byte of its body
        status, headers, body = await _final_answer(polite)
    assert (status, body["error"], headers["retry-after"]) == (503, "server_busy", "1")

    data = os.urandom(LIMIT)
    await first.send_all(data)
    with trio.fail_after(10):
        status, _, stored = await _final_answer(first)
    assert status == 201 and stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert server.app.media.budget.pending == 0
    again = await upload(server, ben, os.urandom(10 * 1024))
    assert again.status_code == 201
    stats = await server.admin("stats")
    assert stats["media_uploads_busy"] == 2 and stats["media_upload_bytes_in_flight"] == 0


async def test_a_waiting_upload_goes_when_the_one_before_it_ends(nursery, server_config,
                                                                 clock):
    from ..conftest import running_server

    media = dataclasses.replace(server_config.media, upload_turn_wait_s=60.0)
    async with running_server(nursery, dataclasses.replace(server_config, media=media),
                              clock) as server:
        ann, ben = await server.user("ann"), await server.user("ben")
        first = await _head_expecting(server, ann, LIMIT)
        with trio.fail_after(10):
            assert (await _answer_head(first))[0] == 100
        second = await _head_expecting(server, ben, 1000)
        with trio.fail_after(10):
            while not server.app.media.budget.queue:  # its head is in: it waits in line
                await trio.sleep(0.01)
        await first.send_all(os.urandom(LIMIT))
        with trio.fail_after(10):
            assert (await _final_answer(first))[0] == 201
            assert (await _answer_head(second))[0] == 100  # its turn came
        await second.send_all(os.urandom(1000))
        with trio.fail_after(10):
            assert (await _final_answer(second))[0] == 201
        assert server.app.media.budget.pending == 0


async def test_a_cut_upload_gives_its_share_back(server):
    ann = await server.user("ann")
    cut = await _head_expecting(server, ann, LIMIT)
    with trio.fail_after(10):
        assert (await _answer_head(cut))[0] == 100
    await cut.send_all(os.urandom(50 * 1024))
    await cut.aclose()
    with trio.fail_after(10):
        while server.app.media.budget.pending or os.listdir(server.app.media.blobs.tmp):
            await trio.sleep(0.01)
    assert (await upload(server, ann, os.urandom(10 * 1024))).status_code == 201


async def test_an_upload_without_expect_gets_no_interim_answer(server):
    ann = await server.user("ann")
    stream = await trio.open_tcp_stream("127.0.0.1", port_of(server))
    data = os.urandom(1000)
    await stream.send_all((f"POST /media HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ann}"
                           f"\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data)
    with trio.fail_after(10):
        status, _, _ = await _final_answer(stream)
    assert status == 201


# ----- the budget alone -----

async def test_turns_go_in_arrival_order_and_a_wait_that_ends_leaves_the_line():
    budget = UploadBudget(limit=100)
    first = budget.admit(100)
    assert first is not None
    called: list[int] = []

    async def wait(n: int, declared: int, wait_s: float) -> None:
        ticket = await budget.turn(declared, wait_s)
        if ticket is not None:
            called.append(n)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, 1, 80, 60)
        await trio.sleep(0)
        nursery.start_soon(wait, 2, 10, 0.01)  # gives up before any turn
        await trio.sleep(0)
        nursery.start_soon(wait, 3, 10, 60)
        await trio.sleep(0.05)
        assert budget.admit(1) is None  # no overtaking the line
        first.received(50)  # under the limit: the first in line goes, and fills it
        await trio.sleep(0.01)
        assert called == [1] and budget.pending == 50 + 80
        first.close()
    assert called == [1, 3] and budget.busy_refusals == 1  # 2 left the line
    assert budget.pending == 80 + 10 and not budget.queue


def test_admits_while_under_the_limit_so_one_large_file_still_gets_a_turn():
    budget = UploadBudget(limit=100)
    big = budget.admit(250)  # larger than the limit, but nothing else is in flight
    assert big is not None and budget.pending == 250
    assert budget.admit(1) is None
    big.received(200)
    assert budget.pending == 50
    small = budget.admit(30)
    assert small is not None and budget.pending == 80
    small.received(40)  # more than it declared: only its share is given back
    assert budget.pending == 50
    big.close()
    small.close()
    assert budget.pending == 0
    big.close()  # twice: nothing more
    assert budget.pending == 0


def test_a_streamed_upload_holds_an_eighth_of_the_limit_until_it_ends():
    budget = UploadBudget(limit=800)
    streamed = budget.admit(None)
    assert streamed is not None and budget.pending == 100
    streamed.received(5000)  # how much is still to come is not known
    assert budget.pending == 100
    streamed.close()
    assert budget.pending == 0
