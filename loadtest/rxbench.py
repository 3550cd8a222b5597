"""How many deliveries/s can the generator receive and check on one core?

`python -m corpchat.loadtest.rxbench [--connections 100] [--frames 5000]`
starts a blaster process (plain sockets, one thread per connection) that
speaks just enough of the protocol — the WebSocket upgrade, `welcome`, an
empty `sync.page` — and then writes pre-encoded `msg` frames as fast as the
kernel takes them. The harness's own devices (loadtest/simclient.py, the
same receive path as every scenario) receive them and the checker checks
them. Reported: deliveries per second of wall time, the generator's CPU
over the same span, and deliveries per CPU-second — the figure issue 9
asks to be at least 50,000. Run it pinned, e.g.
`taskset -c 1 python -m corpchat.loadtest.rxbench --blaster-cpu 0`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import threading
import time

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Request

from corpchat.protocol import (
    Hello,
    Msg,
    Sync,
    SyncPage,
    Welcome,
    decode_client_frame,
    encode,
)
from corpchat.protocol.limits import DEFAULT_LIMITS

from .checker import check
from .recorder import Recorder, cpu_seconds
from .simclient import ClientSpec, SimClient
from .wsclient import ReadHub


def _frames(index: int, count: int, size: int) -> list[bytes]:
    from wsproto.frame_protocol import FrameProtocol

    serializer = FrameProtocol(client=False, extensions=[])
    now = time.monotonic_ns()
    out = []
    for seq in range(1, count + 1):
        text = f"lt:{index}:{seq}:{now}:".ljust(size, "x")
        msg = Msg(conv=index + 1, seq=seq, pos=seq, sender="blaster", time=0, text=text,
                  client_msg_id=f"{now}.{seq}", to=f"rx{index}")
        out.append(bytes(serializer.send_data(encode(msg), True)))
    return out


def _handshake(conn: socket.socket, ready: threading.Semaphore) -> None:
    """Answer the upgrade, hello and sync, then leave the socket to the blast."""
    ws = WSConnection(ConnectionType.SERVER)
    while True:
        data = conn.recv(65536)
        if not data:
            return
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, Request):
                conn.sendall(ws.send(AcceptConnection(subprotocol=event.subprotocols[0])))
            elif isinstance(event, BytesMessage):
                frame = decode_client_frame(bytes(event.data))
                if isinstance(frame, Hello):
                    conn.sendall(ws.send(BytesMessage(encode(Welcome(
                        re=frame.id, user="rx", session="s", server_time=0, sync="0",
                        limits=DEFAULT_LIMITS.to_wire())))))
                elif isinstance(frame, Sync):
                    conn.sendall(ws.send(BytesMessage(encode(SyncPage(
                        re=frame.id, msgs=(), sync="0", more=False)))))
                    ready.release()
                    return


def blaster(port_out: multiprocessing.connection.Connection, connections: int, frames: int,
            size: int, batch: int, rate: float, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    blobs = [_frames(i, frames, size) for i in range(connections)]
    listener = socket.create_server(("127.0.0.1", 0), backlog=connections)
    port_out.send(listener.getsockname()[1])
    ready = threading.Semaphore(0)
    by_index: dict[int, socket.socket] = {}
    for _ in range(connections):
        conn, _ = listener.accept()
        by_index[int(port_out.recv())] = conn
        threading.Thread(target=_handshake, args=(conn, ready), daemon=True).start()
    conns = [by_index[i] for i in range(connections)]
    for _ in range(connections):
        ready.acquire(timeout=60)
    port_out.recv()  # "go": every device is connected and synced
    start = time.monotonic()
    for k in range(0, frames, batch):  # round-robin, `batch` frames per write
        if rate:
            delay = start + k * connections / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        for conn, mine in zip(conns, blobs, strict=True):
            conn.sendall(b"".join(mine[k:k + batch]))
    port_out.recv()  # done
    for conn in conns:
        conn.close()


async def receive(port: int, pipe: multiprocessing.connection.Connection, connections: int,
                  frames: int, size: int) -> dict:
    recorder = Recorder()
    recorder.set_window(0, 2**62)  # record latencies too: the same work as a real run
    clients = []
    hub = ReadHub()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hub.run)
        for i in range(connections):
            client = SimClient(ClientSpec(i, f"rx{i}", "t", f"rx{i}/0"),
                               f"ws://127.0.0.1:{port}/", recorder, size, hub)
            pipe.send(i)
            with trio.fail_after(10):
                await client.connect(nursery)
            clients.append(client)
        total = connections * frames
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        pipe.send("go")
        with trio.move_on_after(120):
            while recorder.delivered < total:
                await trio.sleep(0.005)
        cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - t0
        pipe.send("done")
        for client in clients:
            await client.close()
        nursery.cancel_scope.cancel()
    acked = {i + 1: [(s, "blaster/0") for s in range(1, frames + 1)] for i in range(connections)}
    receivers = {i + 1: [f"rx{i}/0"] for i in range(connections)}
    verdict = check(acked, receivers, {c.spec.device: c.delivered for c in clients})
    return {"connections": connections, "deliveries": recorder.delivered, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "deliveries_per_s": round(recorder.delivered / wall),
            "deliveries_per_cpu_s": round(recorder.delivered / cpu) if cpu else None,
            "cpu_fraction": round(cpu / wall, 3), "check_ok": verdict.ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpchat.loadtest.rxbench")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--frames", type=int, default=5000, help="per connection")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1, help="frames per write (default 1)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="frames/s over all connections (default 0: as fast as possible)")
    parser.add_argument("--blaster-cpu", type=int, default=None)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=blaster, daemon=True,
                              args=(theirs, args.connections, args.frames, args.size,
                                    args.batch, args.rate, args.blaster_cpu))
    process.start()
    port = ours.recv()
    result = trio.run(receive, port, ours, args.connections, args.frames, args.size)
    process.join(10)
    for key, value in result.items():
        print(f"{key:<22} {value}")
    return 0 if result["check_ok"] and result["deliveries"] == args.connections * args.frames \
        else 1


if __name__ == "__main__":
    sys.exit(main())
