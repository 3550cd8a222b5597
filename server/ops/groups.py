"""Group conversations: the rules of roles and the write operations.

Roles and rights:

  owner   add, remove (anyone), rename, set roles, transfer, dissolve
  admin   add, remove members (not admins or the owner), rename
  member  send, read, leave

The owner cannot leave: they transfer ownership first (or dissolve).
Every change appends a system message to the group's log in the same
transaction, so history and sync show it to every member in order with the
chat; a member sees the log from their join message on, and a removed
member up to and including their removal.

The operations below run on the writer thread, inside the batch's
transaction, and check everything against the state in that transaction:
a refusal is returned before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from corpchat.bridge import admit_consumers, archive_corp, group_archive_corp, may_own_group
from corpchat.protocol import ErrorCode, Refusal
from corpchat.store import CONSUMER, GROUP, Membership, Message, User, WriteTxn
from corpchat.store.records import (
    ADMIN,
    MEMBER,
    OWNER,
    SYSTEM,
    ArchiveEntry,
    Conversation,
    StoredAttachment,
)

from .results import GroupChange, Sent

MANAGERS = frozenset({OWNER, ADMIN})
MAX_NAME_CHARS = 64


@dataclass(frozen=True, slots=True)
class Caps:
    max_members: int = 2000
    max_consumers: int = 100
    recall_window_ms: int = 24 * 3600 * 1000


def may_remove(actor_role: str, target_role: str) -> bool:
    if actor_role == OWNER:
        return target_role != OWNER
    return actor_role == ADMIN and target_role == MEMBER


def _name_problem(name: str) -> Refusal | None:
    if not 0 < len(name) <= MAX_NAME_CHARS:
        return Refusal(ErrorCode.BAD_REQUEST, f"a group name has 1 to {MAX_NAME_CHARS} characters")
    return None


def _active_group(w: WriteTxn, conv: int, uid: int) -> tuple[Conversation, Membership] | Refusal:
    """The group and the caller's membership, if the caller is a current member."""
    conversation = w.conversation(conv)
    membership = w.membership(uid=uid, conv=conv)
    if conversation is None or conversation.kind != GROUP or membership is None \
            or not membership.active:
        return Refusal(ErrorCode.NOT_MEMBER, f"not a member of group {conv}")
    return conversation, membership


def _system(w: WriteTxn, conv: int, actor: User, now_ms: int, event: str,
            users: tuple[str, ...] = (), name: str | None = None,
            ref: int | None = None) -> Message:
    return w.append(conv=conv, sender=actor.handle, now_ms=now_ms, kind=SYSTEM, event=event,
                    users=users, name=name, ref=ref)


def _admit(conversation: Conversation, users: list[User], caps: Caps) -> Refusal | None:
    if conversation.members + len(users) > caps.max_members:
        return Refusal(ErrorCode.GROUP_FULL, f"a group holds at most {caps.max_members} members")
    consumers = sum(u.realm == CONSUMER for u in users)
    verdict = admit_consumers(conversation.consumers, consumers, caps.max_consumers)
    return None if verdict.allowed else verdict.refusal


def _join_all(w: WriteTxn, conversation: Conversation, users: list[User], pos: int,
              owner: User | None = None) -> dict[int, Membership]:
    changes = {}
    for user in users:
        role = OWNER if owner is not None and user.uid == owner.uid else MEMBER
        changes[user.uid] = Membership(pos, 0, role, user.realm == CONSUMER)
        w.set_membership(uid=user.uid, conv=conversation.conv, membership=changes[user.uid])
    w.put_conversation(replace(
        conversation, members=conversation.members + len(users),
        consumers=conversation.consumers + sum(u.realm == CONSUMER for u in users)))
    return changes


def _leave_all(w: WriteTxn, conversation: Conversation, leaving: dict[int, Membership],
               pos: int) -> dict[int, Membership]:
    changes = {}
    for uid, membership in leaving.items():
        changes[uid] = replace(membership, left_pos=pos)
        w.set_membership(uid=uid, conv=conversation.conv, membership=changes[uid])
    w.put_conversation(replace(
        conversation, members=conversation.members - len(leaving),
        consumers=conversation.consumers - sum(m.consumer for m in leaving.values())))
    return changes


def create(w: WriteTxn, actor: User, name: str, members: list[User], now_ms: int,
           caps: Caps) -> GroupChange | Refusal:
    problem = _name_problem(name)
    if problem:
        return problem
    everyone = [actor] + [u for u in _unique(members) if u.uid != actor.uid]
    problem = _admit(Conversation(0, GROUP, now_ms), everyone, caps)
    if problem:
        return problem
    conversation = w.create_conversation(GROUP, name, now_ms, corp_id=actor.corp_id)
    msg = _system(w, conversation.conv, actor, now_ms, "create",
                  tuple(u.handle for u in everyone), name=name)
    return GroupChange(msg, _join_all(w, conversation, everyone, msg.pos, owner=actor))


