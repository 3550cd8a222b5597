"""Media benchmarks (issue 19, docs/benchmarks.md "Media"): not tests.

    python -m corpchat.server.mediabench download --url http://127.0.0.1:PORT \
        --admin-socket DATA/admin.sock [--gib 1] [--rounds 3]
    python -m corpchat.server.mediabench upload --url ... --admin-socket ... \
        [--files 100] [--mib 10] [--concurrency 100]

`download` uploads one file of --gib GiB (streamed, never whole in memory) and
fetches it --rounds times over one raw socket each, reporting MiB/s; `upload`
sends --files uploads of --mib MiB at once (each with `Expect: 100-continue`,
again after Retry-After while the server answers 503 `server_busy`), reporting
how many 503s came, their wall time and the
server's RSS before, at its highest and after (from `admin stats`, sampled
every 0.2 s). Both print one JSON object. Raw sockets rather than an HTTP
client library, so that the client is never what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import time
from urllib.parse import urlsplit

import trio

from corpchat.adminclient import call

CHUNK = 1024 * 1024


async def _open(url: str) -> trio.SocketStream:
    parts = urlsplit(url)
    return await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)


async def _read_head(stream: trio.SocketStream,
                     data: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    while b"\r\n\r\n" not in data:
        more = await stream.receive_some(65536)
        if not more:
            raise ConnectionError("closed before the answer's head")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, rest


async def upload(url: str, token: str, size: int, seed: bytes) -> dict[str, object]:
    """One streamed upload of `size` bytes (a repeated random block); while the server
    is busy (503 `server_busy`: the uploads take turns), again after its Retry-After."""
    while True:
        status, headers, body = await _upload_once(url, token, size, seed)
        if status != 503:
            break
        await trio.sleep(float(headers.get("retry-after", "1")) + random.uniform(0, 0.25))
    if status != 201:
        raise RuntimeError(f"upload answered {status}: {body[:200]!r}")
    return json.loads(body)


async def _upload_once(url: str, token: str, size: int,
                       seed: bytes) -> tuple[int, dict[str, str], bytes]:
    """One attempt, with `Expect: 100-continue`: the body goes only once it is wanted."""
    stream = await _open(url)
    async with stream:
        await stream.send_all((f"POST /media?name=bench.bin HTTP/1.1\r\nHost: bench\r\n"
                               f"Authorization: Bearer {token}\r\nContent-Length: {size}\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Expect: 100-continue\r\n\r\n").encode())
        status, headers, rest = await _read_head(stream)
        if status == 100:
            block = (seed * (CHUNK // len(seed) + 1))[:CHUNK]
            left = size
            while left:
                piece = block[:min(left, CHUNK)]
                await stream.send_all(piece)
                left -= len(piece)
            status, headers, rest = await _read_head(stream, rest)
        body = rest
        while len(body) < int(headers.get("content-length", "0")):
            body += await stream.receive_some(65536)
    return status, headers, body


async def download(url: str, token: str, media: str) -> tuple[int, float]:
    """(bytes, seconds) of one GET of the file over a fresh connection."""
    stream = await _open(url)
    async with stream:
        started = time.perf_counter()
        await stream.send_all((f"GET /media/{media} HTTP/1.1\r\nHost: bench\r\n"
                               f"Authorization: Bearer {token}\r\n\r\n").encode())
        status, headers, rest = await _read_head(stream)
        if status != 200:
            raise RuntimeError(f"download answered {status}")
        want, got = int(headers["content-length"]), len(rest)
        sock = stream.socket
        buffer = bytearray(4 * CHUNK)
        while got < want:
            n = await sock.recv_into(buffer)
            if n == 0:
                raise ConnectionError(f"closed after {got} of {want} bytes")
            got += n
        return got, time.perf_counter() - started


def _user(admin_socket: str) -> str:
    handle = f"bench{secrets.token_hex(3)}"
    try:
        call(admin_socket, "corp.add", {"name": "mediabench"})
    except Exception:  # noqa: BLE001 - it exists from an earlier run
        pass
    added = call(admin_socket, "user.add", {"handle": handle, "corp": "mediabench", "token": True})
    return added["token"]


async def run_download(args: argparse.Namespace) -> dict[str, object]:
    token = _user(args.admin_socket)
    size = int(args.gib * 1024**3)
    started = time.perf_counter()
    info = await upload(args.url, token, size, os.urandom(4096))
    upload_s = time.perf_counter() - started
    rounds = []
    for _ in range(args.rounds):
        got, seconds = await download(args.url, token, str(info["media"]))
        rounds.append(round(got / seconds / 1024**2, 1))
    return {"bench": "download", "bytes": size, "upload_mib_s": round(size / upload_s / 1024**2, 1),
            "download_mib_s": rounds}


async def _sample_rss(admin_socket: str, seen: list[int], stop: trio.Event) -> None:
    while not stop.is_set():
        stats = await trio.to_thread.run_sync(call, admin_socket, "stats", {})
        seen.append(int(stats["rss_bytes"]))
        with trio.move_on_after(0.2):
            await stop.wait()


async def run_upload(args: argparse.Namespace) -> dict[str, object]:
    tokens = [_user(args.admin_socket) for _ in range(args.files)]  # a quota each
    size = args.mib * 1024**2
    seen: list[int] = []
    stop = trio.Event()
    limiter = trio.CapacityLimiter(args.concurrency)

    async def one(token: str) -> None:
        async with limiter:
            await upload(args.url, token, size, os.urandom(4096))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sample_rss, args.admin_socket, seen, stop)
        await trio.sleep(0.5)
        started = time.perf_counter()
        async with trio.open_nursery() as uploads:
            for token in tokens:
                uploads.start_soon(one, token)
        seconds = time.perf_counter() - started
        await trio.sleep(0.5)
        stop.set()
    busy = call(args.admin_socket, "stats", {}).get("media_uploads_busy")
    return {"bench": "upload", "files": args.files, "mib_each": args.mib, "busy_503": busy,
            "seconds": round(seconds, 2), "mib_s": round(args.files * args.mib / seconds, 1),
            "rss_before_mib": round(seen[0] / 1024**2, 1),
            "rss_max_mib": round(max(seen) / 1024**2, 1),
            "rss_after_mib": round(seen[-1] / 1024**2, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpchat.server.mediabench")
    parser.add_argument("mode", choices=["download", "upload"])
    parser.add_argument("--url", required=True, help="http://HOST:PORT of the server")
    parser.add_argument("--admin-socket", required=True)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--mib", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args(argv)
    run = run_download if args.mode == "download" else run_upload
    print(json.dumps(trio.run(run, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
