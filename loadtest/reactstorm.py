"""A reaction storm (issue 20): M members of one group react to ONE message at an
aggregate R reactions a second (each toggling 👍 on and off), while the sender's
device counts the `reaction` frames it gets. The server folds a commit's
reactions into one event per message, so the frames must stay at or below the
server's commits (writer batches) in the window, however high R is.

    python -m corpchat.loadtest.reactstorm --url ws://127.0.0.1:PORT/ \\
        --admin-socket DATA/admin.sock --members 100 --rate 1000 --duration 10
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from corpchat.adminclient import call
from corpchat.protocol import (
    SUBPROTOCOL,
    Ack,
    GroupCreate,
    Hello,
    Ok,
    React,
    ReactionEvent,
    Send,
    decode_server_frame,
    encode,
)


async def _admin(path: str, cmd: str, **args: Any) -> Any:
    return await trio.to_thread.run_sync(call, path, cmd, args)


async def _hello(ws: WebSocketConnection, token: str) -> None:
    await ws.send_message(encode(Hello(id=1, token=token)))
    await ws.get_message()  # welcome


async def _frame(ws: WebSocketConnection) -> Any:
    """The next server frame (the server sends only binary messages)."""
    raw = await ws.get_message()
    assert isinstance(raw, bytes)
    return decode_server_frame(raw)


async def _until(ws: WebSocketConnection, kind: type) -> Any:
    while True:
        frame = await _frame(ws)
        if isinstance(frame, kind):
            return frame


async def _member(url: str, token: str, conv: int, seq: int, every_s: float,
                  end: float) -> int:
    """React and take it back in turn, one request per `every_s`; replies are read and
    dropped. Returns the requests sent."""
    sent = 0
    async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
        await _hello(ws, token)
        async with trio.open_nursery() as nursery:
            async def drain() -> None:
                while True:
                    await ws.get_message()
            nursery.start_soon(drain)
            next_at = trio.current_time()
            while next_at < end:
                await ws.send_message(encode(React(id=10 + sent, conv=conv, seq=seq,
                                                   emoji="👍", on=sent % 2 == 0)))
                sent += 1
                next_at += every_s
                await trio.sleep(max(0.0, next_at - trio.current_time()))
            nursery.cancel_scope.cancel()
    return sent


async def storm(url: str, admin_socket: str, members: int, rate: float,
                duration_s: float) -> dict[str, Any]:
    run = f"rs{int(time.time()) % 100000}"
    await _admin(admin_socket, "corp.add", name=run)
    handles = [f"{run}-u{i}" for i in range(members)]
    tokens = [(await _admin(admin_socket, "user.add", handle=h, corp=run, token=True))["token"]
              for h in handles]
    frames = 0
    async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as sender:
        await _hello(sender, tokens[0])
        await sender.send_message(encode(GroupCreate(id=2, name=run,
                                                     members=tuple(handles[1:]))))
        conv = (await _until(sender, Ok)).conv
        await sender.send_message(encode(Send(id=3, client_msg_id="storm", text="react!",
                                              conv=conv)))
        seq = (await _until(sender, Ack)).seq
        before = await _admin(admin_socket, "stats")
        end = trio.current_time() + duration_s
        sent: list[int] = []

        async def member(token: str) -> None:
            sent.append(await _member(url, token, conv, seq, members / rate, end))

        async def count() -> None:
            nonlocal frames
            with trio.move_on_at(end + 1.0):
                while True:
                    if isinstance(await _frame(sender), ReactionEvent):
                        frames += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(count)
            for token in tokens:
                nursery.start_soon(member, token)
        after = await _admin(admin_socket, "stats")
    commits = after["writer_batches"] - before["writer_batches"]
    return {"members": members, "offered_per_s": rate, "duration_s": duration_s,
            "reactions_sent": sum(sent), "reactions_per_s": round(sum(sent) / duration_s, 1),
            "commits": commits, "reaction_frames_to_sender": frames,
            "frames_per_commit": round(frames / commits, 3) if commits else None,
            "ok": frames <= commits}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--admin-socket", required=True)
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--duration", type=float, default=10.0)
    a = p.parse_args()
    print(json.dumps(trio.run(storm, a.url, a.admin_socket, a.members, a.rate, a.duration)))


if __name__ == "__main__":
    main()
