"""Media files on disk, addressed by the SHA-256 of their bytes.

Layout: `<data>/media/<hh>/<sha256 hex>` (the first two hex digits fan the
files out over 256 directories), and `<data>/media/tmp/` for uploads in
progress — on the same file system, so finishing an upload is a rename.

An upload is written by the server only, never whole in memory:

1. `begin()` opens a new temporary file (mode 0600, O_EXCL);
2. `BlobUpload.write(chunk)` hashes and writes each chunk as it arrives,
   refusing with `BlobTooLarge` the chunk that passes the size limit (the
   caller then `abort()`s, which removes the partial file);
3. `finish()` fsyncs the file, renames it to its hash (if a file of that
   hash exists already, the new copy is dropped: deduplication), and fsyncs
   the directory, so a crash after `finish()` returns never loses the file
   or leaves a half-written one under a hash name.

A disk that fills up raises `BlobStorageFull` (ENOSPC, EDQUOT), and the
partial file is removed. Every call blocks on disk I/O: run it in a thread
(the upload route writes through `trio.to_thread`).

Which hashes are still wanted is LMDB's business (store/media.py keeps a
reference count per hash); `remove()` is only called for a hash whose count
went to zero. `hold()` / `release()` guard the window between `finish()`
and the commit of the record that references the file: a sweep never
removes a hash that is held.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import StorageError

WRITEBACK_BYTES = 1024 * 1024  # an upload's bytes are sent to disk this many at a time

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # EFBIG: RLIMIT_FSIZE
TMP_DIR = "tmp"
THUMBS_DIR = "thumbs"  # server/images.py writes them: <hh>/<sha256>-<size>.<ext>


class BlobTooLarge(Exception):
    """The upload passed its size limit."""


class BlobStorageFull(StorageError):
    """The disk (or the user's file-system quota) is full."""


@dataclass(frozen=True, slots=True)
class Blob:
    sha256: str  # lowercase hex
    size: int


def _storage_error(exc: OSError) -> StorageError:
    if exc.errno in _FULL_ERRNOS:
        return BlobStorageFull(f"no space left for media: {exc.strerror}")
    return StorageError(f"media file error: {exc}")


def blob_path(root: str, sha256: str) -> str:
    """Where the file of a hash lives under a media directory."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return os.path.join(root, sha256[:2], sha256)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing a range of an upload to disk now, without waiting for it.

    Without this, a hundred uploads leave a gigabyte of dirty pages that the
    final fsyncs flush at once — and ext4's journal makes the writer's commit
    (LMDB's fdatasync) wait behind them: every ack slows (measured: commit p99
    84 → 514 ms). Written back as they arrive, the finish fsync has little
    left to do. Linux's POSIX_FADV_DONTNEED starts the writeback of the dirty
    pages of the range (and drops them from the page cache once clean: an
    upload is not read back soon). Elsewhere: nothing."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:  # advice only
            pass


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """The `media/` directory of a data directory."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.tmp = os.path.join(root, TMP_DIR)
        os.makedirs(self.tmp, mode=0o700, exist_ok=True)
        os.chmod(root, 0o700)
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        self.clear_temporaries()

    def clear_temporaries(self) -> int:
        """Remove uploads a crash interrupted (nothing references them); their count."""
        removed = 0
        for name in os.listdir(self.tmp):
            try:
                os.unlink(os.path.join(self.tmp, name))
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def path(self, sha256: str) -> str:
        return blob_path(self.root, sha256)

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path(sha256))

    def begin(self, max_bytes: int) -> BlobUpload:
        """A new upload of at most `max_bytes` bytes."""
        return BlobUpload(self, max_bytes)

    def hold(self, sha256: str) -> None:
        with self._lock:
            self._held[sha256] += 1

    def release(self, sha256: str) -> None:
        with self._lock:
            self._held[sha256] -= 1
            if self._held[sha256] <= 0:
                del self._held[sha256]

    def remove(self, sha256: str) -> bool:
        """Delete an unreferenced file (not while an upload holds it); True if removed."""
        with self._lock:
            if self._held.get(sha256):
                return False
            try:
                os.unlink(self.path(sha256))
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise _storage_error(exc) from exc
            return True

    def install(self, tmp_path: str, sha256: str) -> None:
        """Rename a finished temporary file to its hash (or drop it if one exists)."""
        final = self.path(sha256)
        directory = os.path.dirname(final)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with self._lock:  # against remove(): the rename and the hold are one step
            if os.path.exists(final):
                os.unlink(tmp_path)
            else:
                os.rename(tmp_path, final)
            self._held[sha256] += 1
        _fsync_dir(directory)
        _fsync_dir(self.root)  # the fan-out directory itself may be new

    def walk(self) -> Iterator[str]:
        """Every stored hash (for checks and backups)."""
        for fan in sorted(os.listdir(self.root)):
            if len(fan) != 2:
                continue
            yield from sorted(os.listdir(os.path.join(self.root, fan)))


