"""Who is connected: every live session by user, and the users online per realm.

The hub fans out through `sessions`; quiet hours and the push gateway only
ask who is online and send an event to users (`send_to_users`), so they
depend on this and not on the hub.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from corpchat.protocol import Frame

from .session import Session
from .wsframes import event_frame


class Online:
    def __init__(self) -> None:
        self.sessions: dict[int, list[Session]] = defaultdict(list)
        # users with a session, per realm: kept here because counting them from
        # `sessions` on demand stalled the event loop (~15 ms at 10,000 connections)
        self.online_by_realm: Counter[str] = Counter()
        # bumped whenever a session comes or goes: what was computed from `sessions`
        # (a conversation's audience of reaction events, everyday_fanout) is stale
        self.epoch = 0

    def register(self, session: Session) -> None:
        user = session.authed_user
        peers = self.sessions[user.uid]
        if not peers:
            self.online_by_realm[user.realm] += 1
        peers.append(session)
        self.epoch += 1

    def unregister(self, session: Session) -> None:
        if session.user is None:
            return
        peers = self.sessions.get(session.user.uid)
        if peers and session in peers:
            peers.remove(session)
            self.epoch += 1
            if not peers:
                del self.sessions[session.user.uid]
                self.online_by_realm[session.user.realm] -= 1

    def sessions_of(self, uid: int) -> list[Session]:
        return self.sessions.get(uid, [])

    def send_to_users(self, uids: Iterable[int], frame: Frame) -> None:
        """One event to every live session of these users (encoded once)."""
        data = event_frame(frame)
        for uid in uids:
            for session in self.sessions.get(uid, ()):
                session.push(data)
