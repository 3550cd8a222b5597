"""Requests that cross or concern realms: the directory, external contacts,
friends and the pending requests of both.

Decisions come from bridge/; reads run here, synchronously; changes go to
the writer as ops/contacts.py operations and are answered after the commit
(`NoticeContext`).
"""

from __future__ import annotations

from dataclasses import replace

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
    FriendAccept,
    FriendDecline,
    FriendRemove,
    FriendRequest,
    PendingRequest,
    People,
    ProtocolError,
    RequestList,
    RequestListReply,
)
from corpchat.store import ENTERPRISE, Contact, User
from corpchat.store import contacts as tables
from corpchat.store import customers as cust

from ..ops import contacts as ops
from ..people import People as Looker
from ..routes import Routes
from ..services import Services
from ..session import Session
from ..wsframes import event_frame
from .common import active_user, bad, enforce, stored_caller, submit_answered

routes = Routes()
MAX_PENDING_LISTED = 1000  # per direction, newest first



@routes.handles(DirectorySearch)
def search(s: Services, session: Session, frame: DirectorySearch) -> None:
    user, looker = stored_caller(s, session), Looker(s.store)
    enforce(may_use_directory(user))
    limit = min(frame.limit or 50, 200)
    uids = s.store.read(tables.search_names, user.corp_id, frame.prefix, limit)
    found = [u for u in map(s.store.user, uids) if u is not None and not u.disabled]
    session.push(event_frame(People(re=frame.id, people=tuple(
        looker.profile(u, user) for u in found))))


@routes.handles(DirectoryDepartment)
def department(s: Services, session: Session, frame: DirectoryDepartment) -> None:
    user, looker = stored_caller(s, session), Looker(s.store)
    enforce(may_use_directory(user))
    dept_id = frame.dept or 0
    depts = s.store.read(tables.departments, user.corp_id)
    this = next((d for d in depts if d.dept_id == dept_id), None)
    if dept_id and this is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no department {dept_id}")
    members = [u for u in s.store.users()
               if u.corp_id == user.corp_id and u.dept == dept_id and not u.disabled]
    session.push(event_frame(DepartmentReply(
        re=frame.id, dept=dept_id, name=this.name if this else "",
        members=tuple(looker.profile(u, user) for u in members),
        departments=tuple(Department(dept=d.dept_id, name=d.name)
                          for d in depts if d.parent == dept_id))))


@routes.handles(ContactList)
def contact_list(s: Services, session: Session, frame: ContactList) -> None:
    user, looker, store = stored_caller(s, session), Looker(s.store), s.store
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
    people: list[tuple[User | None, Contact | None]] = [
        (store.user(uid), None) for uid in store.read(tables.employees_of_consumer, user.uid)]
    people += [(store.user(uid), None) for uid in store.read(tables.friends_of, user.uid)]
    page, more = _page(people, frame)
    session.push(event_frame(People(re=frame.id, more=more or None, people=tuple(
        looker.profile(person, user, contact=contact)
        for person, contact in page if person is not None))))


@routes.handles(ContactRequest)
def contact_request(s: Services, session: Session, frame: ContactRequest) -> None:
    user, caps = stored_caller(s, session), s.config.bridge
    consumer = active_user(s.store, frame.to)
    note, now = frame.note or "", s.clock.now_ms()
    if len(note) > caps.note_chars:
        raise bad(f"a note has at most {caps.note_chars} characters")
    seen = Looker(s.store).profile(user, consumer)
    submit_answered(s, session, frame,
            lambda w: ops.request_contact(w, user, consumer, note, seen, now, caps))


@routes.handles(ContactAccept, ContactDecline)
def contact_answer(s: Services, session: Session, frame: ContactAccept | ContactDecline) -> None:
    user, caps, looker = stored_caller(s, session), s.config.bridge, Looker(s.store)
    now = s.clock.now_ms()
    employee = active_user(s.store, frame.employee)
    mine, theirs = looker.profile(user, employee), looker.profile(employee, user)
    if isinstance(frame, ContactAccept):
        submit_answered(s, session, frame,
                lambda w: ops.accept_contact(w, user, employee, mine, theirs, now, caps))
    else:
        submit_answered(s, session, frame, lambda w: ops.decline_contact(w, user, employee, mine))


