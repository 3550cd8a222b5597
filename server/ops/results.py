"""What a committed writer operation returns, one small frozen class per family.

A refused operation returns `Refusal` (protocol/errors.py) instead, and a
failed commit is answered as one too (`failure`): the hub's contexts see a
result or a refusal, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from corpchat.protocol import ErrorCode, Frame, Refusal
from corpchat.store import Membership, Message, StorageError


@dataclass(frozen=True, slots=True)
class Sent:
    """A stored message (or, for a repeated client_msg_id, the one stored before)."""

    message: Message
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class GroupChange:
    """A committed change: its system message and the memberships it changed."""

    message: Message
    changes: dict[int, Membership] = field(default_factory=dict)
    removed: tuple[int, ...] = ()  # uids that lost the group (removed or dissolved)


@dataclass(frozen=True, slots=True)
class ReadChange:
    conv: int
    seq: int  # the cursor after this request
    moved: bool
    receipts: tuple[tuple[int, int], ...] = ()  # (seq, sender uid) newly read
    time_ms: int = 0


@dataclass(frozen=True, slots=True)
class ReminderSent:
    conv: int
    seq: int
    targets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Notices:
    """A committed change: frames for users' sessions, and an optional reply."""

    events: tuple[tuple[int, Frame], ...] = ()
    reply: Frame | None = None
    then: Callable[[], None] | None = None  # runs on the event loop after the commit
    messages: tuple[Message, ...] = ()  # stored messages to fan out, in commit order
    forget: tuple[int, ...] = ()  # conversations whose membership changed
    sent: int = 0  # counts, for mass messages and transfers
    skipped: int = 0
    # The hub keeps the messages' conversations for fan-out. A mass message reaches
    # thousands of direct conversations once: keeping them all grew the heap that
    # every full garbage collection walks.
    keep_convs: bool = True


NOTHING = Notices()  # a committed change with nothing to tell anyone


def failure(error: BaseException) -> Refusal:
    """How a write that could not be committed is answered (the writer logged it)."""
    if isinstance(error, StorageError):
        return Refusal(ErrorCode.STORAGE_UNAVAILABLE, "the write could not be stored")
    return Refusal(ErrorCode.INTERNAL_ERROR, "internal error")


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A login or redeem: the new device token (shown once) and tokens ended to keep
    the user under the per-user cap."""

    uid: int
    token_id: str
    token: str
    revoked: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Revoked:
    """A device signed out, or a password changed: the tokens that ended."""

    uid: int
    token_ids: tuple[str, ...]
