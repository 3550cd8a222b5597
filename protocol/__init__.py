"""corpchat wire protocol, version 1: sans-IO codec, frames and client logic.

Imports no trio and no lmdb; docs/protocol.md is the normative text.
"""

from .client import ClientSession, SyncComplete, should_reconnect
from .codec import SERVER_FRAME_LIMITS, decode_client_frame, decode_map, decode_server_frame, encode
from .errors import CloseCode, ErrorCode, ProtocolError
from .frames import (
    CLIENT_FRAMES,
    SERVER_FRAMES,
    Ack,
    Announce,
    Error,
    Frame,
    GroupAdd,
    GroupCreate,
    GroupDissolve,
    GroupInfo,
    GroupInfoReply,
    GroupLeave,
    GroupList,
    GroupListReply,
    GroupRemove,
    GroupRename,
    GroupSetRole,
    GroupSummary,
    GroupTransfer,
    Hello,
    History,
    HistoryPage,
    Member,
    Msg,
    Ok,
    Ping,
    Pong,
    Read,
    Reader,
    ReadEvent,
    Recall,
    ReceiptEvent,
    Receipts,
    ReceiptsReply,
    Remind,
    Reminder,
    Removed,
    Send,
    Sync,
    SyncPage,
    Typing,
    TypingEvent,
    Unread,
    Welcome,
)
from .limits import DEFAULT_LIMITS, PROTOCOL_VERSION, SUBPROTOCOL, Limits

__all__ = [
    "Ack", "Announce", "CLIENT_FRAMES", "ClientSession", "CloseCode", "DEFAULT_LIMITS", "Error",
    "ErrorCode", "Frame", "GroupAdd", "GroupCreate", "GroupDissolve", "GroupInfo",
    "GroupInfoReply", "GroupLeave", "GroupList", "GroupListReply", "GroupRemove", "GroupRename",
    "GroupSetRole", "GroupSummary", "GroupTransfer", "Hello", "History", "HistoryPage", "Limits",
    "Member", "Msg", "Ok", "PROTOCOL_VERSION", "Ping", "Pong", "ProtocolError", "Read",
    "ReadEvent", "Reader", "Recall", "ReceiptEvent", "Receipts", "ReceiptsReply", "Remind",
    "Reminder", "Removed", "SERVER_FRAMES", "SERVER_FRAME_LIMITS", "SUBPROTOCOL", "Send", "Sync",
    "SyncComplete", "SyncPage", "Typing", "TypingEvent", "Unread", "Welcome",
    "decode_client_frame", "decode_map", "decode_server_frame", "encode", "should_reconnect",
]
