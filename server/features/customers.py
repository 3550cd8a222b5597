"""Customer management (issue 7): tags, mass messages, moments, transfer refusals.

Reads run here; changes are writer operations checked against the bridge's
rules (bridge/customers.py) inside the batch's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from corpchat.bridge import (
    archive_corp,
    day_number,
    may_act_for,
    may_administer_corp,
    may_serve_customers,
)
from corpchat.protocol import (
    Attachment,
    BroadcastCustomers,
    BroadcastDone,
    ContactTag,
    Department,
    ErrorCode,
    MomentConfirm,
    MomentDraft,
    MomentPost,
    MomentsFeed,
    MomentsPage,
    Profile,
    ProtocolError,
    Refusal,
    Skipped,
    TagAdd,
    TagGroupAdd,
    TagInfo,
    TagList,
    TagRemove,
    TagsReply,
    TransferRefuse,
)
from corpchat.store import CONSUMER, ENTERPRISE, StorageError, User
from corpchat.store import contacts as tables
from corpchat.store import customers as cust

from ..hub import error_frame
from ..media import check_attachments, requested_attachments
from ..ops import customers as ops
from ..ops import transfers as transfer_ops
from ..ops.results import Notices
from ..people import People
from ..routes import Routes
from ..services import Services, Spawn, Write
from ..session import Session
from ..wsframes import event_frame
from .common import enforce, stored_caller, submit_answered

routes = Routes()
# Recipients per commit of a mass message. Each chunk is a writer op and a burst of
# fan-out that everyone else's messages wait behind, so it is small; each costs a
# commit (>= bulk_commit_gap_s apart), so not too small. Measured with 20,000 customers
# while a group chats at 100 msgs/s (docs/benchmarks.md): 500 -> done in 1.4 s, the
# group's p99 11.6x; 25 -> 3.0-3.2 s, 2.1-2.2x; 16 -> 3.6 s, 1.5x; 10 -> 4.9 s, 1.5x.
# (Measured before chunks went to the writer's bulk lane: now a chunk commits alone,
# after pending chat writes, so no chat write's commit also carries a chunk.)
BROADCAST_CHUNK = 16
TARGETS_PER_STEP = 256  # a mass message's recipients looked up between event-loop turns


@dataclass(slots=True)
class Customers(Services):
    write: Write  # a mass message's chunks, one after another, on the bulk lane
    spawn: Spawn  # the task that sends a mass message



@routes.handles(TagList)
def tag_list(s: Services, session: Session, frame: TagList) -> None:
    user = stored_caller(s, session)
    _employee_only(user)
    groups = s.store.read(cust.tag_groups, user.corp_id)
    tags = s.store.read(cust.tags, user.corp_id)
    session.push(event_frame(TagsReply(
        re=frame.id, groups=tuple(Department(dept=g, name=n) for g, n in groups.items()),
        tags=tuple(TagInfo(tag=t, group=g, name=n) for t, (g, n) in tags.items()))))


@routes.handles(TagGroupAdd)
def tag_group_add(s: Services, session: Session, frame: TagGroupAdd) -> None:
    user, name = stored_caller(s, session), frame.name
    _corp_admin(user)
    submit_answered(s, session, frame, lambda w: ops.add_tag_group(w, frame.id, user.corp_id, name))


@routes.handles(TagAdd)
def tag_add(s: Services, session: Session, frame: TagAdd) -> None:
    user, group, name, caps = stored_caller(s, session), frame.group, frame.name, s.config.customers
    _corp_admin(user)
    submit_answered(s, session, frame,
            lambda w: ops.add_tag(w, frame.id, user.corp_id, group, name, caps))


@routes.handles(TagRemove)
def tag_remove(s: Services, session: Session, frame: TagRemove) -> None:
    user, tag = stored_caller(s, session), frame.tag
    _corp_admin(user)
    submit_answered(s, session, frame, lambda w: ops.remove_tag(w, user.corp_id, tag))


@routes.handles(ContactTag)
def contact_tag(s: Services, session: Session, frame: ContactTag) -> None:
    user = stored_caller(s, session)
    consumer = _customers(s, user, [frame.user])[0]
    add, remove = frame.add or (), frame.remove or ()
    submit_answered(s, session, frame, lambda w: ops.tag_contact(w, user, consumer, add, remove))


@routes.handles(TransferRefuse)
def transfer_refuse(s: Services, session: Session, frame: TransferRefuse) -> None:
    user = stored_caller(s, session)
    employee, looker = _employee(s, frame.employee), People(s.store)
    submit_answered(s, session, frame, lambda w: transfer_ops.refuse(w, looker, user, employee))


@routes.handles(MomentPost)
def moment_post(s: Services, session: Session, frame: MomentPost) -> None:
    user, now, caps = stored_caller(s, session), s.clock.now_ms(), s.config.customers
    _employee_only(user)
    people, seen = _feed_people(s, user), _author(s, user)
    text, attachments = frame.text, frame.attachments or ()
    files = _moment_media(s, frame.media, len(attachments))
    submit_answered(s, session, frame, lambda w: ops.post_with_media(
        w, frame.id, user, seen, text, attachments, now, caps, people, files))


def _moment_media(s: Services, wanted: tuple[Attachment, ...] | None,
                  references: int) -> tuple[Attachment, ...]:
    """A moment's uploaded files, checked for what needs no lookup (§30.3)."""
    files = requested_attachments(s.config.media, wanted)
    most = min(s.config.media.max_attachments, s.config.customers.moment_attachments)
    if len(files) + references > most:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"at most {most} attachments")
    return files


