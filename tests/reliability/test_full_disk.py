"""A full disk: writes that cannot be stored are refused, nothing acked is lost,
the server keeps serving, and service resumes when space returns.

The server runs as `corpchat serve` in a subprocess (map starting at 1 MiB, so
it also grows while the disk fills) under a small wrapper that gives it a
deliberately small filesystem, one of:

- tmpfs: a small tmpfs mounted in a private mount namespace (`unshare -rm`,
  or `unshare -m` as root where user namespaces are off), so nothing leaks
  into the host's mounts; space returns with `mount -o remount,size=...`.
  Writes fail with ENOSPC.
- rlimit: RLIMIT_FSIZE on the server process with SIGXFSZ ignored; space
  returns by raising the limit (prlimit) on the running server. Writes fail
  with EFBIG.

Each variant is skipped, with the reason, where it cannot be arranged. The
wrapper lives in the namespace, so it also runs the admin commands (the admin
socket sits in the data directory, visible only there) and restarts the
server on the same directory.

Checks: every send gets exactly one answer, an `ack` or an `error` with code
`storage_unavailable` (never both, nothing else); at least a few are refused
once the disk is full; while full, ping/pong and a fresh client's sync from
token "0" work and return every acked message intact; after space returns
new sends and retries of the refused ones are acked; the conversation is
gap-free with every acked message exactly once, before and after a restart
on the same data directory, both while the disk is still full and after.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
import trio

from corpchat.protocol import Ack, Error, ErrorCode, Msg, Ping, Pong, Send, Sync, SyncPage

from ..client import RawWs

SMALL_BYTES = 3 * 1024 * 1024  # the filesystem (or file size limit) while "full"
LARGE_BYTES = 64 * 1024 * 1024  # once space returns
MAX_SENDS = 1500  # bound on the fill loop (about 250 are needed)
REFUSED_IN_A_ROW = 6  # the disk counts as full after this many refusals in a row
AFTER_SPACE = 10  # sends that must be acked once space returns
TEST_TIMEOUT_S = 40
STEP_TIMEOUT_S = 10
# 4000 characters of 3 UTF-8 bytes: 12 KB a message, so a few hundred fill it.
FILLER = "满" * 3980

WRAPPER = r"""
import ctypes, json, os, re, resource, signal, subprocess, sys, time

cfg = json.loads(sys.argv[1])
mode, data, log_path = cfg["mode"], cfg["data"], cfg["log"]
proc = None
limited = True


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def child_setup():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the wrapper
    if mode == "rlimit" and limited:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (cfg["bytes"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def start():
    global proc
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    log = open(log_path, "ab")
    proc = subprocess.Popen([cfg["exe"], "serve", "--data", data, "--listen", "127.0.0.1:0",
                             "--map-mb", "1"], stdout=log, stderr=log,
                            preexec_fn=child_setup)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            f.seek(offset)
            m = re.search(rb"serving on 127\.0\.0\.1:(\d+)", f.read())
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        time.sleep(0.02)
    raise RuntimeError("server did not start in 10 s")


def stop():
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def usage():
    st = os.statvfs(data)
    db = os.path.join(data, "data.mdb")
    return {"free": st.f_bavail * st.f_frsize,
            "data_mdb": os.path.getsize(db) if os.path.exists(db) else 0}


try:
    os.makedirs(data, exist_ok=True)
    if mode == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={cfg['bytes']},mode=0700",
                        "tmpfs", data], check=True, capture_output=True, text=True)
    say({"port": start(), **usage()})
except subprocess.CalledProcessError as exc:
    say({"error": f"mount failed: {exc.stderr.strip() or exc}"})
    sys.exit(0)
except Exception as exc:
    say({"error": f"{type(exc).__name__}: {exc}"})
    sys.exit(0)

from corpchat.adminclient import AdminError, call, socket_path

