"""Media (revision 1.4): the maps that name attachments, and `media.url`.

The bytes never travel over the WebSocket: a client uploads a file with
`POST /media` on the same port and names the answered media id in the
`attachments` of a `send` (or `announce`, `broadcast.customers`, or the
`media` of `moment.post` / `moment.draft`); messages carry `media` maps
describing each file, and the file is fetched with `GET /media/<id>`
(docs/protocol.md §30).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame

__all__ = [
    "Attachment",
    "MediaInfo",
    "MediaUrl",
    "MediaUrlReply",
]

MAX_ATTACHMENTS = 9  # the default of the server's setting; welcome.limits says the server's


@nested_frame
@dataclass(frozen=True, slots=True)
class Attachment(Frame):
    """An attachment named by a client: an uploaded media id, and optionally the
    file name the message shows (default: the name given at upload)."""

    TYPE: ClassVar[str] = "attachment"
    media: str
    name: str | None = None


@nested_frame
@dataclass(frozen=True, slots=True)
class MediaInfo(Frame):
    """A file as a message or a moment carries it."""

    TYPE: ClassVar[str] = "media"
    media: str
    name: str
    size: int
    mime: str  # sniffed by the server from the bytes
    sha256: str  # lowercase hex
    kind: str  # image, voice, video or file
    width: int | None = None  # images, after EXIF orientation
    height: int | None = None
    duration_ms: int | None = None  # audio and video, when the header says
    animated: bool | None = None  # images with more than one frame


@client_frame
@dataclass(frozen=True, slots=True)
class MediaUrl(Frame):
    """A URL for a file (or one of its thumbnails) that needs no header."""

    TYPE: ClassVar[str] = "media.url"
    id: int
    media: str
    thumb: int | None = None  # 64, 320 or 800


@server_frame
@dataclass(frozen=True, slots=True)
class MediaUrlReply(Frame):
    TYPE: ClassVar[str] = "media.url"
    re: int
    media: str
    url: str  # a path and query on this server: /media/<id>?...&exp=...&sig=...
    expires: int  # ms since the epoch