@routes.handles(MomentConfirm)
def moment_confirm(s: Services, session: Session, frame: MomentConfirm) -> None:
    user, now, caps, draft_id = stored_caller(s, session), s.clock.now_ms(), s.config.customers, \
        frame.draft
    _employee_only(user)
    people, seen = _feed_people(s, user), _author(s, user)
    submit_answered(s, session, frame, lambda w: ops.confirm(w, frame.id, user, seen, draft_id, now,
                                                     caps, people))


    # ----- lookups -----

def _customers(s: Services, employee: User, handles: list[str]) -> list[User]:
    """These customers of the employee, checked in one read; `not_contact` names the
    first handle that is not one."""
    _employee_only(employee)
    store = s.store
    users = [store.user_by_handle(h) for h in handles]
    found = store.read(tables.contacts_among, employee.uid,
                       [u.uid for u in users if u is not None])
    for handle, user in zip(handles, users, strict=True):
        if user is None or user.uid not in found:
            raise ProtocolError(ErrorCode.NOT_CONTACT, f"{handle!r} is not your customer")
    return [user for user in users if user is not None]  # every one, as checked above


def _employee(s: Services, handle: str) -> User:
    found = s.store.user_by_handle(handle)
    if found is None or found.realm != ENTERPRISE:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no employee {handle!r}")
    return found


def _author(s: Services, employee: User) -> Profile:
    """An employee as their customers see them (the badge), built once per post."""
    badge = People(s.store).badge(employee, CONSUMER)
    return Profile(user=employee.handle, display=badge.display, title=badge.title,
                   corp=badge.corp)


def _feed_people(s: Services, employee: User) -> list[int]:
    """The customers who see an employee's moments."""
    return [c.consumer for c in s.store.read(tables.contacts_of_employee, employee.uid)]


# ----- mass messages -----

@routes.handles(BroadcastCustomers)
def broadcast(s: Customers, session: Session, frame: BroadcastCustomers) -> None:
    user, now = stored_caller(s, session), s.clock.now_ms()
    _employee_only(user)
    limits = s.config.limits
    if not 0 < len(frame.client_msg_id) <= 32:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "client_msg_id has 1 to 32 characters")
    if not frame.text and not requested_attachments(s.config.media, frame.attachments):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "text is empty")
    if len(frame.text) > limits.max_text_chars:
        # §25: bad_request, unlike send's text_too_long (the spec's choice, kept)
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"text is longer than {limits.max_text_chars} characters")
    if frame.match not in (None, "any", "all"):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "match is 'any' or 'all'")
    session.inflight += 1  # answered by the broadcast task, when it is done
    s.spawn(_run_broadcast, s, session, user, frame, now)


async def _targets(s: Customers, employee: User, frame: BroadcastCustomers) -> list[User]:
    """The customers a mass message goes to, looked up TARGETS_PER_STEP at a time
    with the event loop running in between: 20,000 lookups in one go stalled
    every conversation for ~60 ms (the chat's e2e max during a broadcast)."""
    store, cap = s.store, s.config.customers.broadcast_max
    out: list[User] = []
    if frame.users:
        handles = list(dict.fromkeys(frame.users))
        if len(handles) > cap:
            raise _too_many(cap)
        for start in range(0, len(handles), TARGETS_PER_STEP):
            out += _customers(s, employee, handles[start:start + TARGETS_PER_STEP])
            await trio.lowlevel.checkpoint()
        return out
    wanted, after = set(frame.tags or ()), -1
    while page := store.read(tables.contacts_page, employee.uid, after, TARGETS_PER_STEP):
        after = page[-1].consumer
        uids = [contact.consumer for contact in page]
        if wanted:
            tags = store.read(cust.contacts_tags, employee.uid, uids)
            uids = [uid for uid in uids if _matches(tags[uid], wanted, frame.match)]
        out += [u for u in map(store.user, uids) if u is not None and not u.disabled]
        if len(out) > cap:
            raise _too_many(cap)
        await trio.lowlevel.checkpoint()
    return out


