"""Customer management (issue 7): tags, mass messages, moments, transfer refusals.

Reads run here; changes are writer operations checked against the bridge's
rules (bridge/customers.py) inside the batch's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from corpchat.bridge import (
    Verdict,
    archive_corp,
    day_number,
    may_act_for,
    may_administer_corp,
    may_serve_customers,
)
from corpchat.protocol import (
    BroadcastCustomers,
    BroadcastDone,
    ContactTag,
    Department,
    ErrorCode,
    Frame,
    MomentConfirm,
    MomentDraft,
    MomentPost,
    MomentsFeed,
    MomentsPage,
    Profile,
    ProtocolError,
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

from .hub import NoticeContext, error_frame
from .ops import customers as ops
from .ops import transfers as transfer_ops
from .ops.results import Notices
from .people import People
from .session import Session
from .wsframes import event_frame

if TYPE_CHECKING:
    from .app import App

CUSTOMER_FRAMES = (TagGroupAdd, TagAdd, TagRemove, TagList, ContactTag, BroadcastCustomers,
                   TransferRefuse, MomentPost, MomentDraft, MomentConfirm, MomentsFeed)
# Recipients per commit of a mass message. Each chunk is a writer op and a burst of
# fan-out that everyone else's messages wait behind, so it is small; each costs a
# commit (>= commit_gap_s apart), so not too small. Measured with 20,000 customers
# while a group chats at 100 msgs/s (docs/benchmarks.md): 500 -> done in 1.4 s, the
# group's p99 11.6x; 25 -> 3.0-3.2 s, 2.1-2.2x; 16 -> 3.6 s, 1.5x; 10 -> 4.9 s, 1.5x.
# (Measured before chunks went to the writer's bulk lane: now a chunk commits alone,
# after pending chat writes, so no chat write's commit also carries a chunk.)
BROADCAST_CHUNK = 16
TARGETS_PER_STEP = 256  # a mass message's recipients looked up between event-loop turns


class CustomerHandler:
    def __init__(self, app: App) -> None:
        self.app = app
        self.caps = app.config.customers

    def handle(self, session: Session, frame: Frame, submit) -> None:  # noqa: ANN001
        app, caps = self.app, self.caps
        user: User = app.store.user(session.user.uid)  # type: ignore[assignment,union-attr]
        now = app.clock.now_ms()
        context = NoticeContext(session, frame.id)  # type: ignore[attr-defined]
        match frame:
            case TagList():
                self._tag_list(session, user, frame.id)
            case TagGroupAdd(name=name):
                _corp_admin(user)
                submit(lambda w: ops.add_tag_group(w, frame.id, user.corp_id, name), context)
            case TagAdd(group=group, name=name):
                _corp_admin(user)
                submit(lambda w: ops.add_tag(w, frame.id, user.corp_id, group, name, caps),
                       context)
            case TagRemove(tag=tag):
                _corp_admin(user)
                submit(lambda w: ops.remove_tag(w, user.corp_id, tag), context)
            case ContactTag(user=handle, add=add, remove=remove):
                consumer = self._customer(user, handle)
                submit(lambda w: ops.tag_contact(w, user, consumer, add or (), remove or ()),
                       context)
            case BroadcastCustomers():
                self._broadcast(session, user, frame, now)
            case TransferRefuse(employee=handle):
                employee = self._employee(handle)
                looker = People(app.store)
                submit(lambda w: transfer_ops.refuse(w, looker, user, employee), context)
            case MomentPost(text=text, attachments=attachments):
                _employee_only(user)
                people, seen = self._feed_people(user), self._author(user)
                submit(lambda w: ops.post(w, frame.id, user, seen, text, attachments or (), 0,
                                          now, caps, people), context)
            case MomentDraft():
                self._draft(user, frame, now, submit, context)
            case MomentConfirm(draft=draft_id):
                _employee_only(user)
                people, seen = self._feed_people(user), self._author(user)
                submit(lambda w: ops.confirm(w, frame.id, user, seen, draft_id, now, caps,
                                             people), context)
            case MomentsFeed():
                self._feed(session, user, frame)

    # ----- lookups -----

    def _customer(self, employee: User, handle: str) -> User:
        return self._customers(employee, [handle])[0]

    def _customers(self, employee: User, handles: list[str]) -> list[User]:
        """These customers of the employee, checked in one read; `not_contact` names the
        first handle that is not one."""
        _employee_only(employee)
        store = self.app.store
        users = [store.user_by_handle(h) for h in handles]
        found = store.read(tables.contacts_among, employee.uid,
                           [u.uid for u in users if u is not None])
        for handle, user in zip(handles, users, strict=True):
            if user is None or user.uid not in found:
                raise ProtocolError(ErrorCode.NOT_CONTACT, f"{handle!r} is not your customer")
        return users  # type: ignore[return-value] - every one checked above

    def _employee(self, handle: str) -> User:
        found = self.app.store.user_by_handle(handle)
        if found is None or found.realm != ENTERPRISE:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no employee {handle!r}")
        return found

    def _author(self, employee: User) -> Profile:
        """An employee as their customers see them (the badge), built once per post."""
        badge = People(self.app.store).badge(employee, CONSUMER)
        return Profile(user=employee.handle, display=badge.display, title=badge.title,
                       corp=badge.corp)

    def _feed_people(self, employee: User) -> list[int]:
        """The customers who see an employee's moments."""
        return [c.consumer for c in self.app.store.read(tables.contacts_of_employee,
                                                        employee.uid)]

    # ----- tags -----

    def _tag_list(self, session: Session, user: User, request_id: int) -> None:
        _employee_only(user)
        groups = self.app.store.read(cust.tag_groups, user.corp_id)
        tags = self.app.store.read(cust.tags, user.corp_id)
        session.push(event_frame(TagsReply(
            re=request_id, groups=tuple(Department(dept=g, name=n) for g, n in groups.items()),
            tags=tuple(TagInfo(tag=t, group=g, name=n) for t, (g, n) in tags.items()))))

    # ----- mass messages -----

    def _broadcast(self, session: Session, user: User, frame: BroadcastCustomers,
                   now: int) -> None:
        _employee_only(user)
        limits = self.app.config.limits
        if not 0 < len(frame.client_msg_id) <= 32:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "client_msg_id has 1 to 32 characters")
        if not frame.text:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "text is empty")
        if len(frame.text) > limits.max_text_chars:
            raise ProtocolError(ErrorCode.TEXT_TOO_LONG,
                                f"text is longer than {limits.max_text_chars} characters")
        if frame.match not in (None, "any", "all"):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "match is 'any' or 'all'")
        session.inflight += 1  # answered by the broadcast task, when it is done
        self.app.spawn(self._run_broadcast, session, user, frame, now)

    async def _targets(self, employee: User, frame: BroadcastCustomers) -> list[User]:
        """The customers a mass message goes to, looked up TARGETS_PER_STEP at a time
        with the event loop running in between: 20,000 lookups in one go stalled
        every conversation for ~60 ms (the chat's e2e max during a broadcast)."""
        store, cap = self.app.store, self.caps.broadcast_max
        out: list[User] = []
        if frame.users:
            handles = list(dict.fromkeys(frame.users))
            if len(handles) > cap:
                raise _too_many(cap)
            for start in range(0, len(handles), TARGETS_PER_STEP):
                out += self._customers(employee, handles[start:start + TARGETS_PER_STEP])
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

    async def _run_broadcast(self, session: Session, user: User, frame: BroadcastCustomers,
                             now: int) -> None:
        """Commit the broadcast in bounded chunks, each fanned out as it lands, so other
        traffic goes on in between."""
        try:
            targets = await self._targets(user, frame)
        except ProtocolError as exc:
            session.sent_one()
            session.push(error_frame(exc.code, exc.message, frame.id))
            return
        except StorageError:  # a background task: an escaping error would stop the server
            session.sent_one()
            session.push(error_frame(ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable",
                                     frame.id))
            return
        sent, skipped = 0, 0
        day, caps, archive = day_number(now), self.caps, archive_corp
        for start in range(0, len(targets), BROADCAST_CHUNK):
            chunk = targets[start:start + BROADCAST_CHUNK]

            def op(w, chunk=chunk):  # noqa: ANN001, ANN202 - runs on the writer thread
                return ops.broadcast_chunk(w, user, chunk, frame.client_msg_id, frame.text,
                                           now, day, caps, archive)

            # The bulk lane: committed alone, after pending chat writes. Safe out of order
            # with them: a chunk touches only its own direct conversations, and the next
            # is submitted only after this one commits.
            try:
                result = await self.app.write(op, bulk=True)  # fanned out in commit order
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

    def _draft(self, user: User, frame: MomentDraft, now: int, submit,  # noqa: ANN001
               context: NoticeContext) -> None:
        _corp_admin(user)
        employees = [self._employee(h) for h in frame.employees]
        for employee in employees:
            _enforce(may_act_for(user, employee))
        text, attachments = frame.text, tuple(frame.attachments or ())
        looker = People(self.app.store)
        author = looker.profile(user, user)

        submit(lambda w: ops.draft(w, frame.id, user, author, text, attachments, employees, now),
               context)

    def _feed(self, session: Session, user: User, frame: MomentsFeed) -> None:
        store, limit = self.app.store, min(frame.limit or 20, 100)
        if frame.employee is not None:
            _corp_admin(user)
            employee = self._employee(frame.employee)
            _enforce(may_act_for(user, employee))
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
        page = [ops.moment_info(m, looker.profile(store.user(m.employee), user))  # type: ignore[arg-type]
                for m in found[:limit]]
        session.push(event_frame(MomentsPage(re=frame.id, moments=tuple(page),
                                             more=len(found) > limit)))


def _too_many(cap: int) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, f"at most {cap} customers at once")


def _employee_only(user: User) -> None:
    _enforce(may_serve_customers(user))


def _corp_admin(user: User) -> None:
    _enforce(may_administer_corp(user))


def _enforce(verdict: Verdict) -> None:
    if not verdict.allowed:
        raise verdict.refusal.error()


def _matches(have: set[int], wanted: set[int], match: str | None) -> bool:
    return wanted <= have if match == "all" else bool(wanted & have)
