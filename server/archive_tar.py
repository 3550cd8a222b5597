"""`corpchat admin archive export --with-media`: the archive and its files as one tar.

The server streams the archive's rows over the admin socket as ever; each row
of a message with files names them (`attachments`: media id, name, size,
mime, sha256, kind). This client side writes a tar stream (POSIX pax, so
names and sizes have no limits): `media/<sha256>` for each distinct file, read
from the data directory's `media/` (the admin socket only answers the
server's own user, who can read it), as soon as a row names it, then
`archive.jsonl` with every row, last (a tar member's size comes first, so the
rows are spooled to a temporary file meanwhile, in memory up to 8 MiB).
Archived files are never removed (a recall keeps them for the archive), so a
file a row names is there to read.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
import time
from collections.abc import Iterable
from typing import IO, Any

from corpchat.store.blobs import blob_path
from corpchat.store.records import ArchiveEntry

SPOOL_BYTES = 8 * 1024 * 1024


def archive_row(entry: ArchiveEntry) -> dict[str, Any]:
    """One archive entry as `archive export` gives it (a JSON line, or a row of the tar's
    archive.jsonl); a message's files are listed even once it is recalled."""
    row: dict[str, Any] = {"time": entry.time_ms, "conv": entry.conv, "seq": entry.seq,
                           "sender": entry.sender, "realm": entry.realm, "text": entry.text,
                           "kind": entry.kind}
    if entry.attachments:
        row["attachments"] = [{"media": a.media_id, "name": a.name, "size": a.size,
                               "mime": a.mime, "sha256": a.sha256, "kind": a.kind}
                              for a in entry.attachments]
    return row


def write_tar(rows: Iterable[dict[str, Any]], data_dir: str, out: IO[bytes]) -> int:
    """Write the tar stream to `out`; the number of files it holds."""
    media_root = os.path.join(data_dir, "media")
    written: set[str] = set()
    now = time.time()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar, \
            tempfile.SpooledTemporaryFile(SPOOL_BYTES) as lines:
        for row in rows:
            lines.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
            for file in row.get("attachments", ()):
                sha256 = file["sha256"]
                if sha256 not in written:
                    _add_file(tar, blob_path(media_root, sha256), f"media/{sha256}", now)
                    written.add(sha256)
        info = tarfile.TarInfo("archive.jsonl")
        info.size, info.mtime, info.mode = lines.tell(), now, 0o600
        lines.seek(0)
        tar.addfile(info, lines)
    return len(written)


def _add_file(tar: tarfile.TarFile, path: str, name: str, mtime: float) -> None:
    with open(path, "rb") as f:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = os.fstat(f.fileno()).st_size, mtime, 0o600
        tar.addfile(info, f)
