"""The media file store and its LMDB records: durable, deduplicated, swept."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpchat.store import media
from corpchat.store.blobs import BlobStore, BlobTooLarge
from corpchat.store.store import Store


def test_upload_is_hashed_renamed_and_deduplicated(tmp_path):
    blobs = BlobStore(str(tmp_path / "media"))
    data = os.urandom(200_000)
    first = blobs.begin(1 << 20)
    for at in range(0, len(data), 65536):
        first.write(data[at:at + 65536])
    blob = first.finish()
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    with open(blobs.path(blob.sha256), "rb") as f:
        assert f.read() == data
    again = blobs.begin(1 << 20)
    again.write(data)
    assert again.finish() == blob
    assert list(blobs.walk()) == [blob.sha256]
    assert os.listdir(blobs.tmp) == []  # both temporaries renamed or dropped


@settings(max_examples=20, deadline=None)
@given(pieces=st.lists(st.integers(1, 700_000), min_size=1, max_size=8))
def test_a_file_written_back_as_it_arrives_keeps_every_byte(tmp_path_factory, pieces):
    """Past each WRITEBACK_BYTES the upload starts its range's writeback (and drops
    it from the cache): what is read back is still exactly what was written."""
    blobs = BlobStore(str(tmp_path_factory.mktemp("media")))
    data = os.urandom(sum(pieces))
    upload, at = blobs.begin(len(data)), 0
    for size in pieces:
        upload.write(data[at:at + size])
        at += size
    blob = upload.finish()
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    with open(blobs.path(blob.sha256), "rb") as f:
        assert f.read() == data


def test_over_the_limit_refuses_and_abort_removes_the_partial_file(tmp_path):
    blobs = BlobStore(str(tmp_path / "media"))
    upload = blobs.begin(100)
    upload.write(b"x" * 60)
    with pytest.raises(BlobTooLarge):
        upload.write(b"x" * 60)
    upload.abort()
    assert os.listdir(blobs.tmp) == []


def test_a_held_file_is_not_removed(tmp_path):
    blobs = BlobStore(str(tmp_path / "media"))
    upload = blobs.begin(10)
    upload.write(b"abc")
    blob = upload.finish()  # held until the record commits
    assert not blobs.remove(blob.sha256) and blobs.exists(blob.sha256)
    blobs.release(blob.sha256)
    assert blobs.remove(blob.sha256) and not blobs.exists(blob.sha256)


def test_temporaries_of_a_crash_are_cleared_on_open(tmp_path):
    blobs = BlobStore(str(tmp_path / "media"))
    blobs.begin(10).write(b"half")
    assert len(os.listdir(blobs.tmp)) == 1
    BlobStore(str(tmp_path / "media"))
    assert os.listdir(blobs.tmp) == []


def _record(uploader: int = 1, sha: str = "ab" * 32, size: int = 10) -> media.MediaRecord:
    return media.MediaRecord(media.new_media_id(), sha, size, "image/png", uploader, 1000,
                             "a.png", 2, 3, 0, 7)


def _write(store: Store, fn, *args, **kwargs):
    w = store.begin_write()
    result = w.do(fn, *args, **kwargs)
    w.commit()
    return result


def test_pending_claimed_and_swept(tmp_path):
    store = Store(str(tmp_path / "db"))
    kept, lost = _record(), _record()
    _write(store, media.add_pending, kept, expires_ms=5000, day=0)
    _write(store, media.add_pending, lost, expires_ms=5000, day=0)
    assert store.read(media.stats) == (1, 10)  # one file, two records
    assert store.read(media.uploaded_today, uid=1, day=0) == 20
    assert _write(store, media.claim, media_id=kept.media_id) == kept
    _write(store, media.add_message_ref, media_id=kept.media_id, conv=3, seq=4)
    assert _write(store, media.sweep, now_ms=4999, limit=100) == []
    assert _write(store, media.sweep, now_ms=5000, limit=100) == []  # kept still needs it
    assert store.read(media.get_media, media_id=lost.media_id) is None
    assert store.read(media.get_media, media_id=kept.media_id) == (kept, True)
    assert list(store.read(media.refs, media_id=kept.media_id)) == [media.MediaRef(3, 4)]
    assert store.read(media.corp_bytes, corp_id=7) == 10


def test_the_last_record_of_a_file_answers_its_hash(tmp_path):
    store = Store(str(tmp_path / "db"))
    record = _record(sha="cd" * 32)
    _write(store, media.add_pending, record, expires_ms=10, day=0)
    assert _write(store, media.sweep, now_ms=10, limit=100) == ["cd" * 32]
    assert store.read(media.stats) == (0, 0)
    assert store.read(media.corp_bytes, corp_id=7) == 0


def test_moment_refs(tmp_path):
    store = Store(str(tmp_path / "db"))
    record = _record()
    _write(store, media.add_pending, record, expires_ms=10, day=0)
    _write(store, media.claim, media_id=record.media_id)
    _write(store, media.add_moment_ref, media_id=record.media_id, employee=5, moment=9)
    assert list(store.read(media.refs, media_id=record.media_id)) == [
        media.MediaRef(0, 0, 5, 9)]


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_any_string_is_a_media_id_or_not_never_an_error(tmp_path_factory, text):
    assert media.valid_media_id(text) == (len(text) == 22 and all(
        c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_" for c in text))


def test_a_full_disk_refuses_the_upload_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk (writes past it fail with EFBIG, as a
    full file system's do with ENOSPC): the write is refused with BlobStorageFull and
    the partial file is gone."""
    import resource
    import signal

    from corpchat.store.blobs import BlobStorageFull

    blobs = BlobStore(str(tmp_path / "media"))
    upload = blobs.begin(10 << 20)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        with pytest.raises(BlobStorageFull):
            for _ in range(10):
                upload.write(b"x" * 16384)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert os.listdir(blobs.tmp) == [] and list(blobs.walk()) == []