class BlobUpload:
    """One upload in progress: a temporary file and the hash of what it holds."""

    def __init__(self, store: BlobStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.size = 0
        self._written_back = 0  # bytes whose writeback was started
        self._hash = hashlib.sha256()
        self._path = os.path.join(store.tmp, secrets.token_hex(16))
        try:
            self._fd: int | None = os.open(
                self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise _storage_error(exc) from exc

    def write(self, chunk: bytes | memoryview) -> None:
        if self._fd is None:
            raise ValueError("the upload is closed")
        if self.size + len(chunk) > self.max_bytes:
            raise BlobTooLarge(f"over {self.max_bytes} bytes")
        self._hash.update(chunk)
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.abort()
            raise _storage_error(exc) from exc
        self.size += len(chunk)
        if self.size - self._written_back >= WRITEBACK_BYTES:
            _start_writeback(self._fd, self._written_back, self.size - self._written_back)
            self._written_back = self.size

    def finish(self) -> Blob:
        """Make the file durable under its hash; the caller must `release()` it once
        the record that references it is committed (or given up)."""
        if self._fd is None:
            raise ValueError("the upload is closed")
        sha256 = self._hash.hexdigest()
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self.store.install(self._path, sha256)
        except OSError as exc:
            self.abort()
            raise _storage_error(exc) from exc
        return Blob(sha256, self.size)

    def abort(self) -> None:
        """Remove the partial file (safe to call more than once)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass


def _link_or_copy(source: str, target: str) -> None:
    """A hard link (files never change once stored), or an fsynced copy across
    file systems."""
    try:
        os.link(source, target)
        return
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    tmp = target + ".copying"
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.rename(tmp, target)


def copy_files(source_root: str, target_root: str, hashes: list[str]) -> tuple[int, int]:
    """Put the files (and thumbnails) of `hashes` from one media directory into
    another, by hard link or copy, fsynced; (files, bytes). Blocking."""
    files = size = 0
    for sha256 in hashes:
        path = blob_path(source_root, sha256)
        if not os.path.exists(path):
            continue
        out = blob_path(target_root, sha256)
        os.makedirs(os.path.dirname(out), mode=0o700, exist_ok=True)
        _link_or_copy(path, out)
        files += 1
        size += os.path.getsize(path)
        _copy_thumbnails(source_root, target_root, sha256)
    for directory in {os.path.dirname(blob_path(target_root, h)) for h in hashes} | {target_root}:
        if os.path.isdir(directory):
            _fsync_dir(directory)
    return files, size


def _copy_thumbnails(source_root: str, target_root: str, sha256: str) -> None:
    fan = os.path.join(source_root, THUMBS_DIR, sha256[:2])
    if not os.path.isdir(fan):
        return
    for name in os.listdir(fan):
        if name.startswith(sha256 + "-") and not name.endswith(".tmp"):
            out = os.path.join(target_root, THUMBS_DIR, sha256[:2])
            os.makedirs(out, mode=0o700, exist_ok=True)
            _link_or_copy(os.path.join(fan, name), os.path.join(out, name))