for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    try:
        if op == "admin":
            say({"result": call(socket_path(data), req["cmd"], req["args"])})
        elif op == "grow":
            if mode == "tmpfs":
                subprocess.run(["mount", "-o", f"remount,size={cfg['grow']}", data],
                               check=True, capture_output=True, text=True)
            else:
                limited = False
                resource.prlimit(proc.pid, resource.RLIMIT_FSIZE,
                                 (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            say(usage())
        elif op == "usage":
            say(usage())
        elif op == "restart":
            rc = stop()
            say({"stopped": rc, "port": start(), **usage()})
        elif op == "stop":
            say({"stopped": stop()})
            break
    except AdminError as exc:
        say({"error": f"admin {exc}"})
    except Exception as exc:
        say({"error": f"{type(exc).__name__}: {exc}"})
if proc.poll() is None:
    stop()
"""


class Wrapper:
    """The wrapper process: one JSON request per line in, one JSON reply per line out."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self._buffer = b""
        self.port = 0

    @classmethod
    async def start(cls, launch: list[str], config: dict) -> Wrapper:
        errors = config["log"] + ".wrapper"  # a file: a pipe nobody reads could fill
        with open(errors, "wb") as stderr:
            proc = await trio.lowlevel.open_process(
                [*launch, sys.executable, "-c", WRAPPER, json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        wrapper = cls(proc)
        try:
            first = await wrapper._reply()
        except EOFError:
            with trio.fail_after(STEP_TIMEOUT_S):
                await proc.wait()
            with open(errors, encoding="utf-8", errors="replace") as f:
                err = f.read()[-4000:]
            raise AssertionError(f"the wrapper ({' '.join(launch)}) ended: {err}") from None
        if "error" in first:
            await wrapper.close()
            raise AssertionError(f"the wrapper could not start the server: {first['error']}")
        wrapper.port = first["port"]
        return wrapper

    async def _reply(self) -> dict:
        with trio.fail_after(STEP_TIMEOUT_S * 2):
            while b"\n" not in self._buffer:
                data = await self.proc.stdout.receive_some(65536)
                if not data:
                    raise EOFError
                self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    async def ask(self, op: str, **fields) -> dict:  # noqa: ANN003
        await self.proc.stdin.send_all(json.dumps({"op": op, **fields}).encode() + b"\n")
        reply = await self._reply()
        assert "error" not in reply, reply
        return reply

    async def admin(self, cmd: str, **args) -> dict:  # noqa: ANN003
        return (await self.ask("admin", cmd=cmd, args=args))["result"]

    async def close(self) -> None:
        with trio.move_on_after(STEP_TIMEOUT_S * 2):
            try:
                await self.proc.stdin.aclose()
            except trio.BrokenResourceError:
                pass
            await self.proc.wait()
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def launchers(mode: str) -> list[list[str]]:
    if mode == "rlimit":
        return [[]]
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return []
    return [["unshare", "-rm"]] + ([["unshare", "-m"]] if os.geteuid() == 0 else [])


@pytest.fixture
def launch(mode: str, tmp_path) -> list[str]:  # noqa: ANN001
    """How to start the wrapper so the small filesystem can be arranged, or skip.

    A plain (synchronous) fixture: pytest-trio 0.8 under pytest 9 loses the
    reason of a skip raised inside a trio test.
    """
    # `make test` installs the entry point: without it the set-up is broken, not the host.
    assert os.path.exists(corpchat_exe()), f"no corpchat entry point beside {sys.executable}"
    if mode == "rlimit":
        if not hasattr(resource, "prlimit"):
            pytest.skip(reason="RLIMIT_FSIZE cannot be raised on a running process here "
                               "(no prlimit)")
        return []
    reasons = []
    probe = tmp_path / "probe"
    probe.mkdir()
    for candidate in launchers(mode):
        try:
            subprocess.run([*candidate, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                            os.fspath(probe)], check=True, capture_output=True, text=True,
                           timeout=STEP_TIMEOUT_S)
            return candidate
        except (OSError, subprocess.SubprocessError) as exc:
            err = getattr(exc, "stderr", None) or str(exc)
            reasons.append(f"{' '.join(candidate)}: {err.strip()}")
    pytest.skip(reason="cannot mount a small tmpfs in a private mount namespace: "
                + ("; ".join(reasons) or "unshare or mount is not installed"))


def corpchat_exe() -> str:
    return os.path.join(os.path.dirname(sys.executable), "corpchat")


async def start_wrapper(mode: str, launch: list[str], tmp_path) -> Wrapper:  # noqa: ANN001
    config = {"mode": mode, "data": os.fspath(tmp_path / "data"), "bytes": SMALL_BYTES,
              "grow": LARGE_BYTES, "log": os.fspath(tmp_path / "server.log"),
              "exe": corpchat_exe()}
    return await Wrapper.start(launch, config)


@dataclass
class Outcomes:
    texts: dict[str, str] = field(default_factory=dict)  # client_msg_id -> text
    acked: dict[str, Ack] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # client_msg_id -> sender
    in_a_row: int = 0  # refusals since the last ack, over every sender

    def record(self, cmid: str, answer: Ack | Error, sender: str) -> None:
        if isinstance(answer, Ack):
            assert answer.client_msg_id == cmid and not answer.duplicate, answer
            self.acked[cmid] = answer
            self.refused.pop(cmid, None)
            self.in_a_row = 0
        else:
            assert answer.code == ErrorCode.STORAGE_UNAVAILABLE, answer
            assert cmid not in self.acked, f"{cmid} refused after its ack"
            self.refused[cmid] = sender
            self.in_a_row += 1

    @property
    def full(self) -> bool:
        return self.in_a_row >= REFUSED_IN_A_ROW


class Sender:
    """One user's connection: requests out, exactly one answer in for each."""

    def __init__(self, ws: RawWs, handle: str, to: str) -> None:
        self.ws, self.handle, self.to = ws, handle, to
        self.ids = 1
        self.answers: dict[int, object] = {}
        self.answered: set[int] = set()

    def _next_id(self) -> int:
        self.ids += 1
        return self.ids

    async def send_many(self, messages: list[tuple[str, str]]) -> list[Ack | Error]:
        """Send messages back to back, then take their answers (in request order).
        A rate-limited request is sent again: that is not a storage answer."""
        answers: list[Ack | Error | None] = [None] * len(messages)
        todo = list(range(len(messages)))
        while todo:
            rids = []
            for k in todo:
                cmid, text = messages[k]
                rids.append(rid := self._next_id())
                await self.ws.request(Send(id=rid, client_msg_id=cmid, text=text, to=self.to))
            again = []
            for k, rid in zip(todo, rids, strict=True):
                answer = await self.answer(rid)
                if isinstance(answer, Error) and answer.code == ErrorCode.RATE_LIMITED:
                    again.append(k)
                    await trio.sleep((answer.retry_after_ms or 10) / 1000)
                else:
                    answers[k] = answer
            todo = again
        return answers  # type: ignore[return-value]

    async def send(self, cmid: str, text: str) -> Ack | Error:
        return (await self.send_many([(cmid, text)]))[0]

    async def answer(self, rid: int):  # noqa: ANN201
        """The one answer to request `rid`; a second answer to any request fails."""
        with trio.fail_after(STEP_TIMEOUT_S):
            while rid not in self.answers:
                frame = await self.ws.receive(STEP_TIMEOUT_S)
                re = getattr(frame, "re", None)
                if isinstance(frame, (Ack, Error, Pong, SyncPage)) and re is not None:
                    assert re not in self.answered and re not in self.answers, \
                        f"a second answer to request {re}: {frame}"
                    self.answers[re] = frame
                else:
                    assert not isinstance(frame, Error), frame
        self.answered.add(rid)
        return self.answers.pop(rid)

    async def ping(self) -> None:
        await self.ws.request(Ping(id=(rid := self._next_id())))
        assert isinstance(await self.answer(rid), Pong)

    async def sync_all(self) -> list[Msg]:
        """Every message from token "0", following the pages."""
        since, out = "0", []
        for _ in range(1000):
            await self.ws.request(Sync(id=(rid := self._next_id()), since=since))
            page = await self.answer(rid)
            assert isinstance(page, SyncPage), page
            out.extend(page.msgs)
            since = page.sync
            if not page.more:
                return out
        raise AssertionError("sync did not end")


async def connect(nursery, port: int, token: str, handle: str,  # noqa: ANN001
                  to: str) -> Sender:
    ws = await RawWs.open(nursery, f"ws://127.0.0.1:{port}/")
    await ws.hello(token)
    return Sender(ws, handle, to)


def check_history(msgs: list[Msg], out: Outcomes, must_have: set[str]) -> None:
    """Every acked message once, intact, at its acked place; nothing that was
    refused and not retried; every conversation gap-free."""
    ours = [m for m in msgs if m.client_msg_id in out.texts]
    by_cmid: dict[str, list[Msg]] = {}
    for m in ours:
        by_cmid.setdefault(m.client_msg_id, []).append(m)
    dupes = {c: len(v) for c, v in by_cmid.items() if len(v) > 1}
    assert not dupes, f"duplicated: {dupes}"
    missing = sorted(must_have - by_cmid.keys())
    assert not missing, f"acked but missing: {missing[:10]} ({len(missing)})"
    unexpected = sorted(by_cmid.keys() - must_have)
    assert not unexpected, f"stored but never acked: {unexpected[:10]}"
    for cmid in must_have:
        (m,), ack = by_cmid[cmid], out.acked[cmid]
        assert (m.conv, m.seq, m.pos, m.text) == (ack.conv, ack.seq, ack.pos, out.texts[cmid])
    seqs: dict[int, list[int]] = {}
    for m in msgs:
        seqs.setdefault(m.conv, []).append(m.seq)
    for conv, got in seqs.items():
        assert sorted(got) == list(range(1, len(got) + 1)), f"conversation {conv} has a gap"
    positions = [m.pos for m in msgs]
    assert positions == sorted(set(positions)), "sync is not in stream order"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["tmpfs", "rlimit"])
async def test_full_disk_refuses_writes_keeps_acked_and_resumes(mode, launch, tmp_path,
                                                                nursery):
    wrapper = await start_wrapper(mode, launch, tmp_path)
    try:
        with trio.fail_after(TEST_TIMEOUT_S):
            await _scenario(wrapper, nursery)
    finally:
        await wrapper.close()


SENDERS = ("alice", "carol", "dave", "erin")  # concurrent, so batches hold several writes


async def _scenario(wrapper: Wrapper, nursery) -> None:  # noqa: ANN001
    await wrapper.admin("corp.add", name="acme")
    tokens = {h: (await wrapper.admin("user.add", handle=h, corp="acme", token=True))["token"]
              for h in (*SENDERS, "bob")}
    senders = [await connect(nursery, wrapper.port, tokens[h], h, "bob") for h in SENDERS]
    out = Outcomes()

    # Fill the disk: every sender, one message at a time, until several in a
    # row (over all senders) are refused.
    async def fill(sender: Sender) -> None:
        for i in range(MAX_SENDS // len(SENDERS)):
            if out.full:
                return
            cmid = f"{sender.handle}-{i}"
            out.texts[cmid] = f"{cmid}:{FILLER}"
            out.record(cmid, await sender.send(cmid, out.texts[cmid]), sender.handle)

    async with trio.open_nursery() as fillers:
        for sender in senders:
            fillers.start_soon(fill, sender)
    usage = await wrapper.ask("usage")
    assert out.full, f"{len(out.acked)} sends acked and the disk never filled: {usage}"
    assert len(out.acked) > 50, f"refused too early: {len(out.acked)} acked, {usage}"

    # Still full: a burst of sends pipelined on one connection; each gets one answer.
    alice = senders[0]
    burst = [(f"burst-{i}", f"burst {i}:{FILLER}") for i in range(8)]
    out.texts.update(burst)
    for (cmid, _), answer in zip(burst, await alice.send_many(burst), strict=True):
        out.record(cmid, answer, alice.handle)
    assert out.refused

    # While full: every connection lives, pings are answered, reads work.
    for sender in senders:
        await sender.ping()
    bob = await connect(nursery, wrapper.port, tokens["bob"], "bob", "alice")
    check_history(await bob.sync_all(), out, set(out.acked))
    await bob.ping()

    # An operator restarts it while the disk is still full: it opens, serves
    # reads and still refuses what it cannot store.
    restarted = await wrapper.ask("restart")
    assert restarted["stopped"] == 0, restarted
    port = restarted["port"]
    senders = [await connect(nursery, port, tokens[h], h, "bob") for h in SENDERS]
    alice = senders[0]
    bob = await connect(nursery, port, tokens["bob"], "bob", "alice")
    check_history(await bob.sync_all(), out, set(out.acked))
    out.texts["full-after-restart"] = f"full-after-restart:{FILLER}"
    answer = await alice.send("full-after-restart", out.texts["full-after-restart"])
    out.record("full-after-restart", answer, alice.handle)

    # Space returns: new sends are acked, and so are the refused ones, retried.
    await wrapper.ask("grow")
    after = [(f"after-{i}", f"after {i}") for i in range(AFTER_SPACE)]
    out.texts.update(after)
    for (cmid, _), answer in zip(after, await alice.send_many(after), strict=True):
        assert isinstance(answer, Ack), f"not acked once space returned: {answer}"
        out.record(cmid, answer, alice.handle)
    by_handle = {s.handle: s for s in senders}
    for cmid, handle in list(out.refused.items()):
        answer = await by_handle[handle].send(cmid, out.texts[cmid])
        assert isinstance(answer, Ack), f"a retry not acked once space returned: {answer}"
        out.record(cmid, answer, handle)
    assert not out.refused
    fresh = await connect(nursery, port, tokens["bob"], "bob", "alice")
    check_history(await fresh.sync_all(), out, set(out.acked))

    # The same data directory after a restart: opens cleanly, holds the same.
    restarted = await wrapper.ask("restart")
    assert restarted["stopped"] == 0, restarted
    again = await connect(nursery, restarted["port"], tokens["bob"], "bob", "alice")
    check_history(await again.sync_all(), out, set(out.acked))
    assert isinstance(await again.send("bob-after-restart", "still writable"), Ack)
