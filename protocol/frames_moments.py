"""Moments: posts to an employee's customers, drafted by a corp admin or
posted by the employee."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .frames import Frame, client_frame, nested_frame, server_frame
from .frames_media import Attachment, MediaInfo
from .frames_people import Profile

__all__ = [
    "MomentConfirm",
    "MomentDraft",
    "MomentEvent",
    "MomentInfo",
    "MomentPost",
    "MomentsFeed",
    "MomentsPage",
]


# ----- requests: client to server -------------------------------------------


@client_frame
@dataclass(frozen=True, slots=True)
class MomentPost(Frame):
    TYPE: ClassVar[str] = "moment.post"
    id: int
    text: str
    attachments: tuple[str, ...] | None = None
    media: tuple[Attachment, ...] | None = None  # 1.4: uploaded files (up to 9 in all)


@client_frame
@dataclass(frozen=True, slots=True)
class MomentDraft(Frame):
    """A corp admin writes a moment for employees to confirm and publish."""

    TYPE: ClassVar[str] = "moment.draft"
    id: int
    text: str
    employees: tuple[str, ...]
    attachments: tuple[str, ...] | None = None
    media: tuple[Attachment, ...] | None = None  # 1.4


@client_frame
@dataclass(frozen=True, slots=True)
class MomentConfirm(Frame):
    TYPE: ClassVar[str] = "moment.confirm"
    id: int
    draft: int


@client_frame
@dataclass(frozen=True, slots=True)
class MomentsFeed(Frame):
    """A customer's feed (their employees' moments), or, for a corp admin with
    `employee`, what that employee posted. Newest first."""

    TYPE: ClassVar[str] = "moments.feed"
    id: int
    employee: str | None = None
    before: int | None = None
    limit: int | None = None


# ----- replies and events: server to client ---------------------------------




@nested_frame
@dataclass(frozen=True, slots=True)
class MomentInfo(Frame):
    TYPE: ClassVar[str] = "moment"
    moment: int
    author: Profile
    time: int
    text: str
    attachments: tuple[str, ...] | None = None
    media: tuple[MediaInfo, ...] | None = None  # 1.4


@server_frame
@dataclass(frozen=True, slots=True)
class MomentsPage(Frame):
    TYPE: ClassVar[str] = "moments"
    re: int
    moments: tuple[MomentInfo, ...]
    more: bool


@server_frame
@dataclass(frozen=True, slots=True)
class MomentEvent(Frame):
    """A new moment in your feed, or (`draft` set) one to confirm."""

    TYPE: ClassVar[str] = "moment"
    moment: MomentInfo
    draft: int | None = None

