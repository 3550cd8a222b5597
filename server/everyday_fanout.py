"""Fan-out of everyday messaging (1.5), for the hub: per-receiver marks of a
message (mentioned, quote hidden, muted), the `edited`, `reaction` and `mute`
events, and the coalescing of reactions (one `reaction` per message per commit).

Reaction events wait (1.8): a session that gets nothing but `reaction` frames from
a commit holds them (`Session.held`) until its next write — typically the next
message of the group, in the same system call — or `[everyday] reaction_hold_ms`,
whichever comes first. A group where every message draws a reaction then costs
about one write per message per member, as without reactions, not two. A session
that gets any other frame from the commit gets its reactions in order with it, and
held frames go in front of anything written later, so on every connection
positions keep increasing.

What a reaction costs per receiver is kept small (issue 20, round 3: the mix's
hub step went from 1.55x to 1.2x plain): the event is encoded once without the
dataclasses (wsframes.reaction_frame); its audience — every session of every
current member — is kept per conversation (`ConvState.audience`) while no session
comes or goes (`Online.epoch`) and the membership does not change; a session holds
the frame's bytes themselves (the same object for every receiver: no list each);
and the hub's `write_out` joins what a session holds with its next frame once for
all the receivers that hold the same bytes and get the same frame.

The hub's fan-out stays one pass over the members building each variant once
(hub._Variants): `marks` is asked for only when a message mentions someone,
quotes, or its conversation has a mute; a plain message costs one dict lookup.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import trio

from corpchat.protocol import (
    Edited,
    ForwardedFrom,
    Msg,
    MuteEvent,
    Quote,
)
from corpchat.protocol.clock import Clock
from corpchat.protocol.frames_everyday import MENTION_ALL
from corpchat.store import CONSUMER, ENTERPRISE, Membership, Message, Pending, Store
from corpchat.store import everyday as tables
from corpchat.store.everyday import MuteState

from .media import media_info
from .people import People
from .session import MAX_HELD_BYTES, Session
from .wsframes import event_frame, reaction_frame

Out = dict[Session, list[bytes]]


def everyday_fields(event: Msg, msg: Message) -> Msg:
    """A message event with its 1.5 fields (mentions, the quote with its text,
    the origin of a forward, the notice flag, the edit version)."""
    quote = None
    if msg.quote is not None:
        q = msg.quote
        quote = Quote(seq=q.seq, sender=q.sender, kind=None if q.kind == "text" else q.kind,
                      text=q.text or None)
    origin = None
    if msg.forwarded is not None:
        origin = ForwardedFrom(sender=msg.forwarded.sender, time=msg.forwarded.time_ms)
    return replace(event, mentions=msg.mentions or None,
                   reply_to=msg.quote.seq if msg.quote else None, quote=quote,
                   forwarded_from=origin, notice=msg.notice or None,
                   version=msg.version or None, edited_at=msg.edited_ms or None)


def marked(event: Msg, silent: bool, mentioned: bool, unquoted: bool) -> Msg:
    """A receiver's variant: silent, mentioning them, without the quote's text."""
    quote = event.quote
    if unquoted and quote is not None:
        quote = replace(quote, text=None)
    return replace(event, silent=silent or None, mentioned=mentioned or None, quote=quote)


def badge_origin(event: Msg, store: Store, consumer: bool) -> Msg:
    """A forward's origin as a receiver of this realm may see its original sender."""
    origin = event.forwarded_from
    if origin is None:
        return event
    sender = People(store).user(origin.sender)
    if sender is None:
        return event
    badge = People(store).badge(sender, CONSUMER if consumer else ENTERPRISE)
    return replace(event, forwarded_from=replace(
        origin, display=badge.display, corp=badge.corp, external=badge.external or None))


MAX_POS = 1 << 63  # past every stream position


@dataclass(slots=True)
class Marks:
    """Who a message mentions, whose quote is hidden, who muted its conversation."""

    everyone: bool
    mentioned: frozenset[int]
    quote_pos: int  # 0: no quote
    muted: dict[int, int]  # uid -> until (0: until unmuted)
    now_ms: int
    urgent: bool
    sender: int  # one's own message mentions nobody to oneself (one's other devices)
    # For the hub's loop, so that it asks `of` only about receivers it may mark: those
    # in `special` (mentioned, or muting), and those who joined after `quote_bound`
    # (they do not see the quote; with @all, everyone passes).
    special: frozenset[int] = frozenset()
    quote_bound: int = MAX_POS

    def __post_init__(self) -> None:
        self.special = self.mentioned | frozenset(self.muted)
        self.quote_bound = -1 if self.everyone else self.quote_pos or MAX_POS

    def of(self, uid: int, membership: Membership) -> tuple[bool, bool, bool]:
        """(mentioned, the quote's text hidden, hushed by a mute) for one receiver."""
        mentioned = (self.everyone or uid in self.mentioned) and uid != self.sender
        unquoted = bool(self.quote_pos) and not membership.sees(self.quote_pos)
        hushed = False
        if self.muted and not mentioned and not self.urgent:
            until = self.muted.get(uid)
            hushed = until is not None and (until == 0 or until > self.now_ms)
        return mentioned, unquoted, hushed


