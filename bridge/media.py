"""Who may fetch a file, and who may attach it (issue 19, docs/protocol.md §30).

- "Rights follow the messages: whoever may see a message may fetch its
  attachments; everyone else gets 404" (DESIGN.md, Media). Whether someone
  sees a message is the rule of sync and history — a member sees what was
  posted between joining and leaving (`Membership.sees`) — and whether they
  see a moment is the rule of `moments.feed`: its author, the author's
  current customers, and the corp admins of the author's corp.
- "Recall hides the attachment from everyone but the archive": a file that
  only recalled messages carry is hidden from everyone, its uploader too.
- The uploader may fetch (and send) their own upload; before any message
  carries it, nobody else may even learn that it exists.
- "Sending a media id you did not upload and cannot see → no_such_media."

Each rule here is pure: the server gathers the facts of every reference
(store/media.py `sightings`) inside one read transaction and the rule stops
at the first that decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from corpchat.store import CONSUMER, ENTERPRISE, User
from corpchat.store.media import MessageSighting, MomentSighting, Sighting

from .verdict import ALLOW, Verdict, refuse


def sees_moment(viewer: User, sighting: MomentSighting) -> bool:
    """The rule of `moments.feed`: the author, their customers, their corp's admins."""
    author = sighting.author
    if author is None:
        return False
    if viewer.uid == author.uid:
        return True
    if viewer.realm == CONSUMER:
        return sighting.viewer_is_customer
    return (viewer.realm == ENTERPRISE and viewer.corp_admin
            and viewer.corp_id == author.corp_id)


def _seen(viewer: User, sighting: Sighting) -> bool:
    if isinstance(sighting, MomentSighting):
        return sees_moment(viewer, sighting)
    return sighting.membership is not None and sighting.membership.sees(sighting.pos)


def may_fetch(viewer: User, *, uploader: int, sightings: Iterable[Sighting]) -> Verdict:
    """Whether `viewer` may fetch a file (refused: not_found, never forbidden)."""
    referenced = False
    live = False
    for sighting in sightings:
        referenced = True
        if isinstance(sighting, MessageSighting) and sighting.recalled:
            continue
        live = True
        if viewer.uid == uploader or _seen(viewer, sighting):
            return ALLOW
    if viewer.uid == uploader and (live or not referenced):
        return ALLOW
    return refuse("not_found", "no such media")


def may_attach(viewer: User, *, uploader: int, committed: bool,
               sightings: Iterable[Sighting]) -> Verdict:
    """Whether `viewer` may name a file in a message or moment."""
    if not committed:  # a pending upload: its uploader's alone
        if viewer.uid == uploader:
            return ALLOW
        return refuse("no_such_media", "no such media you may use")
    verdict = may_fetch(viewer, uploader=uploader, sightings=sightings)
    return verdict if verdict.allowed else refuse("no_such_media", "no such media you may use")
