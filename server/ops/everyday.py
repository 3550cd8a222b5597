"""Writer operations of everyday messaging (1.5): mentions and replies on a send,
edits, reactions, forwards, the group notice, pins and mutes.

Each runs on the writer thread inside the batch's transaction, checks
everything against the state there, and returns its result or a `Refused`
before writing anything. The tables are store/everyday.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from corpchat.bridge import archive_corp, group_archive_corp, may_forward
from corpchat.protocol import Attachment, ErrorCode
from corpchat.protocol.frames_everyday import MENTION_ALL
from corpchat.store import GROUP, Membership, Message, Refused, User, WriteTxn
from corpchat.store import everyday as tables
from corpchat.store import media as media_records
from corpchat.store.everyday import MuteState, ReactionState
from corpchat.store.records import (
    ANNOUNCE,
    QUOTE_CHARS,
    SYSTEM,
    TEXT,
    ArchiveEntry,
    Conversation,
    Origin,
    Quote,
    StoredAttachment,
)

from ..config import EverydayCaps
from ..media import check_attachments, commit_attachments
from .groups import MANAGERS
from .results import GroupChange, Sent

SendOp = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Edit:
    """A committed edit: the message as it now is, and the edit's stream position."""

    message: Message
    pos: int


@dataclass(frozen=True, slots=True)
class Reacted:
    """A committed reaction request; `state` None when nothing changed."""

    conv: int
    seq: int
    message_pos: int
    user: str
    emoji: str
    on: bool
    state: ReactionState | None


@dataclass(frozen=True, slots=True)
class Forwards:
    messages: tuple[Message, ...]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Muted:
    uid: int
    state: MuteState