def add(w: WriteTxn, actor: User, conv: int, members: list[User], now_ms: int,
        caps: Caps) -> GroupChange | Refusal:
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    conversation, mine = found
    if mine.role not in MANAGERS:
        return Refusal(ErrorCode.FORBIDDEN, "only the owner and admins add members")
    new = [u for u in _unique(members) if not _is_member(w, conv, u.uid)]
    if not new:
        return Refusal(ErrorCode.BAD_REQUEST, "everyone named is already a member")
    problem = _admit(conversation, new, caps)
    if problem:
        return problem
    msg = _system(w, conv, actor, now_ms, "add", tuple(u.handle for u in new))
    return GroupChange(msg, _join_all(w, conversation, new, msg.pos))


def remove(w: WriteTxn, actor: User, conv: int, members: list[User],
           now_ms: int) -> GroupChange | Refusal:
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    conversation, mine = found
    leaving: dict[int, Membership] = {}
    for user in _unique(members):
        theirs = w.membership(uid=user.uid, conv=conv)
        if theirs is None or not theirs.active:
            return Refusal(ErrorCode.NOT_MEMBER, f"{user.handle!r} is not a member")
        if user.uid == actor.uid or not may_remove(mine.role, theirs.role):
            return Refusal(ErrorCode.FORBIDDEN, f"you may not remove {user.handle!r}")
        leaving[user.uid] = theirs
    if not leaving:
        return Refusal(ErrorCode.BAD_REQUEST, "name at least one member")
    msg = _system(w, conv, actor, now_ms, "remove",
                  tuple(u.handle for u in _unique(members)))
    return GroupChange(msg, _leave_all(w, conversation, leaving, msg.pos), tuple(leaving))


def leave(w: WriteTxn, actor: User, conv: int, now_ms: int) -> GroupChange | Refusal:
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    conversation, mine = found
    if mine.role == OWNER:
        return Refusal(ErrorCode.FORBIDDEN, "the owner transfers ownership (or dissolves) first")
    msg = _system(w, conv, actor, now_ms, "leave", (actor.handle,))
    return GroupChange(msg, _leave_all(w, conversation, {actor.uid: mine}, msg.pos))


def rename(w: WriteTxn, actor: User, conv: int, name: str, now_ms: int) -> GroupChange | Refusal:
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    conversation, mine = found
    problem = _name_problem(name)
    if problem:
        return problem
    if mine.role not in MANAGERS:
        return Refusal(ErrorCode.FORBIDDEN, "only the owner and admins rename the group")
    w.put_conversation(replace(conversation, name=name))
    return GroupChange(_system(w, conv, actor, now_ms, "rename", name=name))


def set_role(w: WriteTxn, actor: User, conv: int, target: User, role: str,
             now_ms: int) -> GroupChange | Refusal:
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    _, mine = found
    if role not in (ADMIN, MEMBER):
        return Refusal(ErrorCode.BAD_REQUEST, "role is 'admin' or 'member' (use group.transfer)")
    if mine.role != OWNER:
        return Refusal(ErrorCode.FORBIDDEN, "only the owner sets roles")
    theirs = w.membership(uid=target.uid, conv=conv)
    if theirs is None or not theirs.active or theirs.role == OWNER:
        code = ErrorCode.NOT_MEMBER if theirs is None or not theirs.active \
            else ErrorCode.FORBIDDEN
        return Refusal(code, f"cannot set the role of {target.handle!r}")
    changed = replace(theirs, role=role)
    w.set_membership(uid=target.uid, conv=conv, membership=changed)
    msg = _system(w, conv, actor, now_ms, "role", (target.handle,), name=role)
    return GroupChange(msg, {target.uid: changed})


def transfer(w: WriteTxn, actor: User, conv: int, target: User,
             now_ms: int) -> GroupChange | Refusal:
    # §10.4's order: who may own a group depends on `target` alone, so it is checked
    # first, before anything about the group is read (or told)
    if not (verdict := may_own_group(target)).allowed:
        return verdict.refusal
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    _, mine = found
    if mine.role != OWNER:
        return Refusal(ErrorCode.FORBIDDEN, "only the owner transfers ownership")
    theirs = w.membership(uid=target.uid, conv=conv)
    if theirs is None or not theirs.active or target.uid == actor.uid:
        return Refusal(ErrorCode.NOT_MEMBER, f"{target.handle!r} is not another member")
    changes = {actor.uid: replace(mine, role=ADMIN), target.uid: replace(theirs, role=OWNER)}
    for uid, membership in changes.items():
        w.set_membership(uid=uid, conv=conv, membership=membership)
    msg = _system(w, conv, actor, now_ms, "transfer", (target.handle,))
    return GroupChange(msg, changes)


def dissolve(w: WriteTxn, actor: User, conv: int, now_ms: int) -> GroupChange | Refusal:
    found = _active_group(w, conv, actor.uid)
    if isinstance(found, Refusal):
        return found
    conversation, mine = found
    if mine.role != OWNER:
        return Refusal(ErrorCode.FORBIDDEN, "only the owner dissolves the group")
    everyone = {uid: m for uid, m in w.memberships(conv) if m.active}
    msg = _system(w, conv, actor, now_ms, "dissolve")
    changes = _leave_all(w, conversation, everyone, msg.pos)
    left = w.conversation(conv)
    assert left is not None  # the group itself, as _leave_all just wrote it
    w.put_conversation(replace(left, dissolved=True))
    return GroupChange(msg, changes, tuple(everyone))


