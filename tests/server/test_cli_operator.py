"""The operator CLI as a new operator types it: flags after the sub-command, errors as
one `error: …` line (never a traceback), pipes closed early, and human output that
prints values, not Python reprs."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from corpchat.server.cli import build_parser, main
from corpchat.server.human import EPOCH_MS_MIN, render

from .test_admin_cli import ADMIN
from .test_customers import shop

CORPCHAT = str(Path(sys.executable).with_name("corpchat"))
REPRS = ("{'", "['", "None", "True", "False")
ISO_WITH_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d \((\d+)\)")


def run(*argv: str, **kw) -> subprocess.CompletedProcess[str]:
    """The installed `corpchat` command, as an operator runs it."""
    return subprocess.run([CORPCHAT, *argv], capture_output=True, text=True, timeout=120, **kw)


def assert_error(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") <= 3, done.stderr  # a usage line or two, then the error
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr


# ----- flags after the sub-command -----

@pytest.mark.parametrize("path", sorted(ADMIN))
def test_every_admin_command_takes_the_shared_flags_after_its_name(path):
    options = ADMIN[path]._option_string_actions
    for flag in ("--data", "--socket", "--json"):
        assert flag in options, (path, flag)
        assert options[flag].default is argparse.SUPPRESS  # keeps a flag given before


@pytest.mark.parametrize("argv, data, as_json", [
    (["admin", "user", "list"], "./data", False),
    (["admin", "--data", "A", "--json", "user", "list"], "A", True),
    (["admin", "user", "list", "--data", "B", "--json"], "B", True),
    (["admin", "--data", "A", "user", "list", "--data", "B"], "B", False),
    (["admin", "--json", "stats", "--watch", "2"], "./data", True),
    (["admin", "tag", "list", "--json", "--corp", "acme"], "./data", True),
])
def test_shared_flags_parse_in_either_place(argv, data, as_json):
    args = build_parser().parse_args(argv)
    assert (args.data, args.json, args.socket) == (data, as_json, None)


async def test_flags_after_the_sub_command_reach_the_server(server, capsys):
    data = server.app.config.data_dir

    async def cli(*argv: str) -> tuple[int, str]:
        code = await trio.to_thread.run_sync(main, ["admin", *argv])
        return code, capsys.readouterr().out

    code, out = await cli("corp", "add", "acme", "--data", data, "--json")
    assert code == 0 and json.loads(out)["name"] == "acme"
    code, out = await cli("user", "add", "--corp", "acme", "ann", "--json", "--data", data)
    assert code == 0 and json.loads(out)["handle"] == "ann"
    code, out = await cli("user", "list", "--data", data, "--json")
    assert code == 0 and [u["handle"] for u in json.loads(out)] == ["ann"]
    code, out = await cli("stats", "--json", "--socket", os.path.join(data, "admin.sock"))
    assert code == 0 and json.loads(out)["users"] == 1
    code, out = await cli("--json", "tag", "list", "--corp", "acme", "--data", data)
    assert code == 0 and json.loads(out) == {}


# ----- errors: one line, no traceback -----

def test_serve_on_a_data_path_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    for data in (tmp_path / "f", tmp_path / "f" / "sub"):
        done = run("serve", "--data", str(data), "--listen", "127.0.0.1:0")
        assert_error(done, 1, f"error: cannot use the data directory {data}",
                     f"{tmp_path / 'f'} is a file, not a directory")


def test_serve_on_a_data_path_too_long_for_its_admin_socket(tmp_path):
    data = tmp_path / ("d" * 120)  # a Unix socket path holds at most 107 bytes
    done = run("serve", "--data", str(data), "--listen", "127.0.0.1:0")
    assert_error(done, 1, f"error: cannot create the admin socket {data / 'admin.sock'}: "
                          "AF_UNIX path too long")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_serve_on_an_unwritable_data_path(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    done = run("serve", "--data", str(tmp_path / "ro" / "data"), "--listen", "127.0.0.1:0")
    assert_error(done, 1, "error: cannot use the data directory", "Permission denied")


def test_no_server_says_so_and_names_the_socket(tmp_path):
    done = run("admin", "--data", str(tmp_path), "stats")
    assert_error(done, 2, "error: cannot reach the admin socket: is the server running? "
                          f"(looked for {tmp_path / 'admin.sock'})")
    stale = str(tmp_path / "stale.sock")  # a crashed server's socket: connection refused
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(stale)
    done = run("admin", "user", "list", "--socket", stale)
    assert_error(done, 2, f"is the server running? (looked for {stale})")
    done = run("admin", "archive", "export", "--corp", "acme", "--data", str(tmp_path))
    assert_error(done, 2, "is the server running?")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may use any socket")
def test_a_socket_of_another_user_says_permission_denied(tmp_path):
    path = str(tmp_path / "admin.sock")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)
        sock.listen()
        os.chmod(path, 0)
        done = run("admin", "stats", "--socket", path)
    assert_error(done, 2, f"permission denied on the admin socket {path}")


def test_archive_export_into_a_missing_directory(tmp_path):
    out = tmp_path / "no" / "x.jsonl"
    done = run("admin", "archive", "export", "--corp", "acme", "--output", str(out))
    assert_error(done, 1, f"error: cannot write {out}: No such file or directory")


@pytest.mark.parametrize("interval", ["-1", "0", "nan", "soon"])
def test_stats_watch_refuses_a_non_positive_interval(interval):
    done = run("admin", "stats", f"--watch={interval}")
    assert_error(done, 2, "argument --watch:")


def test_the_load_tester_names_the_missing_path(tmp_path):
    base = ["loadtest", "direct", "--url", "ws://127.0.0.1:1/",
            "--admin-socket", str(tmp_path / "admin.sock")]
    done = run(*base)
    assert_error(done, 2, f"is the server running? (looked for {tmp_path / 'admin.sock'})")
    done = run(*base, "--compare", str(tmp_path / "old.json"))
    assert_error(done, 2, f"error: cannot read the report {tmp_path / 'old.json'}: "
                          "No such file or directory")
    done = run(*base, "--json", str(tmp_path / "no" / "new.json"))
    assert_error(done, 2, f"error: cannot write the report {tmp_path / 'no' / 'new.json'}: "
                          f"no directory {tmp_path / 'no'}")


# ----- pipes -----

@pytest.mark.parametrize("argv", [["user", "list"], ["--json", "user", "list"], ["stats"],
                                  ["stats", "--watch", "1", "--json"]])
async def test_a_reader_gone_early_ends_the_cli_quietly(server, argv):
    await server.user("ann")
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` that has already left: the first write fails
    try:
        done = await trio.run_process(
            [CORPCHAT, "admin", "--data", server.app.config.data_dir, *argv],
            stdout=write_end, capture_stderr=True, check=False)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")


async def test_stats_watch_json_prints_one_object_per_line(server):
    argv = [CORPCHAT, "admin", "stats", "--watch", "0.01", "--json",
            "--data", server.app.config.data_dir]
    proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE)
    out = b""
    with trio.fail_after(60):
        while out.count(b"\n") < 3:
            chunk = await proc.stdout.receive_some()
            assert chunk, "the watch ended by itself"
            out += chunk
        proc.send_signal(signal.SIGINT)  # how an operator stops it
        while chunk := await proc.stdout.receive_some():  # read on: a full pipe would
            out += chunk  # hold the snapshot being written, or the exit's flush, forever
        assert await proc.wait() == 0
        err = b"".join([chunk async for chunk in proc.stderr])
    assert err == b"" and b"\x1b" not in out
    for line in out.splitlines()[:3]:
        assert json.loads(line)["pid"] == os.getpid()


# ----- human output -----

async def test_every_command_prints_values_not_reprs(server, nursery, capsys):
    """Each admin command in its human form, against a server with customers, live
    sessions (one without a device name), a transfer, quiet hours and tags."""
    data = server.app.config.data_dir
    await shop(server, nursery)
    printed: dict[str, str] = {}

    async def cli(*argv: str) -> str:
        code = await trio.to_thread.run_sync(main, ["admin", "--data", data, *argv])
        out, err = capsys.readouterr()
        assert code == 0, (argv, err)
        printed[" ".join(argv)] = out
        return out

    for argv in [
        ("corp", "add", "other"), ("corp", "set", "acme", "--push-previews", "no"),
        ("user", "add", "--consumer", "dan"), ("user", "set", "amy", "--title", "Sales"),
        ("dept", "add", "--corp", "acme", "Sales"), ("dept", "move", "1", "--parent", "0"),
        ("tag", "group-add", "--corp", "acme", "tier"),
        ("tag", "add", "--corp", "acme", "--group", "1", "VIP"),
        ("tag", "group-add", "--corp", "acme", "empty"),
        ("corp", "quiet-hours", "acme", "--timezone", "Asia/Shanghai",
         "--windows", "mon-fri 20:00-08:00"),
        ("corp", "quiet-hours", "acme", "--clear"),
        ("transfer", "--from", "amy", "--to", "bea", "--customers", "c1"),
        ("token", "issue", "dan"), ("log-level", "INFO"),
        ("kick", "c3"), ("user", "disable", "dan"), ("backup", data + "-backup"),
    ]:
        await cli(*argv)
    for argv in [("user", "list"), ("sessions",), ("sessions", "c2"), ("stats",),
                 ("tag", "list", "--corp", "acme"), ("transfer", "status")]:
        await cli(*argv)
    await cli("user", "remove", "bea")
    await cli("drain", "--timeout", "1")
    for argv, out in printed.items():
        assert out.strip(), argv
        assert not any(r in out for r in REPRS), (argv, out)
    assert printed["tag list --corp acme"].split() == ["tier", "VIP", "empty", "-"]
    assert "users_online_by_realm.consumer" in printed["stats"]
    for argv in ("sessions", "transfer status"):
        stamps = ISO_WITH_MS.findall(printed[argv])
        assert stamps and all(int(ms) >= EPOCH_MS_MIN for ms in stamps), printed[argv]
    header, *rows = printed["sessions c2"].splitlines()
    assert header.split()[:3] == ["user", "session", "device"] and rows[0].split()[2] == "-"


def test_render_shapes():
    assert render({"corp": None, "ok": True, "by": {}, "tags": []}).split() == [
        "corp", "-", "ok", "yes", "by", "-", "tags", "-"]
    assert render({"quiet_hours": {"timezone": "UTC", "windows": [
        {"day": 6, "start": "20:00", "end": "08:00"}]}}).splitlines() == [
        "quiet_hours.timezone  UTC", "quiet_hours.windows   sun 20:00-08:00"]
    assert render([{"a": 1, "b": "x"}, {"a": 22, "b": None}]).splitlines() == [
        "a   b", "1   x", "22  -"]
    assert render([]) == "" and render(["a", "b"]) == "a\nb"
    # a duration in ms stays a number; only a time is a time
    assert render({"commit_p99_ms": 2.5, "due_ms": 7}).split() == [
        "commit_p99_ms", "2.5", "due_ms", "7"]


@given(st.integers(min_value=EPOCH_MS_MIN, max_value=4_102_444_800_000))  # to 2100
def test_times_print_as_local_iso_to_the_exact_millisecond(ms):
    text = render({"started_ms": ms}).split(None, 1)[1]
    shown = ISO_WITH_MS.fullmatch(text)
    assert shown is not None and int(shown.group(1)) == ms
    assert round(datetime.fromisoformat(text.split(" ")[0]).timestamp() * 1000) == ms