class EverydayFanout:
    def __init__(self, hub: Any) -> None:  # the Hub (which imports this module)
        self.hub = hub
        self.muted: dict[int, dict[int, int]] = defaultdict(dict)  # conv -> uid -> until
        self._last_change: dict[tuple[int, int], Any] = {}  # this batch's, per message
        self._folded: dict[tuple[int, int], list[tuple[str, str, bool]]] = {}  # changes
        self.clock: Clock | None = None  # set by the App (mutes end at a time)
        self.hold_s = 0.0  # [everyday] reaction_hold_ms, set by the App (0: at commit)
        self._holding: dict[int, list[Session]] = {}  # id(audience) -> audience
        self._held_wake = trio.Event()

    def load(self) -> None:
        """Read every mute (at start, before anything is fanned out)."""
        for (uid, conv), until in self.hub.store.read(tables.all_mutes).items():
            self.muted[conv][uid] = until

    def now_ms(self) -> int:
        return self.clock.now_ms() if self.clock is not None else 0

    def marks(self, msg: Message) -> Marks:
        everyone = MENTION_ALL in msg.mentions
        uids = set()
        if msg.mentions and not everyone:
            for handle in msg.mentions:
                user = self.hub.store.user_by_handle(handle)
                if user is not None:
                    uids.add(user.uid)
        muted = self.muted.get(msg.conv) or {}
        sender = self.hub.store.user_by_handle(msg.sender) if msg.mentions else None
        return Marks(everyone, frozenset(uids), msg.quote.pos if msg.quote else 0, muted,
                     self.now_ms() if muted else 0, msg.urgent,
                     sender.uid if sender is not None else 0)

    # ----- events -----

    def _audience(self, conv: int, message_pos: int) -> list[Session]:
        """Every session of every current member who sees the message at `message_pos`:
        the conversation's kept audience when every current member joined by then."""
        state = self.hub.conversation(conv)
        if state is None:
            return []
        epoch = self.hub.online.epoch
        if message_pos >= state.latest_join:
            if state.audience is None or state.audience_epoch != epoch:
                state.audience = self._sessions(state.members, None)
                state.audience_epoch = epoch
            return state.audience
        return self._sessions(state.members, message_pos)

    def _sessions(self, members: dict[int, Membership], upto: int | None) -> list[Session]:
        """The sessions of current members who joined by `upto` (None: all of them)."""
        sessions = self.hub.sessions
        out: list[Session] = []
        for uid, membership in members.items():
            if not membership.left_pos and (upto is None or membership.joined_pos <= upto):
                out.extend(sessions.get(uid, ()))
        return out

    def edited(self, msg: Message, pos: int, out: Out) -> None:
        self.hub.head = pos
        frame = event_frame(Edited(conv=msg.conv, seq=msg.seq, pos=pos, text=msg.text,
                                   edited_at=msg.edited_ms, version=msg.version,
                                   attachments=tuple(map(media_info, msg.attachments)) or None))
        for session in self._audience(msg.conv, msg.pos):
            out[session].append(frame)

    def begin(self, batch: list[Pending]) -> None:
        """Note each message's last reaction change in the batch: the coalesced event
        goes out there, so that on every connection positions keep increasing."""
        self._last_change.clear()
        self._folded.clear()
        for pending in batch:
            result = pending.result
            if getattr(result, "state", None) is not None and hasattr(result, "emoji"):
                self._last_change[(result.conv, result.seq)] = result

    def reacted(self, reacted: Any, out: Out) -> None:
        """One committed reaction change (ops.everyday.Reacted with a state)."""
        result: Any = reacted
        key = (result.conv, result.seq)
        changes = self._folded.get(key)
        if changes is None:
            changes = self._folded[key] = []
        changes.append((result.user, result.emoji, result.on))
        self.hub.head = max(self.hub.head, result.state.pos)
        if self._last_change.get(key) is not reacted:
            return  # a later change of this message in the batch carries it
        state = result.state
        frame = reaction_frame(state.conv, state.seq, state.pos, state.counts, changes)
        self._send_reaction(self._audience(result.conv, result.message_pos), frame, out)

    def _send_reaction(self, audience: list[Session], frame: bytes, out: Out) -> None:
        """A `reaction` to every session of every current member who sees the message:
        in the batch's frames of a session that has some already (after them, in
        order), else held for its next write (1.8) — frames of this batch that come
        after are written behind it (Session.push_many)."""
        if not self.hold_s:
            for session in audience:
                out[session].append(frame)
            return
        for session in audience:
            if out and session in out:  # (a reaction's own batch has nothing before it)
                out[session].append(frame)
                continue
            held = session.held  # the hot path: no call per receiver
            if held is None:
                session.held = frame
            elif len(held) < MAX_HELD_BYTES:
                session.held = held + frame
            else:
                session.release()
                session.held = frame
        if not self._holding:
            self._held_wake.set()
        # by the list (an audience is replaced, never changed): one entry per
        # conversation however many reactions; a session written since holds nothing
        self._holding[id(audience)] = audience

    # ----- held reaction events (1.8) -----

    def release(self) -> None:
        """Write every held frame now."""
        holding, self._holding = self._holding, {}
        for audience in holding.values():
            for session in audience:
                session.release()

    async def run(self) -> None:
        """Write held reaction events at most `hold_s` after they were held."""
        while True:
            await self._held_wake.wait()
            self._held_wake = trio.Event()
            await trio.sleep(self.hold_s)
            self.release()

    def mute_changed(self, uid: int, state: MuteState, out: Out) -> None:
        self.hub.head = max(self.hub.head, state.pos)
        if state.until is None:
            muting = self.muted.get(state.conv, {})
            muting.pop(uid, None)
            if not muting:  # no mute left: the conversation's messages take the plain path
                self.muted.pop(state.conv, None)
        else:
            self.muted[state.conv][uid] = state.until
        frame = event_frame(MuteEvent(conv=state.conv, pos=state.pos,
                                      muted=state.until is not None,
                                      until=state.until or None))
        for session in self.hub.sessions.get(uid, ()):
            out[session].append(frame)