def send(w: WriteTxn, sender: User, conv: int, client_msg_id: str, text: str, now_ms: int,
         receipt: bool = False, urgent: bool = False,
         attachments: tuple[StoredAttachment, ...] = ()) -> Sent | Refusal:
    """A text message into a group, once per client_msg_id."""
    old = w.find_sent(uid=sender.uid, client_msg_id=client_msg_id)
    if old is not None:
        return Sent(old, duplicate=True)
    found = _active_group(w, conv, sender.uid)
    if isinstance(found, Refusal):
        return found
    msg = w.append(conv=conv, sender=sender.handle, now_ms=now_ms, sender_uid=sender.uid,
                   text=text, client_msg_id=client_msg_id, receipt=receipt, urgent=urgent,
                   attachments=attachments)
    _archive(w, found[0], msg, sender.realm, text)
    return Sent(msg)


def _archive(w: WriteTxn, conversation: Conversation, msg: Message, realm: str, text: str,
             kind: str = "text") -> None:
    """External groups (with consumer members) are archived for the owning corp."""
    if corp := group_archive_corp(conversation):
        w.archive(ArchiveEntry(corp, msg.time_ms, msg.pos, conversation.conv,
                               msg.seq, msg.sender, realm, text, kind, msg.attachments))


def announce(w: WriteTxn, sender: User, conv: int, client_msg_id: str, text: str,
             now_ms: int, receipt: bool = False, urgent: bool = False,
             attachments: tuple[StoredAttachment, ...] = ()) -> Sent | Refusal:
    """A notice on the corp's board: only the corp's admins post there."""
    old = w.find_sent(uid=sender.uid, client_msg_id=client_msg_id)
    if old is not None:
        return Sent(old, duplicate=True)
    current = w.user(sender.uid)
    if current is None or not current.corp_admin:
        return Refusal(ErrorCode.FORBIDDEN, "only corp admins post announcements")
    return Sent(w.append(conv=conv, sender=sender.handle, now_ms=now_ms, sender_uid=sender.uid,
                         text=text, client_msg_id=client_msg_id, receipt=receipt, urgent=urgent,
                         attachments=attachments))


def recall(w: WriteTxn, actor: User, conv: int, seq: int, now_ms: int,
           caps: Caps) -> GroupChange | Refusal:
    """Replace a text message with a tombstone and log the recall in order.

    The sender may recall within the recall window; in a group the owner
    and admins may recall any message at any time.
    """
    mine = w.membership(uid=actor.uid, conv=conv)
    if mine is None or not mine.active:
        return Refusal(ErrorCode.NOT_MEMBER, f"not a member of conversation {conv}")
    msg = w.message(conv=conv, seq=seq)
    if msg is None or msg.kind != "text" or msg.recalled or not mine.sees(msg.pos):
        return Refusal(ErrorCode.NOT_FOUND, f"no message {seq} to recall")
    conversation = w.conversation(conv)
    assert conversation is not None  # a membership names a stored conversation
    moderator = conversation.kind == GROUP and mine.role in MANAGERS
    if not moderator:
        if msg.sender != actor.handle:
            return Refusal(ErrorCode.FORBIDDEN,
                           "only the sender or a group admin recalls a message")
        if now_ms - msg.time_ms > caps.recall_window_ms:
            return Refusal(ErrorCode.RECALL_EXPIRED, "the recall window has passed")
    w.rewrite_message(replace(msg, text="", recalled=True, attachments=()))  # archive keeps them
    notice = _system(w, conv, actor, now_ms, "recall", (msg.sender,), ref=seq)
    conversation = w.conversation(conv)
    if conversation is not None and conversation.kind == GROUP:
        _archive(w, conversation, notice, actor.realm, f"recalled seq {seq}", "recall")
    elif conversation is not None:  # a direct chat across realms keeps a revoke record too
        _archive_direct_recall(w, conversation, notice, actor, seq)
    return GroupChange(notice)


def _archive_direct_recall(w: WriteTxn, conversation: Conversation, notice: Message,
                           actor: User, seq: int) -> None:
    members = [u for uid, _ in w.memberships(conversation.conv) if (u := w.user(uid))]
    if len(members) == 2 and (corp := archive_corp(*members)):
        w.archive(ArchiveEntry(corp, notice.time_ms, notice.pos, conversation.conv,
                               notice.seq, actor.handle, actor.realm, f"recalled seq {seq}",
                               "recall"))


def _is_member(w: WriteTxn, conv: int, uid: int) -> bool:
    membership = w.membership(uid=uid, conv=conv)
    return membership is not None and membership.active


def _unique(users: list[User]) -> list[User]:
    seen: dict[int, User] = {}
    for user in users:
        seen.setdefault(user.uid, user)
    return list(seen.values())
