"""Customer management's writes: tags, mass-message chunks, moments and drafts.

Each checks the bridge's rules (bridge/customers.py) against the state in
the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from corpchat.bridge import (
    CustomerCaps,
    day_number,
    may_add_tag,
    may_mass_message,
    may_post_moment,
)
from corpchat.protocol import (
    Attachment,
    Created,
    ErrorCode,
    MomentEvent,
    MomentInfo,
    Profile,
    Refusal,
)
from corpchat.store import User, WriteTxn, member_tags
from corpchat.store import contacts as tables
from corpchat.store import customers as cust
from corpchat.store import media as media_records
from corpchat.store.records import StoredAttachment

from ..hub import media_info
from ..media import check_attachments, commit_attachments
from .results import NOTHING, Notices


def add_tag_group(w: WriteTxn, request_id: int, corp_id: int, name: str) -> Notices:
    group_id = w.new_id("tag_group")
    w.do(cust.put_tag_group, corp_id, group_id, name[:30])
    return Notices(reply=Created(re=request_id, id=group_id))


def add_tag(w: WriteTxn, request_id: int, corp_id: int, group: int, name: str,
            caps: CustomerCaps) -> Notices | Refusal:
    if group not in w.do(cust.tag_groups, corp_id):
        return Refusal(ErrorCode.NOT_FOUND, f"no tag group {group}")
    verdict = may_add_tag(len(w.do(cust.tags, corp_id)), name, caps)
    if not verdict.allowed:
        return verdict.refusal
    tag_id = w.new_id("tag")
    w.do(cust.put_tag, corp_id, tag_id, group, name)
    return Notices(reply=Created(re=request_id, id=tag_id))


def remove_tag(w: WriteTxn, corp_id: int, tag: int) -> Notices | Refusal:
    if not w.do(cust.delete_tag, corp_id, tag):
        return Refusal(ErrorCode.NOT_FOUND, f"no tag {tag}")
    w.do(member_tags.drop_tag, tag=tag)  # employees' tags too (app scopes, docs/api.md)
    return NOTHING


def tag_contact(w: WriteTxn, employee: User, consumer: User, add: Sequence[int],
                remove: Sequence[int]) -> Notices | Refusal:
    library = w.do(cust.tags, employee.corp_id)
    unknown = [t for t in (*add, *remove) if t not in library]
    if unknown:
        return Refusal(ErrorCode.NOT_FOUND, f"no tags {unknown}")
    for tag in add:
        w.do(cust.set_contact_tag, employee.uid, consumer.uid, tag, True)
    for tag in remove:
        w.do(cust.set_contact_tag, employee.uid, consumer.uid, tag, False)
    return NOTHING


def broadcast_chunk(w: WriteTxn, sender: User, chunk: list[User], client_msg_id: str,
                    text: str, now: int, day: int, caps: CustomerCaps,
                    archive: Callable[[User, User], int | None],
                    wanted: tuple[Attachment, ...] = ()) -> Notices | Refusal:
    """Store one chunk of a mass message; the hub fans its messages out."""
    sent, skipped, stored = 0, 0, []
    files = check_attachments(w, sender, wanted)
    if isinstance(files, Refusal):  # checked before the first chunk: only a race gets here
        return files
    for consumer in chunk:
        cmid = f"{client_msg_id}:{consumer.uid}"
        if w.find_sent(uid=sender.uid, client_msg_id=cmid) is not None:
            continue  # a retried broadcast: this one went out already
        used = w.do(tables.quota_used, f"mass.{sender.uid}", consumer.uid, day)
        if not may_mass_message(used, caps).allowed:
            skipped += 1
            continue
        w.do(tables.use_quota, f"mass.{sender.uid}", consumer.uid, day)
        msg, _ = w.send_direct(sender, consumer, cmid, text, now,
                               archive_corp=archive(sender, consumer), attachments=files)
        stored.append(msg)
        sent += 1
    if stored:
        commit_attachments(w, files)
    return Notices(messages=tuple(stored), sent=sent, skipped=skipped, keep_convs=False)


def post(w: WriteTxn, request_id: int, employee: User, seen: Profile, text: str,
         attachments: Sequence[str], authored_by: int, now: int, caps: CustomerCaps,
         audience: list[int], files: tuple[StoredAttachment, ...] = ()) -> Notices | Refusal:
    day = day_number(now)
    verdict = may_post_moment(w.do(tables.quota_used, "moments", employee.uid, day), text,
                              len(attachments) + len(files), caps)
    if not verdict.allowed:
        return verdict.refusal
    if len(files) > 1 and any(f.kind == "video" for f in files):
        return Refusal(ErrorCode.BAD_REQUEST, "a moment holds up to 9 images, or one video")
    w.do(tables.use_quota, "moments", employee.uid, day)
    moment = cust.Moment(employee.uid, w.new_id("moment"), now, text, tuple(attachments),
                         authored_by, files)
    w.do(cust.put_moment, moment)
    for f in files:
        w.do(media_records.add_moment_ref, media_id=f.media_id, employee=employee.uid,
             moment=moment.moment_id)
    event = MomentEvent(moment=moment_info(moment, seen))
    return Notices(events=tuple((uid, event) for uid in audience),
                   reply=Created(re=request_id, id=moment.moment_id))


def post_with_media(w: WriteTxn, request_id: int, employee: User, seen: Profile, text: str,
                    attachments: Sequence[str], now: int, caps: CustomerCaps,
                    audience: list[int], wanted: tuple[Attachment, ...]) -> Notices | Refusal:
    """`moment.post` with uploaded files: checked, and kept only if the moment is."""
    files = check_attachments(w, employee, wanted)
    if isinstance(files, Refusal):
        return files
    posted = post(w, request_id, employee, seen, text, attachments, 0, now, caps, audience,
                  files)
    if not isinstance(posted, Refusal):
        commit_attachments(w, files)
    return posted


def confirm(w: WriteTxn, request_id: int, employee: User, seen: Profile, draft_id: int,
            now: int, caps: CustomerCaps, audience: list[int]) -> Notices | Refusal:
    draft = w.do(cust.draft, employee.corp_id, draft_id)
    if draft is None or employee.uid not in draft[3]:
        return Refusal(ErrorCode.NOT_FOUND, f"no draft {draft_id} for you")
    author, text, attachments, employees, confirmed, *rest = draft
    if employee.uid in confirmed:
        return Refusal(ErrorCode.EXISTS, "already confirmed")
    files = tuple(StoredAttachment.from_row(row) for row in rest[0]) if rest else ()
    result = post(w, request_id, employee, seen, text, attachments, author, now, caps,
                  audience, files)
    if not isinstance(result, Refusal):
        w.do(cust.put_draft, employee.corp_id, draft_id,
             [author, text, attachments, employees, [*confirmed, employee.uid], *rest])
    return result


def draft(w: WriteTxn, request_id: int, admin: User, author: Profile, text: str,
          attachments: tuple[str, ...], employees: list[User], now: int,
          wanted: tuple[Attachment, ...] = ()) -> Notices | Refusal:
    """A corp admin's moment for employees to confirm, each posting it as theirs; its
    files (the admin's) are kept with the draft."""
    files = check_attachments(w, admin, wanted)
    if isinstance(files, Refusal):
        return files
    commit_attachments(w, files)
    draft_id = w.new_id("moment_draft")
    w.do(cust.put_draft, admin.corp_id, draft_id,
         [admin.uid, text, list(attachments), [e.uid for e in employees], [],
          [a.row() for a in files]])
    info = MomentInfo(moment=0, author=author, time=now, text=text,
                      attachments=attachments or None,
                      media=tuple(media_info(a) for a in files) or None)
    event = MomentEvent(moment=info, draft=draft_id)
    return Notices(events=tuple((e.uid, event) for e in employees),
                   reply=Created(re=request_id, id=draft_id))


def moment_info(moment: cust.Moment, author: Profile) -> MomentInfo:
    return MomentInfo(moment=moment.moment_id, author=author, time=moment.time_ms,
                      text=moment.text, attachments=moment.attachments or None,
                      media=tuple(media_info(a) for a in moment.media) or None)