async def _run_broadcast(s: Customers, session: Session, user: User,
                         frame: BroadcastCustomers, now: int) -> None:
    """Commit the broadcast in bounded chunks, each fanned out as it lands, so other
    traffic goes on in between."""
    try:
        targets = await _targets(s, user, frame)
    except ProtocolError as exc:
        session.sent_one()
        session.push(error_frame(exc.code, exc.message, frame.id))
        return
    except StorageError:  # a background task: an escaping error would stop the server
        session.sent_one()
        session.push(error_frame(ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable",
                                 frame.id))
        return
    files = frame.attachments or ()
    if files:  # checked once, before any chunk (each chunk checks again, and keeps them)
        checked = await s.write(lambda w: check_attachments(w, user, files))
        if isinstance(checked, Refusal | BaseException):
            session.sent_one()
            code, text = (checked.code, checked.reason) if isinstance(checked, Refusal) \
                else (ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable")
            session.push(error_frame(code, text, frame.id))
            return
    sent, skipped = 0, 0
    day, caps, archive = day_number(now), s.config.customers, archive_corp
    for start in range(0, len(targets), BROADCAST_CHUNK):
        chunk = targets[start:start + BROADCAST_CHUNK]

        def op(w, chunk=chunk):  # noqa: ANN001, ANN202 - runs on the writer thread
            return ops.broadcast_chunk(w, user, chunk, frame.client_msg_id, frame.text,
                                       now, day, caps, archive, files)

        # The bulk lane: committed alone, after pending chat writes. Safe out of order
        # with them: a chunk touches only its own direct conversations, and the next
        # is submitted only after this one commits.
        try:
            result = await s.write(op, bulk=True)  # fanned out in commit order
        except StorageError:  # the writer is stopping: stop here, as on a failed commit
            break
        if not isinstance(result, Notices):  # refused, or the commit failed
            break
        sent += result.sent
        skipped += result.skipped
    session.sent_one()
    reasons = (Skipped(reason="quota_exceeded", count=skipped),) if skipped else ()
    session.push(event_frame(BroadcastDone(re=frame.id, sent=sent, skipped=reasons)))

# ----- moments -----

@routes.handles(MomentDraft)
def moment_draft(s: Services, session: Session, frame: MomentDraft) -> None:
    user, now = stored_caller(s, session), s.clock.now_ms()
    _corp_admin(user)
    employees = [_employee(s, h) for h in frame.employees]
    for employee in employees:
        enforce(may_act_for(user, employee))
    text, attachments = frame.text, tuple(frame.attachments or ())
    files = _moment_media(s, frame.media, len(attachments))
    author = People(s.store).profile(user, user)
    submit_answered(s, session, frame, lambda w: ops.draft(w, frame.id, user, author, text,
                                                   attachments, employees, now, files))


@routes.handles(MomentsFeed)
def moments_feed(s: Services, session: Session, frame: MomentsFeed) -> None:
    user = stored_caller(s, session)
    store, limit = s.store, min(frame.limit or 20, 100)
    if frame.employee is not None:
        _corp_admin(user)
        employee = _employee(s, frame.employee)
        enforce(may_act_for(user, employee))
        authors = [employee.uid]
    elif user.realm == ENTERPRISE:
        authors = [user.uid]
    else:
        authors = store.read(tables.employees_of_consumer, user.uid)
    found = []
    for author in authors:
        found += store.read(cust.moments_of, author, frame.before, limit + 1)
    found.sort(key=lambda m: m.moment_id, reverse=True)
    looker = People(store)
    page = []
    for m in found[:limit]:
        poster = store.user(m.employee)
        assert poster is not None  # a moment's author is a stored user
        page.append(ops.moment_info(m, looker.profile(poster, user)))
    session.push(event_frame(MomentsPage(re=frame.id, moments=tuple(page),
                                         more=len(found) > limit)))


def _too_many(cap: int) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, f"at most {cap} customers at once")


def _employee_only(user: User) -> None:
    enforce(may_serve_customers(user))


def _corp_admin(user: User) -> None:
    enforce(may_administer_corp(user))


def _matches(have: set[int], wanted: set[int], match: str | None) -> bool:
    return wanted <= have if match == "all" else bool(wanted & have)
