"""`corpchat restore`: anything but a corpchat backup this server reads is refused
before a file is touched, and every restore keeps the database it replaced."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass

import lmdb
import pytest

from corpchat.protocol import Ack
from corpchat.server.cli import main
from corpchat.store import keys
from corpchat.store.records import pack
from corpchat.store.restore import summarize

from ..conftest import running_server
from .test_groups import people


@dataclass
class Live:
    data: str  # a stopped server's data directory: 5 direct messages
    backup: str  # taken after the first 3
    backup_pos: int  # the position of the 3rd message
    data_pos: int  # the position of the 5th


@pytest.fixture
async def live(nursery, server_config, clock, tmp_path) -> Live:
    backup = os.fspath(tmp_path / "backup")
    async with running_server(nursery, server_config, clock) as srv:
        c = await people(srv, nursery, "ann", "ben")
        positions = []
        for i in range(5):
            if i == 3:
                await srv.admin("backup", path=backup)
            await c["ann"].send(f"m{i}", to="ben")
            positions.append((await c["ann"].expect(Ack)).pos)
    return Live(server_config.data_dir, backup, positions[2], positions[4])


def files(path: str) -> dict[str, bytes] | None:
    """Every file of a directory with a hash of its bytes (None: no directory)."""
    if not os.path.isdir(path):
        return None
    out = {}
    for folder, _, names in os.walk(path):  # the search index is a directory in it (1.6)
        for name in sorted(names):
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = hashlib.sha256(f.read()).digest()
    return out


def restore(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # only what the restore prints, not the fixture server's logs
    code = main(["restore", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(capsys, live: Live, backup: str, why: str) -> None:
    """Refused with exit 1 and a message; neither directory changed at all."""
    data_before, backup_before = files(live.data), files(backup)
    code, out, err = restore(capsys, backup, "--data", live.data)
    assert (code, out) == (1, "")
    assert err.startswith("error: restore refused, nothing changed:") and why in err, err
    assert files(live.data) == data_before
    assert files(backup) == backup_before


async def test_a_missing_backup_path_is_refused(live, capsys, tmp_path):
    missing = os.fspath(tmp_path / "no" / "such" / "dir")
    assert_refused(capsys, live, missing, f"{missing} does not exist")
    assert not os.path.exists(tmp_path / "no")


async def test_a_backup_path_that_is_a_file_is_refused(live, capsys):
    kept = os.path.join(live.backup, "data.mdb")  # the file, not its directory
    assert_refused(capsys, live, kept, "is not a directory")


async def test_an_empty_directory_is_refused(live, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_refused(capsys, live, os.fspath(empty), "holds no data.mdb")


async def test_a_file_that_is_not_lmdb_is_refused(live, capsys, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.mdb").write_bytes(b"not a database" * 1000)
    assert_refused(capsys, live, os.fspath(junk), "is not an LMDB database")


async def test_an_lmdb_that_is_not_corpchat_is_refused(live, capsys, tmp_path):
    other = os.fspath(tmp_path / "other")
    env = lmdb.open(other, max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(b"some", b"one else's data")
    env.close()
    assert_refused(capsys, live, other, "is not a corpchat database")


async def test_a_corpchat_database_without_a_schema_record_is_refused(live, capsys, tmp_path):
    bare = os.fspath(tmp_path / "bare")
    shutil.copytree(live.backup, bare)
    _with_meta(bare, lambda txn, meta: txn.delete(b"schema", db=meta))
    assert_refused(capsys, live, bare, "no schema record")


@pytest.mark.parametrize(("schema", "why"), [(0, "older than"), (99, "newer than")])
async def test_a_schema_this_server_does_not_read_is_refused(live, capsys, tmp_path,
                                                             schema, why):
    old = os.fspath(tmp_path / "old")
    shutil.copytree(live.backup, old)
    _with_meta(old, lambda txn, meta: txn.put(b"schema", pack(schema), db=meta))
    assert_refused(capsys, live, old, why)


def _with_meta(path: str, change) -> None:  # noqa: ANN001
    env = lmdb.open(path, max_dbs=len(keys.DATABASES), lock=False)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        change(txn, meta)
    env.close()


async def test_a_missing_data_directory_is_refused_without_create(live, capsys, tmp_path):
    elsewhere = os.fspath(tmp_path / "elsewhere")
    code, out, err = restore(capsys, live.backup, "--data", elsewhere)
    assert (code, out) == (1, "")
    assert "does not exist (pass --create" in err
    assert not os.path.exists(elsewhere)


async def test_the_default_data_directory_is_not_made_in_the_working_directory(
        live, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "backup")  # no ./data here
    code, _, err = restore(capsys, live.backup)
    assert code == 1 and "./data does not exist" in err
    assert not os.path.exists(tmp_path / "backup" / "data")


async def test_create_restores_into_a_new_data_directory(live, capsys, tmp_path):
    fresh = os.fspath(tmp_path / "fresh")
    code, out, _ = restore(capsys, live.backup, "--data", fresh, "--create")
    assert code == 0
    assert "replaced: nothing (the data directory held no database)" in out
    assert os.stat(fresh).st_mode & 0o777 == 0o700
    restored = summarize(fresh)
    assert (restored.messages, restored.last_pos) == (3, live.backup_pos)


async def test_the_output_says_what_replaced_what(live, capsys):
    backup_bytes = os.path.getsize(os.path.join(live.backup, "data.mdb"))
    data_bytes = os.path.getsize(os.path.join(live.data, "data.mdb"))
    code, out, _ = restore(capsys, live.backup, "--data", live.data)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"restored {live.backup} into {live.data}"
    assert lines[1] == (f"  now:      3 messages, last pos {live.backup_pos}, "
                        f"{backup_bytes} bytes (schema 1)")
    assert lines[2] == (f"  replaced: 5 messages, last pos {live.data_pos}, "
                        f"{data_bytes} bytes (schema 1)")
    assert lines[3].startswith(f"  kept as:  {live.data}/data.mdb.before-restore-")


async def test_two_restores_in_a_row_keep_both_replaced_databases(live, capsys, nursery,
                                                                  server_config, clock):
    kept = []
    for _ in range(2):
        code, out, _ = restore(capsys, live.backup, "--data", live.data)
        assert code == 0
        kept.append(out.splitlines()[3].split()[-1])
    assert kept[0] != kept[1]
    first, second = (summarize_file(path) for path in kept)
    assert (first.messages, first.last_pos) == (5, live.data_pos)  # the original
    assert (second.messages, second.last_pos) == (3, live.backup_pos)  # the first restore's
    async with running_server(nursery, server_config, clock) as srv:  # and it serves
        assert srv.app.store.stats()["messages_stored"] == 3


def summarize_file(path: str):  # noqa: ANN201
    """Summarise a kept database file, by itself in a directory of its own."""
    alone = path + ".dir"
    os.mkdir(alone)
    shutil.copyfile(path, os.path.join(alone, "data.mdb"))
    return summarize(alone)


async def test_a_restore_while_the_server_runs_is_refused(server, tmp_path):
    backup = os.fspath(tmp_path / "running-backup")
    await server.admin("backup", path=backup)
    data = server.app.config.data_dir
    before = set(os.listdir(data))
    with pytest.raises(SystemExit, match="another corpchat server is using"):
        main(["restore", backup, "--data", data])
    assert set(os.listdir(data)) == before