@routes.handles(ContactRemove)
def contact_remove(s: Services, session: Session, frame: ContactRemove) -> None:
    user = stored_caller(s, session)
    other = active_user(s.store, frame.user)
    employee, consumer = (user, other) if user.realm == ENTERPRISE else (other, user)
    seen = Looker(s.store).profile(user, other)
    submit_answered(s, session, frame,
                    lambda w: ops.remove_contact(w, employee, consumer, seen, user))


@routes.handles(ContactRemark)
def contact_remark(s: Services, session: Session, frame: ContactRemark) -> None:
    user, caps, remark = stored_caller(s, session), s.config.bridge, frame.remark
    consumer = active_user(s.store, frame.user)
    if len(remark) > caps.note_chars:
        raise bad(f"a remark has at most {caps.note_chars} characters")
    submit_answered(s, session, frame, lambda w: ops.set_remark(w, user, consumer, remark))


@routes.handles(FriendRequest, FriendAccept)
def friend_ask(s: Services, session: Session, frame: FriendRequest | FriendAccept) -> None:
    user, caps, now = stored_caller(s, session), s.config.bridge, s.clock.now_ms()
    other = active_user(s.store, frame.to if isinstance(frame, FriendRequest) else frame.user)
    seen = Looker(s.store).profile(user, other)
    op = ops.request_friend if isinstance(frame, FriendRequest) else ops.accept_friend
    submit_answered(s, session, frame, lambda w: op(w, user, other, seen, now, caps))


@routes.handles(FriendDecline, FriendRemove)
def friend_drop(s: Services, session: Session, frame: FriendDecline | FriendRemove) -> None:
    user = stored_caller(s, session)
    other = active_user(s.store, frame.user)
    seen = Looker(s.store).profile(user, other)
    change = ops.decline_friend if isinstance(frame, FriendDecline) else ops.remove_friend
    submit_answered(s, session, frame, lambda w: change(w, user, other, seen))


@routes.handles(RequestList)
def request_list(s: Services, session: Session, frame: RequestList) -> None:
    """Pending requests: contact requests (employee to consumer) and friend requests,
    those waiting for the caller and those the caller sent."""
    user, looker, store = stored_caller(s, session), Looker(s.store), s.store
    incoming = [("contact", uid, note, t) for uid, note, t in
                store.read(tables.requests_to, user.uid)]
    incoming += [("friend", uid, "", t) for uid, t in
                 store.read(tables.friend_requests_to, user.uid)]
    outgoing = [("contact", uid, note, t) for uid, note, t in
                store.read(tables.requests_from, user.uid)]
    outgoing += [("friend", uid, "", t) for uid, t in
                 store.read(tables.friend_requests_from, user.uid)]
    session.push(event_frame(RequestListReply(
        re=frame.id, incoming=_pending(s, incoming, user, looker),
        outgoing=_pending(s, outgoing, user, looker))))


def _pending(s: Services, rows: list[tuple[str, int, str, int]], viewer: User,
             looker: Looker) -> tuple[PendingRequest, ...]:
    out = []
    for kind, uid, note, time_ms in sorted(rows, key=lambda r: -r[3]):
        other = s.store.user(uid)
        if other is not None and not other.disabled:
            out.append(PendingRequest(kind=kind, time=time_ms,
                                      profile=looker.profile(other, viewer, note=note or None)))
        if len(out) >= MAX_PENDING_LISTED:
            break
    return tuple(out)


def _page(rows: list, frame: ContactList) -> tuple[list, bool]:
    """One page of a long list: replies stay well under a session's outbound bound."""
    start, limit = frame.offset or 0, min(frame.limit or 500, 1000)
    return rows[start:start + limit], start + limit < len(rows)
