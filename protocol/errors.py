"""The one error family of the wire protocol, with its stable codes.

`ErrorCode` values are sent in `error` frames and never change meaning.
`CloseCode` values are WebSocket close codes. A `ProtocolError` raised while
reading peer input carries the code to answer with and, when the input was
unreadable, the close code that ends the connection.

A request that was understood but is not allowed is a `Refusal`: the code
and reason sent back, as a value. A write operation returns one (nothing is
written); a check that runs before the write raises `refusal.error()`, the
`ProtocolError` of the same code and reason. Both reach the client as the
same `error` frame, and the admin socket answers its own refusals with the
same two fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"  # not msgpack, not a map, or limits exceeded
    FRAME_TOO_LARGE = "frame_too_large"
    BAD_REQUEST = "bad_request"  # a field missing, of the wrong type or out of range
    UNKNOWN_TYPE = "unknown_type"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTH_FAILED = "auth_failed"
    ALREADY_AUTHENTICATED = "already_authenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NO_SUCH_USER = "no_such_user"
    NO_SUCH_CONVERSATION = "no_such_conversation"
    NO_SUCH_MEDIA = "no_such_media"  # 1.4: not uploaded by you and not visible to you
    NOT_MEMBER = "not_member"
    NOT_CONTACT = "not_contact"
    GROUP_FULL = "group_full"
    RECALL_EXPIRED = "recall_expired"
    EDIT_EXPIRED = "edit_expired"  # 1.5
    LIMIT_REACHED = "limit_reached"  # 1.5: reactions per message, pins per conversation
    REMIND_TOO_SOON = "remind_too_soon"
    CONTACT_LIMIT = "contact_limit"
    QUOTA_EXCEEDED = "quota_exceeded"
    EXISTS = "exists"
    TEXT_TOO_LONG = "text_too_long"
    BAD_SYNC_TOKEN = "bad_sync_token"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    INTERNAL_ERROR = "internal_error"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # server draining or shutting down: reconnect later
    PROTOCOL_ERROR = 1002  # an unreadable frame
    UNSUPPORTED_DATA = 1003  # a text message
    POLICY_VIOLATION = 1008  # abuse: floods, too many connections
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    RESYNC_REQUIRED = 4000  # the client fell behind: reconnect and sync
    AUTH_FAILED = 4001  # bad, revoked or disabled credentials
    TIMEOUT = 4002  # handshake or idle timeout
    KICKED = 4003  # closed by an operator


class ProtocolError(Exception):
    """Input or use that breaks the protocol.

    `remote` is True when the peer sent it (answer with `code`, and close
    with `close` if set); False when our own code misused the API.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        close: CloseCode | None = None,
        remote: bool = True,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close
        self.remote = remote
        self.request_id: int | None = None  # the request's `id`, once known

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r}, close={self.close})"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request checked and refused: what to answer, and when to try again."""

    code: ErrorCode
    reason: str
    retry_after_ms: int | None = None

    def error(self) -> ProtocolError:
        """The same refusal raised by a check that runs before any write."""
        return ProtocolError(self.code, self.reason)