def _member(w: WriteTxn, conv: int, uid: int) -> Membership | Refused:
    mine = w.membership(uid=uid, conv=conv)
    if mine is None or not mine.active:
        return Refused(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    return mine


def _visible_text(w: WriteTxn, conv: int, seq: int, mine: Membership) -> Message | Refused:
    """A user's text message of `conv` the member sees, not recalled."""
    msg = w.message(conv=conv, seq=seq)
    if msg is None or msg.kind != TEXT or msg.recalled or not mine.sees(msg.pos):
        return Refused(ErrorCode.NOT_FOUND, f"no message {seq} here")
    return msg


# ----- mentions and replies on a send ----------------------------------------


def send_with_extras(w: WriteTxn, op: SendOp, sender: User, conv: int, client_msg_id: str,
                     mentions: tuple[str, ...], mentioned_uids: tuple[int, ...],
                     reply_to: int | None, urgent: bool = False,
                     files: tuple[StoredAttachment, ...] = ()) -> Any:
    """Run a send (`op`) and keep its mentions and the quote of the message it
    answers in the stored record, in the same transaction. A repeat answers the
    original, checking nothing again (protocol.md 7.4)."""
    if w.find_sent(uid=sender.uid, client_msg_id=client_msg_id) is not None:
        return op(w, urgent=urgent, found=files)
    mine = _member(w, conv, sender.uid)
    if isinstance(mine, Refused):
        return mine
    for uid in mentioned_uids:
        if isinstance(_member(w, conv, uid), Refused):
            return Refused(ErrorCode.NOT_MEMBER, "a mentioned user is not a member")
    if MENTION_ALL in mentions and not _may_mention_all(w, sender, conv, mine):
        return Refused(ErrorCode.FORBIDDEN, "only group owners and admins mention all")
    quote = None
    if reply_to is not None:
        original = _visible_text(w, conv, reply_to, mine)
        if isinstance(original, Refused):
            return original
        quote = Quote(original.seq, original.sender, original.wire_kind or original.kind,
                      original.text[:QUOTE_CHARS], original.pos)
    result = op(w, urgent=urgent, found=files)
    if isinstance(result, Refused) or result.duplicate:
        return result
    msg = replace(result.message, mentions=mentions, quote=quote)
    w.rewrite_message(msg)
    return Sent(msg, False)


def _may_mention_all(w: WriteTxn, sender: User, conv: int, mine: Membership) -> bool:
    """Group owners and admins, and corp admins (who post announcements), in groups;
    never a consumer."""
    conversation = w.conversation(conv)
    if conversation is None or conversation.kind != GROUP or mine.consumer:
        return False
    return mine.role in MANAGERS or sender.corp_admin


# ----- edits ------------------------------------------------------------------


def edit(w: WriteTxn, editor: User, conv: int, seq: int, text: str,
         wanted: tuple[Any, ...] | None, now_ms: int, caps: EverydayCaps) -> Edit | Refused:
    """A new version of one's message: its text, and with `wanted` (the request's
    `attachments`, 1.8) its files; None keeps the files it has."""
    mine = _member(w, conv, editor.uid)
    if isinstance(mine, Refused):
        return mine
    msg = w.message(conv=conv, seq=seq)
    if msg is None or not mine.sees(msg.pos):
        return Refused(ErrorCode.NOT_FOUND, f"no message {seq} here")
    if not text and not (msg.attachments if wanted is None else wanted):
        return Refused(ErrorCode.BAD_REQUEST, "text is empty (a message without files)")
    if msg.kind != TEXT or msg.recalled or msg.sender != editor.handle:
        return Refused(ErrorCode.FORBIDDEN, "only the sender edits a message, not a recalled "
                                            "or system one")
    if now_ms - msg.time_ms > caps.edit_window_s * 1000:
        return Refused(ErrorCode.EDIT_EXPIRED, "the edit window has passed")
    files = None if wanted is None else check_attachments(w, editor, wanted)
    if isinstance(files, Refused):
        return files
    pos = w.next_pos()
    edited = tables.put_edit(w.txn, w.db, msg, text, files, pos=pos, now_ms=now_ms,
                             editor=editor.handle)
    if files is not None:
        _reference(w, edited, files)
    w.rewrite_message(edited)
    _archive_edit(w, edited, editor, pos, now_ms)
    return Edit(edited, pos)


def _reference(w: WriteTxn, msg: Message, files: tuple[StoredAttachment, ...]) -> None:
    """An edit's new files are the message's (store/media.py's references): whoever
    sees the message may fetch them. A file an edit drops keeps its reference: every
    reader of the message saw (or may sync) the version that carried it; a recall
    hides them all."""
    commit_attachments(w, files)
    for attachment in files:
        w.do(media_records.add_message_ref, media_id=attachment.media_id, conv=msg.conv,
             seq=msg.seq)


def _archive_edit(w: WriteTxn, msg: Message, editor: User, pos: int, now_ms: int) -> None:
    """The corp archive keeps every version: an entry of kind "edit" per edit, in the
    conversations it archives (bridge/archive.py)."""
    conversation = w.conversation(msg.conv)
    if conversation is None:
        return
    corp = _archive_corp(w, conversation)
    if corp:
        w.archive(ArchiveEntry(corp, now_ms, pos, msg.conv, msg.seq, editor.handle,
                               editor.realm, msg.text, "edit", msg.attachments))


def _archive_corp(w: WriteTxn, conversation: Conversation) -> int | None:
    if conversation.kind == GROUP:
        return group_archive_corp(conversation)
    members = [u for uid, _ in w.memberships(conversation.conv) if (u := w.user(uid))]
    return archive_corp(*members) if len(members) == 2 else None


# ----- reactions ----------------------------------------------------------------


def react(w: WriteTxn, user: User, conv: int, seq: int, emoji: str, on: bool, now_ms: int,
          caps: EverydayCaps) -> Reacted | Refused:
    mine = _member(w, conv, user.uid)
    if isinstance(mine, Refused):
        return mine
    msg = _visible_text(w, conv, seq, mine)
    if isinstance(msg, Refused):
        return msg
    # taken only if something changes; the head is set once a write transaction began
    pos = (w.store.head or 0) + 1
    state = tables.set_reaction(w.txn, w.db, conv=conv, seq=seq, uid=user.uid, emoji=emoji,
                                on=on, pos=pos, now_ms=now_ms,
                                max_distinct=caps.max_reactions_per_message)
    if state == "limit":
        return Refused(ErrorCode.LIMIT_REACHED,
                       f"{caps.max_reactions_per_message} distinct reactions on this message")
    if state is not None:
        w.next_pos()
    return Reacted(conv, seq, msg.pos, user.handle, emoji, on,
                   state if isinstance(state, ReactionState) else None)


# ----- forwards ----------------------------------------------------------------


def forward(w: WriteTxn, forwarder: User, client_msg_id: str, from_conv: int,
            seqs: tuple[int, ...], to_conv: int, now_ms: int,
            send: Callable[..., Any]) -> Forwards | Refused:
    """Copy messages the forwarder sees into `to_conv` through `send` (the target's
    own send operation, given (w, client_msg_id, text, files)), each with its origin
    and its files (the same media: no bytes are copied)."""
    first = w.find_sent(uid=forwarder.uid, client_msg_id=client_msg_id)
    if first is not None:
        return _repeat(w, forwarder, client_msg_id, len(seqs))
    source = w.membership(uid=forwarder.uid, conv=from_conv)
    if source is None:
        return Refused(ErrorCode.NOT_MEMBER, f"not a member of conversation {from_conv}")
    originals = []
    for seq in seqs:
        msg = _visible_text(w, from_conv, seq, source)
        if isinstance(msg, Refused):
            return msg
        files = _forwardable_files(w, forwarder, msg)
        if isinstance(files, Refused):
            return files
        originals.append((msg, files))
    refusal = _may_cross(w, forwarder, from_conv, to_conv)
    if refusal is not None:
        return refusal
    out = []
    for i, (original, files) in enumerate(originals):
        result = send(w, copy_id(client_msg_id, i), original.text, files)
        if isinstance(result, Refused):
            return result  # the first copy is refused before anything is written
        copy = replace(result.message, forwarded=Origin(original.sender, original.time_ms,
                                                   original.conv, original.seq))
        w.rewrite_message(copy)
        out.append(copy)
    return Forwards(tuple(out), False)


def _forwardable_files(w: WriteTxn, forwarder: User,
                       original: Message) -> tuple[StoredAttachment, ...] | Refused:
    """The files of a message being forwarded, each checked by bridge/media.py's rule
    for the forwarder (who sees the message, so may fetch what it carries); the copy
    references the same media, and the target's members then see it as theirs."""
    if not original.attachments:
        return ()
    wanted = tuple(Attachment(media=a.media_id, name=a.name or None)
                   for a in original.attachments)
    return check_attachments(w, forwarder, wanted)


def copy_id(client_msg_id: str, index: int) -> str:
    """The client_msg_id of a forward's `index`th copy (0: the request's own)."""
    return client_msg_id if index == 0 else f"{client_msg_id}#{index + 1}"


def _repeat(w: WriteTxn, forwarder: User, client_msg_id: str, count: int) -> Forwards:
    found = [w.find_sent(uid=forwarder.uid, client_msg_id=copy_id(client_msg_id, i))
             for i in range(count)]
    return Forwards(tuple(m for m in found if m is not None), True)


def _may_cross(w: WriteTxn, forwarder: User, from_conv: int, to_conv: int) -> Refused | None:
    source, target = w.conversation(from_conv), w.conversation(to_conv)
    if source is None or target is None:
        return Refused(ErrorCode.NOT_MEMBER, "no such conversation")
    if target.kind == ANNOUNCE:
        return Refused(ErrorCode.FORBIDDEN, "the notice board is read-only")
    internal = not _ever_consumers(w, source)
    corp = w.corp(forwarder.corp_id) if forwarder.corp_id else None
    verdict = may_forward(forwarder, internal, _ever_consumers(w, target), corp)
    return None if verdict.allowed else verdict.refusal


def _ever_consumers(w: WriteTxn, conversation: Conversation) -> bool:
    """Whether a conversation has ever had a consumer member (past ones count)."""
    if conversation.consumers:
        return True
    return any(m.consumer for _uid, m in w.memberships(conversation.conv))


# ----- the group notice and pins -------------------------------------------------


def set_notice(w: WriteTxn, actor: User, conv: int, text: str, wanted: tuple[Any, ...],
               now_ms: int) -> GroupChange | Refused:
    """The group's notice, a receipt-requested message with its files (1.8)."""
    mine = _member(w, conv, actor.uid)
    if isinstance(mine, Refused):
        return mine
    conversation = w.conversation(conv)
    if conversation is None or conversation.kind != GROUP or mine.role not in MANAGERS:
        return Refused(ErrorCode.FORBIDDEN, "only a group's owner and admins set its notice")
    files = check_attachments(w, actor, wanted) if wanted else ()
    if isinstance(files, Refused):
        return files
    commit_attachments(w, files)
    msg = w.append(conv=conv, sender=actor.handle, now_ms=now_ms, sender_uid=actor.uid,
                   text=text, receipt=True, attachments=files)
    msg = replace(msg, notice=True)
    w.rewrite_message(msg)
    tables.set_notice(w.txn, w.db, conv=conv, seq=msg.seq)
    if corp := group_archive_corp(conversation):
        w.archive(ArchiveEntry(corp, now_ms, msg.pos, conv, msg.seq, actor.handle,
                               actor.realm, text, "notice", files))
    return GroupChange(msg)


def pin(w: WriteTxn, actor: User, conv: int, seq: int, on: bool, now_ms: int,
        caps: EverydayCaps) -> GroupChange | Refused:
    mine = _member(w, conv, actor.uid)
    if isinstance(mine, Refused):
        return mine
    conversation = w.conversation(conv)
    if conversation is None or conversation.kind == ANNOUNCE or \
            (conversation.kind == GROUP and mine.role not in MANAGERS):
        return Refused(ErrorCode.FORBIDDEN, "in a group, its owner and admins pin messages")
    msg = w.message(conv=conv, seq=seq)
    if msg is None or msg.kind == SYSTEM or not mine.sees(msg.pos):
        return Refused(ErrorCode.NOT_FOUND, f"no message {seq} here")
    pinned = {p[0] for p in tables.pins(w.txn, w.db, conv=conv)}
    if on == (seq in pinned):
        return Refused(ErrorCode.NOT_FOUND, "already pinned" if on else "not pinned")
    if on and len(pinned) >= caps.max_pins:
        return Refused(ErrorCode.LIMIT_REACHED, f"{caps.max_pins} pinned messages already")
    if on:
        tables.pin(w.txn, w.db, conv=conv, seq=seq, by=actor.handle, now_ms=now_ms)
    else:
        tables.unpin(w.txn, w.db, conv=conv, seq=seq)
    notice = w.append(conv=conv, sender=actor.handle, now_ms=now_ms, kind=SYSTEM,
                      event="pin" if on else "unpin", users=(msg.sender,), ref=seq)
    return GroupChange(notice)


# ----- mute ------------------------------------------------------------------------


def mute(w: WriteTxn, user: User, conv: int, until: int | None,
         now_ms: int) -> Muted | Refused:
    """Mute until `until` (None: until unmuted), or unmute (`until` not in the future)."""
    mine = _member(w, conv, user.uid)
    if isinstance(mine, Refused):
        return mine
    stored = None if until is not None and until <= now_ms else (until or 0)
    state = tables.set_mute(w.txn, w.db, uid=user.uid, conv=conv, until=stored,
                            pos=w.next_pos())
    return Muted(user.uid, state)
