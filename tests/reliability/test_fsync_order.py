"""Durability reaches the disk: every ack is written after the fsync of its commit.

Killing the process cannot show this (the page cache outlives it), so the
server runs under strace and the order of its system calls is checked:

    strace -f -tt -yy -xx -s 65536 \
        -e trace=openat,fdatasync,fsync,msync,pwrite64,pwritev,write,writev,sendto,sendmsg

`-yy` names every descriptor (`data.mdb`, or `TCP:[server->client]`) and
`-xx` prints every buffer byte as `\\xNN`, so buffers decode exactly. LMDB
with sync on commits like this, on the writer thread: the new pages go to
data.mdb (pwrite64/writev), then fdatasync(data.mdb), then the meta page is
written through a second descriptor opened with O_DSYNC — that write is the
commit point. The ack is a WebSocket frame whose msgpack map says
`type: "ack"`, written by the event loop to the client's TCP socket.

For every one of N acks (each send has a unique client_msg_id, which the
page holding the message contains verbatim) the test finds, in trace order:

  W  the first data.mdb write whose bytes contain that client_msg_id;
  S  the first completed fdatasync/fsync/msync of data.mdb after W;
  M  the first completed O_DSYNC (meta page) write to data.mdb after S;
  A  the write of the ack frame to the client socket,

and requires W < S < M < A, with A's entry after S's and M's return. It
also requires at least one data.mdb sync per writer batch (the server's own
count, from the admin `stats`). strace reports a syscall's return before
the thread that made it runs on, so a write caused by it appears later.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import msgpack
import pytest
import trio

from corpchat.protocol import Ack

from ..client import TestClient
from .chaos import ServerProcess

N = 40
SYNC_CALLS = frozenset({"fdatasync", "fsync", "msync"})
WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev"})
TRACE = ("openat", "fdatasync", "fsync", "msync", "pwrite64", "pwritev", "write", "writev",
         "sendto", "sendmsg")


def strace_command(output: str) -> tuple[str, ...] | None:
    """The strace wrapper, or None when strace is missing or may not ptrace here."""
    if shutil.which("strace") is None:
        return None
    base = ("strace", "-f", "-tt", "-yy", "-xx", "-s", "65536", "-e", "trace=" + ",".join(TRACE))
    for extra in (("--seccomp-bpf",), ()):  # seccomp filtering makes tracing much cheaper
        probe = subprocess.run([*base, *extra, "-o", os.devnull, "true"], capture_output=True)
        if probe.returncode == 0:
            return (*base, *extra, "-o", output)
    return None


# ----- reading the trace -----


@dataclass
class Call:
    """One system call: where it entered and returned in the trace, and its arguments."""

    name: str
    fd: int
    target: str  # what -yy says the descriptor is
    entry: int
    data: list[bytes] = field(default_factory=list)  # the buffers written
    text: str = ""
    exit: int | None = None
    result: str = ""


_LINE = re.compile(r"^(\d+)\s+\S+\s+(.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_START = re.compile(r"^(\w+)\((\d+)<(.*?)>(?=, |\)| <unfinished|$)(.*)$")
_OPENAT = re.compile(r'^(openat)\(\w+(?:<.*?>)?, "((?:\\x[0-9a-f]{2})*)", (.*)$')
_STRING = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
_HEX = re.compile(r"((?:\\x[0-9a-f]{2})+)")


def _unhex(text: str) -> str:
    return _HEX.sub(lambda m: bytes.fromhex(m.group(1).replace("\\x", "")).decode("latin-1"),
                    text)


def parse_trace(path: str) -> list[Call]:
    """Every traced call on a descriptor, in the order strace saw them enter."""
    calls: list[Call] = []
    pending: dict[str, Call] = {}  # pid -> its unfinished call
    with open(path, encoding="latin-1") as lines:
        for index, line in enumerate(lines):
            found = _LINE.match(line.rstrip("\n"))
            if not found:
                continue
            pid, rest = found.groups()
            resumed = _RESUMED.match(rest)
            if resumed:
                call = pending.pop(pid, None)
                if call is not None:
                    call.exit, call.result = index, resumed.group(2).rpartition(" = ")[2]
                continue
            start = _START.match(rest) or _OPENAT.match(rest)
            if not start:
                continue
            if start.group(1) == "openat":  # the path it opens is its "target"
                name, target, args, fd = *start.groups(), "-1"
            else:
                name, fd, target, args = start.groups()
            call = Call(name, int(fd), _unhex(target), index, text=args)
            call.data = [bytes.fromhex(s.replace("\\x", "")) for s in _STRING.findall(args)]
            if rest.endswith("<unfinished ...>"):
                pending[pid] = call
            else:
                call.exit, call.result = index, rest.rpartition(" = ")[2]
            calls.append(call)
    return calls


def _meta_fds(calls: list[Call]) -> set[int]:
    """Descriptors of data.mdb opened with O_DSYNC (LMDB's meta-page writer)."""
    return {int(c.result.split("<")[0]) for c in calls
            if c.name == "openat" and c.target.endswith("/data.mdb") and "O_DSYNC" in c.text
            and c.result.split("<")[0].isdigit()}


def ack_writes(calls: list[Call], port: int) -> dict[str, Call]:
    """client_msg_id -> the write that carried its ack frame to a client socket."""
    found: dict[str, Call] = {}
    for call in calls:
        if call.name not in WRITE_CALLS or not call.target.startswith(f"TCP:[127.0.0.1:{port}->"):
            continue
        for buffer in call.data:
            for payload in _ws_payloads(buffer):
                try:
                    frame = msgpack.unpackb(payload, raw=False)
                except Exception:
                    continue
                if isinstance(frame, dict) and frame.get("type") == "ack":
                    found.setdefault(frame["client_msg_id"], call)
    return found


def _ws_payloads(buffer: bytes) -> list[bytes]:
    """The payloads of the unmasked server frames that make up a write buffer."""
    out, pos = [], 0
    while pos + 2 <= len(buffer):
        size, head = buffer[pos + 1] & 0x7F, 2
        if size == 126:
            size, head = int.from_bytes(buffer[pos + 2:pos + 4], "big"), 4
        elif size == 127:
            size, head = int.from_bytes(buffer[pos + 2:pos + 10], "big"), 10
        out.append(buffer[pos + head:pos + head + size])
        pos += head + size
    return out


def check_order(calls: list[Call], port: int, cmids: list[str]) -> list[str]:
    """The W < S < M < A rule for each client_msg_id; the problems found."""
    meta = _meta_fds(calls)
    data_writes = [c for c in calls if c.name in WRITE_CALLS and c.target.endswith("/data.mdb")
                   and c.fd not in meta]
    syncs = [c for c in calls if c.name in SYNC_CALLS and c.target.endswith("/data.mdb")
             and c.exit is not None and c.result.startswith("0")]
    metas = [c for c in calls if c.name in WRITE_CALLS and c.fd in meta and c.exit is not None]
    acks = ack_writes(calls, port)
    problems = [] if meta else ["no O_DSYNC descriptor of data.mdb was opened"]
    for cmid in cmids:
        needle = cmid.encode()
        w = next((c for c in data_writes if any(needle in d for d in c.data)), None)
        a = acks.get(cmid)
        if w is None or a is None:
            problems.append(f"{cmid}: page write {w is not None}, ack write {a is not None}")
            continue
        s = next((c for c in syncs if c.exit > w.entry), None)  # type: ignore[operator]
        m = next((c for c in metas if s is not None and c.entry > s.exit), None)  # type: ignore[operator]
        if s is None or m is None or not s.exit < m.exit < a.entry:  # type: ignore[operator]
            problems.append(f"{cmid}: page write at line {w.entry}, sync returned at "
                            f"{s and s.exit}, meta written at {m and m.exit}, ack at {a.entry}")
    return problems


# ----- the test -----


@pytest.mark.slow
async def test_every_ack_follows_the_fsync_of_its_commit(tmp_path, nursery):
    trace = os.fspath(tmp_path / "trace.txt")
    wrapper = strace_command(trace)
    if wrapper is None:
        pytest.skip(reason="strace is not installed, or ptrace is not permitted here")
    server = ServerProcess(os.fspath(tmp_path / "data"), os.fspath(tmp_path / "server.log"),
                           wrapper=wrapper)
    try:
        await server.start(timeout_s=60)
        await server.admin("corp.add", name="acme")
        alice = (await server.admin("user.add", handle="alice", corp="acme",
                                    token=True))["token"]
        await server.admin("user.add", handle="bob", corp="acme")
        client = await TestClient(nursery, server.url, alice).connect()
        cmids = [f"fsync-probe-{i:04d}-{os.urandom(4).hex()}" for i in range(N)]
        with trio.fail_after(60):
            for burst in range(0, N, 10):  # bursts, so batches hold several messages
                for cmid in cmids[burst:burst + 10]:
                    client.session.send_text(f"durable {cmid}", to="bob", client_msg_id=cmid)
                await client.flush()
                for _ in range(10):
                    await client.expect(Ack)
        stats = await server.admin("stats")
        await client.close()
        await server.stop()
    finally:
        await server.kill()
    calls = parse_trace(trace)
    assert check_order(calls, server.port, cmids) == []
    syncs = [c for c in calls if c.name in SYNC_CALLS and c.target.endswith("/data.mdb")]
    assert stats["writer_batches"] >= 1
    assert len(syncs) >= stats["writer_batches"], (len(syncs), stats["writer_batches"])
    print(f"fsync order: {N} acks each after their commit's fdatasync and meta write; "
          f"{len(syncs)} data.mdb syncs for {stats['writer_batches']} writer batches")


@pytest.mark.parametrize("ack_at,passes", [(2, False), (4, False), (5, False), (7, True)],
                         ids=["before-fdatasync", "during-fdatasync", "before-meta", "after-meta"])
def test_check_order_on_a_hand_written_trace(tmp_path, ack_at, passes):
    """The checker itself: the ack written at each point of a commit (threads interleaved)."""
    mdb = "".join(f"\\x{b:02x}" for b in b"/d/data.mdb")
    payload = msgpack.packb({"type": "ack", "client_msg_id": "probe-1"})
    ack = "".join(f"\\x{b:02x}" for b in bytes([0x82, len(payload)]) + payload)
    page = "".join(f"\\x{b:02x}" for b in b"..probe-1..")
    commit = [
        f'1 t openat(AT_FDCWD</d>, "{mdb}", O_WRONLY|O_DSYNC|O_CLOEXEC) = 6<{mdb}>',
        f'2 t pwrite64(5<{mdb}>, "{page}", 11, 8192) = 11',
        f"2 t fdatasync(5<{mdb}> <unfinished ...>",
        '3 t write(7<pipe:[1]>, "\\x00", 1) = 1',
        "2 t <... fdatasync resumed>) = 0",
        f'2 t pwrite64(6<{mdb}>, "\\x00", 1, 0) = 1',
        '2 t sendto(11<UNIX-STREAM:[2->1]>, "\\x00", 1, 0, NULL, 0) = 1',
    ]
    lines = commit[:ack_at] + [
        f'3 t write(9<TCP:[127.0.0.1:80->127.0.0.1:5000]>, "{ack}", 30) = 30'] + commit[ack_at:]
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(lines) + "\n")
    assert (check_order(parse_trace(os.fspath(trace)), 80, ["probe-1"]) == []) is passes
