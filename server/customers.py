"""Customer management (issue 7): tags, mass messages, moments, transfer refusals.

Reads run here; changes are writer operations checked against the bridge's
rules (bridge/customers.py) inside the batch's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from corpchat.bridge import (
    CustomerCaps,
    Verdict,
    archive_corp,
    day_number,
    may_act_for,
    may_add_tag,
    may_administer_corp,
    may_mass_message,
    may_post_moment,
    may_serve_customers,
)
from corpchat.protocol import (
    Attachment,
    BroadcastCustomers,
    BroadcastDone,
    ContactTag,
    Created,
    Department,
    ErrorCode,
    Frame,
    MomentConfirm,
    MomentDraft,
    MomentEvent,
    MomentInfo,
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
from corpchat.store import CONSUMER, ENTERPRISE, Refused, StorageError, User
from corpchat.store import contacts as tables
from corpchat.store import customers as cust
from corpchat.store import media as media_records
from corpchat.store.records import StoredAttachment

from .bridge_ops import Notices
from .hub import NoticeContext, error_frame, media_info
from .media import MAX_NAME_CHARS, check_attachments, claim_attachments, commit_attachments
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
                submit(lambda w: _created(frame.id, _add_tag_group(w, user.corp_id, name)),
                       context)
            case TagAdd(group=group, name=name):
                _corp_admin(user)
                submit(lambda w: _add_tag(w, frame.id, user.corp_id, group, name, caps), context)
            case TagRemove(tag=tag):
                _corp_admin(user)
                submit(lambda w: _remove_tag(w, user.corp_id, tag), context)
            case ContactTag(user=handle, add=add, remove=remove):
                consumer = self._customer(user, handle)
                submit(lambda w: _tag_contact(w, user, consumer, add or (), remove or ()),
                       context)
            case BroadcastCustomers():
                self._broadcast(session, user, frame, now)
            case TransferRefuse(employee=handle):
                employee = self._employee(handle)
                submit(lambda w: app.transfers.refuse_op(w, user, employee), context)
            case MomentPost(text=text, attachments=attachments):
                _employee_only(user)
                people, seen = self._feed_people(user), self._author(user)
                files = self._moment_media(frame.media, len(attachments or ()))

                def post(w):  # noqa: ANN001, ANN202 - runs on the writer thread
                    found = check_attachments(w, user, files)
                    if isinstance(found, Refused):
                        return found
                    posted = _post(w, frame.id, user, seen, text, attachments or (), 0, now,
                                   caps, people, found)
                    if not isinstance(posted, Refused):
                        commit_attachments(w, found)
                    return posted
                submit(post, context)
            case MomentDraft():
                self._draft(user, frame, now, submit, context)
            case MomentConfirm(draft=draft_id):
                _employee_only(user)
                people, seen = self._feed_people(user), self._author(user)
                submit(lambda w: _confirm(w, frame.id, user, seen, draft_id, now, caps, people),
                       context)
            case MomentsFeed():
                self._feed(session, user, frame)

    def _moment_media(self, wanted: tuple[Attachment, ...] | None,
                      references: int) -> tuple[Attachment, ...]:
        """A moment's uploaded files, checked for what needs no lookup (§29.3)."""
        files = wanted or ()
        most = min(self.app.config.media.max_attachments, self.caps.moment_attachments)
        if len(files) + references > most:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"at most {most} attachments")
        if any(a.name is not None and len(a.name) > MAX_NAME_CHARS for a in files):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "an attachment's name is too long")
        return files

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
        if len(frame.attachments or ()) > self.app.config.media.max_attachments:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "too many attachments")
        if not frame.text and not frame.attachments:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "text is empty")
        if len(frame.text) > limits.max_text_chars:
            # §25: bad_request, unlike send's text_too_long (the spec's choice, kept)
            raise ProtocolError(ErrorCode.BAD_REQUEST,
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
        if frame.attachments:  # checked (and committed) once, before any chunk
            files = frame.attachments
            claimed = await self.app.write(lambda w: check_attachments(w, user, files))
            if isinstance(claimed, Refused | BaseException):
                session.sent_one()
                code, text = (claimed.code, claimed.message) if isinstance(claimed, Refused) \
                    else (ErrorCode.STORAGE_UNAVAILABLE, "storage unavailable")
                session.push(error_frame(code, text, frame.id))
                return
        sent, skipped = 0, 0
        day, caps, archive = day_number(now), self.caps, archive_corp
        for start in range(0, len(targets), BROADCAST_CHUNK):
            chunk = targets[start:start + BROADCAST_CHUNK]

            def op(w, chunk=chunk):  # noqa: ANN001, ANN202 - runs on the writer thread
                return _broadcast_chunk(w, user, chunk, frame, now, day, caps, archive)

            # The bulk lane: committed alone, after pending chat writes. Safe out of order
            # with them: a chunk touches only its own direct conversations, and the next
            # is submitted only after this one commits.
            try:
                result = await self.app.write(op, bulk=True)  # fanned out in commit order
            except StorageError:  # the writer is stopping: stop here, as on a failed commit
                break
            if isinstance(result, BaseException | Refused):
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
        files = self._moment_media(frame.media, len(attachments))
        looker = People(self.app.store)
        author = looker.profile(user, user)

        def op(w):  # noqa: ANN001, ANN202
            found = claim_attachments(w, user, files)  # the admin's files, kept with the draft
            if isinstance(found, Refused):
                return found
            draft_id = w.new_id("moment_draft")
            w.do(cust.put_draft, user.corp_id, draft_id,
                 [user.uid, text, list(attachments), [e.uid for e in employees], [],
                  [a.row() for a in found]])
            info = MomentInfo(moment=0, author=author, time=now, text=text,
                              attachments=attachments or None,
                              media=tuple(media_info(a) for a in found) or None)
            event = MomentEvent(moment=info, draft=draft_id)
            return Notices(events=tuple((e.uid, event) for e in employees),
                           reply=Created(re=frame.id, id=draft_id))

        submit(op, context)

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
        page = [_moment_info(m, looker.profile(store.user(m.employee), user))  # type: ignore[arg-type]
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
        raise ProtocolError(ErrorCode(verdict.code), verdict.reason)


def _matches(have: set[int], wanted: set[int], match: str | None) -> bool:
    return wanted <= have if match == "all" else bool(wanted & have)


def _created(request_id: int, new_id: int) -> Notices:
    return Notices(reply=Created(re=request_id, id=new_id))


def _add_tag_group(w, corp_id: int, name: str) -> int:  # noqa: ANN001
    group_id = w.new_id("tag_group")
    w.do(cust.put_tag_group, corp_id, group_id, name[:30])
    return group_id


def _add_tag(w, request_id: int, corp_id: int, group: int, name: str,  # noqa: ANN001
             caps: CustomerCaps) -> Notices | Refused:
    if group not in w.do(cust.tag_groups, corp_id):
        return Refused("not_found", f"no tag group {group}")
    verdict = may_add_tag(len(w.do(cust.tags, corp_id)), name, caps)
    if not verdict.allowed:
        return Refused(verdict.code, verdict.reason)
    tag_id = w.new_id("tag")
    w.do(cust.put_tag, corp_id, tag_id, group, name)
    return _created(request_id, tag_id)


def _remove_tag(w, corp_id: int, tag: int) -> Notices | Refused:  # noqa: ANN001
    if not w.do(cust.delete_tag, corp_id, tag):
        return Refused("not_found", f"no tag {tag}")
    return Notices()


def _tag_contact(w, employee: User, consumer: User, add, remove) -> Notices | Refused:  # noqa: ANN001
    library = w.do(cust.tags, employee.corp_id)
    unknown = [t for t in (*add, *remove) if t not in library]
    if unknown:
        return Refused("not_found", f"no tags {unknown}")
    for tag in add:
        w.do(cust.set_contact_tag, employee.uid, consumer.uid, tag, True)
    for tag in remove:
        w.do(cust.set_contact_tag, employee.uid, consumer.uid, tag, False)
    return Notices()


def _broadcast_chunk(w, sender: User, chunk: list[User], frame: BroadcastCustomers,  # noqa: ANN001
                     now: int, day: int, caps: CustomerCaps, archive) -> Notices:  # noqa: ANN001
    """Store one chunk of a mass message; the hub fans its messages out."""
    sent, skipped, stored = 0, 0, []
    files = check_attachments(w, sender, frame.attachments or ())
    if isinstance(files, Refused):  # checked before the first chunk: only a race gets here
        return files  # type: ignore[return-value]
    for consumer in chunk:
        cmid = f"{frame.client_msg_id}:{consumer.uid}"
        if w.find_sent(uid=sender.uid, client_msg_id=cmid) is not None:
            continue  # a retried broadcast: this one went out already
        used = w.do(tables.quota_used, f"mass.{sender.uid}", consumer.uid, day)
        if not may_mass_message(used, caps).allowed:
            skipped += 1
            continue
        w.do(tables.use_quota, f"mass.{sender.uid}", consumer.uid, day)
        msg, _ = w.send_direct(sender, consumer, cmid, frame.text, now,
                               archive_corp=archive(sender, consumer), attachments=files)
        stored.append(msg)
        sent += 1
    if stored:
        commit_attachments(w, files)
    return Notices(messages=tuple(stored), sent=sent, skipped=skipped, keep_convs=False)


def _post(w, request_id: int, employee: User, seen: Profile, text: str, attachments,  # noqa: ANN001
          authored_by: int, now: int, caps: CustomerCaps, audience: list[int],
          files: tuple[StoredAttachment, ...] = ()) -> Notices | Refused:
    day = day_number(now)
    verdict = may_post_moment(w.do(tables.quota_used, "moments", employee.uid, day), text,
                              len(attachments) + len(files), caps)
    if not verdict.allowed:
        return Refused(verdict.code, verdict.reason)
    if len(files) > 1 and any(f.kind == "video" for f in files):
        return Refused("bad_request", "a moment holds up to 9 images, or one video alone")
    w.do(tables.use_quota, "moments", employee.uid, day)
    moment = cust.Moment(employee.uid, w.new_id("moment"), now, text, tuple(attachments),
                         authored_by, files)
    w.do(cust.put_moment, moment)
    for f in files:
        w.do(media_records.add_moment_ref, media_id=f.media_id, employee=employee.uid,
             moment=moment.moment_id)
    event = MomentEvent(moment=_moment_info(moment, seen))
    return Notices(events=tuple((uid, event) for uid in audience),
                   reply=Created(re=request_id, id=moment.moment_id))


def _confirm(w, request_id: int, employee: User, seen: Profile, draft_id: int,  # noqa: ANN001
             now: int, caps: CustomerCaps, audience: list[int]) -> Notices | Refused:
    draft = w.do(cust.draft, employee.corp_id, draft_id)
    if draft is None or employee.uid not in draft[3]:
        return Refused("not_found", f"no draft {draft_id} for you")
    author, text, attachments, employees, confirmed, *rest = draft
    if employee.uid in confirmed:
        return Refused("exists", "already confirmed")
    files = tuple(StoredAttachment.from_row(row) for row in rest[0]) if rest else ()
    result = _post(w, request_id, employee, seen, text, attachments, author, now, caps,
                   audience, files)
    if not isinstance(result, Refused):
        w.do(cust.put_draft, employee.corp_id, draft_id,
             [author, text, attachments, employees, [*confirmed, employee.uid], *rest])
    return result


def _moment_info(moment: cust.Moment, author) -> MomentInfo:  # noqa: ANN001
    return MomentInfo(moment=moment.moment_id, author=author, time=moment.time_ms,
                      text=moment.text, attachments=moment.attachments or None,
                      media=tuple(media_info(a) for a in moment.media) or None)

