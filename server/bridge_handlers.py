"""Requests that cross or concern realms: directory, contacts, friends, sign-up.

Decisions come from bridge/; reads run here, synchronously; changes go to
the writer as bridge_ops operations and are answered by the hub after the
commit (`NoticeContext`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from corpchat.bridge import may_use_directory
from corpchat.protocol import (
    ContactAccept,
    ContactDecline,
    ContactList,
    ContactRemark,
    ContactRemove,
    ContactRequest,
    Department,
    DepartmentReply,
    DirectoryDepartment,
    DirectorySearch,
    ErrorCode,
    Frame,
    FriendAccept,
    FriendDecline,
    FriendRemove,
    FriendRequest,
    PendingRequest,
    People,
    ProtocolError,
    Register,
    Registered,
    RequestList,
    RequestListReply,
)
from corpchat.protocol.ratelimit import TokenBucket
from corpchat.store import ENTERPRISE, Refused, User
from corpchat.store import contacts as tables
from corpchat.store import customers as cust

from . import bridge_ops
from .bridge_ops import Notices
from .hub import NoticeContext
from .people import People as Looker
from .session import Session
from .wsframes import event_frame

if TYPE_CHECKING:
    from .app import App

BRIDGE_FRAMES = (ContactAccept, ContactDecline, ContactList, ContactRemark, ContactRemove,
                 ContactRequest, DirectoryDepartment, DirectorySearch, FriendAccept, FriendRequest,
                 FriendDecline, FriendRemove, RequestList)
MAX_PENDING_LISTED = 1000  # per direction, newest first


class BridgeHandler:
    def __init__(self, app: App) -> None:
        self.app = app
        self.caps = app.config.bridge
        self.signups = TokenBucket(app.config.signups_per_s, 10, app.clock)

    def handle(self, session: Session, frame: Frame, submit) -> None:  # noqa: ANN001
        user: User = self.app.store.user(session.user.uid)  # type: ignore[assignment,union-attr]
        looker = Looker(self.app.store)
        now, caps = self.app.clock.now_ms(), self.caps
        context = NoticeContext(session, frame.id)  # type: ignore[attr-defined]
        match frame:
            case DirectorySearch():
                self._search(session, user, frame, looker)
            case DirectoryDepartment():
                self._department(session, user, frame, looker)
            case ContactList():
                self._contact_list(session, user, frame, looker)
            case ContactRequest(to=to, note=note):
                consumer = self._user(to)
                note = note or ""
                if len(note) > caps.note_chars:
                    raise _bad(f"a note has at most {caps.note_chars} characters")
                seen = looker.profile(user, consumer)
                submit(lambda w: bridge_ops.request_contact(w, user, consumer, note, seen, now,
                                                           caps), context)
            case ContactAccept(employee=handle) | ContactDecline(employee=handle):
                employee = self._user(handle)
                mine, theirs = looker.profile(user, employee), looker.profile(employee, user)
                if isinstance(frame, ContactAccept):
                    submit(lambda w: bridge_ops.accept_contact(w, user, employee, mine, theirs,
                                                              now, caps), context)
                else:
                    submit(lambda w: bridge_ops.decline_contact(w, user, employee, mine),
                           context)
            case ContactRemove(user=handle):
                other = self._user(handle)
                employee, consumer = (user, other) if user.realm == ENTERPRISE else (other, user)
                seen = looker.profile(user, other)
                submit(lambda w: bridge_ops.remove_contact(w, employee, consumer, seen, user),
                       context)
            case ContactRemark(user=handle, remark=remark):
                consumer = self._user(handle)
                if len(remark) > caps.note_chars:
                    raise _bad(f"a remark has at most {caps.note_chars} characters")
                submit(lambda w: bridge_ops.set_remark(w, user, consumer, remark), context)
            case FriendRequest(to=handle) | FriendAccept(user=handle):
                other = self._user(handle)
                seen = looker.profile(user, other)
                op = bridge_ops.request_friend if isinstance(frame, FriendRequest) \
                    else bridge_ops.accept_friend
                submit(lambda w: op(w, user, other, seen, now, caps), context)
            case FriendDecline(user=handle) | FriendRemove(user=handle):
                other = self._user(handle)
                seen = looker.profile(user, other)
                change = bridge_ops.decline_friend if isinstance(frame, FriendDecline) \
                    else bridge_ops.remove_friend
                submit(lambda w: change(w, user, other, seen), context)
            case RequestList():
                self._request_list(session, user, frame.id, looker)

    def _user(self, handle: str) -> User:
        found = self.app.store.user_by_handle(handle)
        if found is None or found.disabled:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {handle!r}")
        return found

    def _employees_only(self, user: User) -> None:
        if not (verdict := may_use_directory(user)).allowed:
            raise ProtocolError(ErrorCode(verdict.code), verdict.reason)

    def _search(self, session: Session, user: User, frame: DirectorySearch,
                looker: Looker) -> None:
        self._employees_only(user)
        limit = min(frame.limit or 50, 200)
        uids = self.app.store.read(tables.search_names, user.corp_id, frame.prefix, limit)
        found = [u for u in map(self.app.store.user, uids) if u is not None and not u.disabled]
        session.push(event_frame(People(re=frame.id, people=tuple(
            looker.profile(u, user) for u in found))))

    def _department(self, session: Session, user: User, frame: DirectoryDepartment,
                    looker: Looker) -> None:
        self._employees_only(user)
        dept_id = frame.dept or 0
        depts = self.app.store.read(tables.departments, user.corp_id)
        this = next((d for d in depts if d.dept_id == dept_id), None)
        if dept_id and this is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no department {dept_id}")
        members = [u for u in self.app.store.users()
                   if u.corp_id == user.corp_id and u.dept == dept_id and not u.disabled]
        session.push(event_frame(DepartmentReply(
            re=frame.id, dept=dept_id, name=this.name if this else "",
            members=tuple(looker.profile(u, user) for u in members),
            departments=tuple(Department(dept=d.dept_id, name=d.name)
                              for d in depts if d.parent == dept_id))))

    def _contact_list(self, session: Session, user: User, frame: ContactList,
                      looker: Looker) -> None:
        store = self.app.store
        if user.realm == ENTERPRISE:
            wanted = set(frame.tags or ())
            tagged = {c.consumer: store.read(cust.contact_tags, user.uid, c.consumer)
                      for c in store.read(tables.contacts_of_employee, user.uid)}
            found = [(store.user(c.consumer), c)
                     for c in store.read(tables.contacts_of_employee, user.uid)
                     if not wanted or (wanted <= tagged[c.consumer] if frame.match == "all"
                                       else wanted & tagged[c.consumer])]
            page, more = _page(found, frame)
            session.push(event_frame(People(re=frame.id, more=more or None, people=tuple(
                replace(looker.profile(person, user, contact=contact),
                        tags=tuple(sorted(tagged[contact.consumer])) or None)
                for person, contact in page if person is not None))))
            return
        else:
            found = [(store.user(uid), None)
                     for uid in store.read(tables.employees_of_consumer, user.uid)]
            found += [(store.user(uid), None) for uid in store.read(tables.friends_of, user.uid)]
        page, more = _page(found, frame)
        session.push(event_frame(People(re=frame.id, more=more or None, people=tuple(
            looker.profile(person, user, contact=contact)
            for person, contact in page if person is not None))))

    def _request_list(self, session: Session, user: User, request_id: int,
                      looker: Looker) -> None:
        """Pending requests: contact requests (employee to consumer) and friend requests,
        those waiting for the caller and those the caller sent."""
        store = self.app.store
        incoming = [("contact", uid, note, t) for uid, note, t in
                    store.read(tables.requests_to, user.uid)]
        incoming += [("friend", uid, "", t) for uid, t in
                     store.read(tables.friend_requests_to, user.uid)]
        outgoing = [("contact", uid, note, t) for uid, note, t in
                    store.read(tables.requests_from, user.uid)]
        outgoing += [("friend", uid, "", t) for uid, t in
                     store.read(tables.friend_requests_from, user.uid)]
        session.push(event_frame(RequestListReply(
            re=request_id, incoming=self._pending(incoming, user, looker),
            outgoing=self._pending(outgoing, user, looker))))

    def _pending(self, rows: list[tuple[str, int, str, int]], viewer: User,
                 looker: Looker) -> tuple[PendingRequest, ...]:
        out = []
        for kind, uid, note, time_ms in sorted(rows, key=lambda r: -r[3]):
            other = self.app.store.user(uid)
            if other is not None and not other.disabled:
                out.append(PendingRequest(kind=kind, time=time_ms,
                                          profile=looker.profile(other, viewer, note=note or None)))
            if len(out) >= MAX_PENDING_LISTED:
                break
        return tuple(out)

    def register(self, session: Session, frame: Register, submit) -> None:  # noqa: ANN001
        """Open sign-up of a consumer account, before hello."""
        if not self.app.config.open_signup:
            raise ProtocolError(ErrorCode.FORBIDDEN, "sign-up is closed on this server")
        if not self.signups.take():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many sign-ups; try later")
        now, handle = self.app.clock.now_ms(), frame.handle

        def op(w):  # noqa: ANN001, ANN202
            created = w.create_user(handle, None, now)
            if isinstance(created, Refused):
                return created
            if frame.name:
                w.put_user(replace(created, name=frame.name[:64]))
            _, token = w.issue_token(created.uid, now)
            return Notices(reply=Registered(re=frame.id, user=created.handle, token=token))

        submit(op, NoticeContext(session, frame.id))


def _page(rows: list, frame: ContactList) -> tuple[list, bool]:
    """One page of a long list: replies stay well under a session's outbound bound."""
    start, limit = frame.offset or 0, min(frame.limit or 500, 1000)
    return rows[start:start + limit], start + limit < len(rows)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)
