"""What an uploaded file is, told from its first bytes, never from the client.

The client's `Content-Type` is not trusted: a file claiming `image/png` may
be HTML (served inline, it would run in our origin). So the type is sniffed
from a small table of magic numbers, the formats a chat client treats
specially — images it shows, voice and video it plays, a few common
documents; anything else is `application/octet-stream`, a file to download.
A table rather than libmagic: libmagic is a C library whose database (and so
its answers) differs between distributions, it names hundreds of types we do
nothing different for, and some of its answers (`text/html`) are exactly the
ones we must never serve as such. Pillow confirms images afterwards
(server/images.py): a file with an image's magic that Pillow cannot read is
downgraded to `application/octet-stream`.

`duration_ms` reads what a header states when it is cheap to find (WAV's
data size and byte rate, an MP4/MOV's `mvhd` box); otherwise it is unknown.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

SNIFF_BYTES = 64  # the longest prefix any entry below looks at
OCTET_STREAM = "application/octet-stream"
IMAGE, FILE, VOICE, VIDEO = "image", "file", "voice", "video"

# (offset, magic, mime), first match wins.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"#!AMR", "audio/amr"),  # the voice-message format of many phones
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"PK\x03\x04", "application/zip"),
)
_MP3_SYNC = (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP_BRANDS = {b"M4A ": "audio/mp4", b"M4B ": "audio/mp4", b"qt  ": "video/quicktime",
                b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif",
                b"3gp4": "video/3gpp", b"3gp5": "video/3gpp"}
# Images Pillow decodes here; only these get dimensions and thumbnails.
DECODABLE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def sniff(head: bytes) -> str:
    """The MIME type of a file whose first bytes are `head` (at least SNIFF_BYTES
    of them when the file is that long)."""
    for offset, magic, mime in _MAGIC:
        if head.startswith(magic, offset):
            return mime
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM by its doctype
        return "video/webm" if b"webm" in head[:SNIFF_BYTES] else "video/x-matroska"
    if head[:2] in _MP3_SYNC:
        return "audio/mpeg"
    return OCTET_STREAM


def kind_of(mime: str) -> str:
    """How a message shows the file: image, voice, video or file."""
    if mime in DECODABLE_IMAGES:
        return IMAGE
    if mime.startswith("audio/"):
        return VOICE
    if mime.startswith("video/"):
        return VIDEO
    return FILE


def message_kind(mimes: list[str]) -> str:
    """A message's kind from its attachments: one kind shared by all, else file."""
    kinds = {kind_of(m) for m in mimes}
    return kinds.pop() if len(kinds) == 1 else FILE


def duration_ms(f: BinaryIO, mime: str) -> int:
    """The playing time a header states, 0 when unknown. Blocking (a thread)."""
    try:
        if mime == "audio/wav":
            return _wav_duration(f)
        if mime in ("video/mp4", "video/quicktime", "audio/mp4", "video/3gpp"):
            return _mp4_duration(f)
    except (OSError, struct.error, ValueError, ZeroDivisionError):
        pass
    return 0


def _wav_duration(f: BinaryIO) -> int:
    f.seek(12)
    byte_rate = 0
    for _ in range(64):  # chunks before "data": fmt, LIST, ...
        header = f.read(8)
        if len(header) < 8:
            return 0
        chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk == b"fmt ":
            byte_rate = struct.unpack("<8xI", f.read(12))[0]
            f.seek(size - 12, os.SEEK_CUR)
        elif chunk == b"data":
            return size * 1000 // byte_rate if byte_rate else 0
        else:
            f.seek(size + (size & 1), os.SEEK_CUR)
    return 0


def _boxes(f: BinaryIO, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes between two offsets: type -> (payload start, payload end)."""
    out: dict[bytes, tuple[int, int]] = {}
    at = start
    while at + 8 <= end and len(out) < 256:
        f.seek(at)
        size, box = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = end - at
        if size < header:
            break
        out.setdefault(box, (at + header, at + size))
        at += size
    return out


def _mp4_duration(f: BinaryIO) -> int:
    end = f.seek(0, os.SEEK_END)
    moov = _boxes(f, 0, end).get(b"moov")
    if moov is None:
        return 0
    mvhd = _boxes(f, *moov).get(b"mvhd")
    if mvhd is None:
        return 0
    f.seek(mvhd[0])
    version = f.read(1)[0]
    if version == 1:
        timescale, duration = struct.unpack(">3x16xIQ", f.read(31))
    else:
        timescale, duration = struct.unpack(">3x8xII", f.read(19))
    return duration * 1000 // timescale if timescale else 0
