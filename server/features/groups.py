"""Groups: the `group.*` changes and `recall` (writes in ops/groups.py, checked
again in the transaction), and the reads `group.info` and `group.list`.

A change's `ChangeContext` answers it with `ok`, applies the memberships it
changed to the hub's copy in commit order, fans its system message out to
everyone, and tells those who lost the group (`removed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from corpchat.bridge import may_create_group, may_invite
from corpchat.protocol import (
    ErrorCode,
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
    Member,
    Ok,
    ProtocolError,
    Recall,
    Refusal,
    Removed,
)
from corpchat.store import GROUP, User, WriteOp

from ..hub import Hub, Out, RequestContext
from ..ops import groups as ops
from ..ops.results import GroupChange
from ..people import People, tied
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame
from .common import bad, conv_kind, enforce

routes = Routes()


@dataclass(slots=True)
class Groups(Services):
    caps: ops.Caps = ops.Caps()


class ChangeContext(RequestContext):
    """A submitted group change or recall: answered with `ok`, fanned out to all."""

    __slots__ = ()

    def answer(self, hub: Hub, result: GroupChange | Refusal, out: Out) -> None:
        self.session.sent_one()
        if isinstance(result, Refusal):
            self.refused(result, out)
            return
        msg = result.message
        state = hub.conversation(msg.conv)
        if state is not None:
            state.apply(result.changes)
        hub.fan_out(msg, out, skip=None)
        out[self.session].append(event_frame(Ok(re=self.request_id, conv=msg.conv,
                                                seq=msg.seq, pos=msg.pos)))
        if result.removed:
            gone = event_frame(Removed(conv=msg.conv, by=msg.sender))
            for uid in result.removed:
                for session in hub.sessions.get(uid, ()):
                    out[session].append(gone)


Change = (GroupCreate | GroupAdd | GroupRemove | GroupLeave | GroupRename | GroupSetRole
          | GroupTransfer | GroupDissolve | Recall)


@routes.handles(GroupCreate, GroupAdd, GroupRemove, GroupLeave, GroupRename, GroupSetRole,
                GroupTransfer, GroupDissolve, Recall)
def change(s: Groups, session: Session, frame: Change) -> None:
    s.submit(session, _change_op(s, session.authed_user, frame),
             ChangeContext(session, frame.id))


def _change_op(s: Groups, actor: User, frame: Frame) -> WriteOp:
    """The writer operation for a group change or a recall (checked again in the txn)."""
    now, caps = s.clock.now_ms(), s.caps
    match frame:
        case GroupCreate(name=name, members=members):
            enforce(may_create_group(actor))
            _may_invite(s, actor, users := _users(s, members))
            return lambda w: ops.create(w, actor, name, users, now, caps)
        case GroupAdd(conv=conv, members=members):
            _may_invite(s, actor, users := _users(s, members))
            return lambda w: ops.add(w, actor, conv, users, now, caps)
        case GroupRemove(conv=conv, members=members):
            users = _users(s, members, disabled_ok=True)  # people who left, too
            return lambda w: ops.remove(w, actor, conv, users, now)
        case GroupLeave(conv=conv):
            return lambda w: ops.leave(w, actor, conv, now)
        case GroupRename(conv=conv, name=name):
            return lambda w: ops.rename(w, actor, conv, name, now)
        case GroupSetRole(conv=conv, user=handle, role=role):
            (target,) = _users(s, (handle,))
            return lambda w: ops.set_role(w, actor, conv, target, role, now)
        case GroupTransfer(conv=conv, to=handle):
            (target,) = _users(s, (handle,))
            return lambda w: ops.transfer(w, actor, conv, target, now)
        case GroupDissolve(conv=conv):
            return lambda w: ops.dissolve(w, actor, conv, now)
        case Recall(conv=conv, seq=seq):
            return lambda w: ops.recall(w, actor, conv, seq, now, caps)
    raise AssertionError(frame)


def _users(s: Services, handles: tuple[str, ...], *, disabled_ok: bool = False) -> list[User]:
    most = s.config.max_group_members
    if len(handles) > most:
        raise bad(f"at most {most} users per request")
    users = []
    for handle in handles:
        user = s.store.user_by_handle(handle)
        if user is None or (user.disabled and not disabled_ok):
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {handle!r}")
        users.append(user)
    return users


def _may_invite(s: Services, actor: User, users: list[User]) -> None:
    """The bridge's invite rule for each user, in order; the first refusal is sent."""
    for user in users:
        enforce(may_invite(actor, user, contact=tied(s.store, actor, user)))


@routes.handles(GroupInfo)
def group_info(s: Services, session: Session, frame: GroupInfo) -> None:
    user = session.authed_user
    if conv_kind(s.hub, user, frame.conv) != GROUP:
        raise ProtocolError(ErrorCode.NOT_MEMBER, f"{frame.conv} is not a group")
    state = s.store.conversation_state(frame.conv)
    members = s.store.group_members(frame.conv)
    assert state is not None  # conv_kind found the group
    conversation = state[0]
    looker = People(s.store)
    session.push(event_frame(GroupInfoReply(
        re=frame.id, conv=frame.conv, name=conversation.name, created=conversation.created_ms,
        members=tuple(Member(user=u.handle, role=m.role, external=m.consumer,
                             display=looker.badge(u, user.realm).display)
                      for u, m in members))))


@routes.handles(GroupList)
def group_list(s: Services, session: Session, frame: GroupList) -> None:
    found = s.store.user_groups(session.authed_user.uid)
    session.push(event_frame(GroupListReply(re=frame.id, groups=tuple(
        GroupSummary(conv=c.conv, name=c.name, role=m.role, members=c.members)
        for c, m in found))))
