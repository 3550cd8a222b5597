"""Signing in (`hello` with a device token), open sign-up (`register`) and `ping`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from corpchat.protocol import (
    CloseCode,
    ErrorCode,
    Hello,
    Ping,
    Pong,
    ProtocolError,
    Register,
    Welcome,
)
from corpchat.protocol.ratelimit import TokenBucket

from ..audit import audit
from ..hub import NoticeContext
from ..media import media_limits
from ..ops import contacts as ops
from ..push import PushGateway
from ..quiet import QuietHours
from ..routes import Routes
from ..seen import SeenTokens
from ..services import Services
from ..session import Session
from ..wsframes import event_frame
from .common import announce_conv, peer_address, unread

routes = Routes()


@dataclass(slots=True)
class SignIn(Services):
    quiet: QuietHours  # the welcome says whether the user rests
    push: PushGateway  # a user online again gets no pushes
    signups: TokenBucket  # open sign-ups, server-wide
    seen: SeenTokens  # tokens' last use, written every few seconds (server/seen.py)


@routes.handles(Hello, before_login=True)
def hello(s: SignIn, session: Session, frame: Hello) -> None:
    found = s.store.authenticate(frame.token)
    if found is None:
        audit("login_failed", logging.WARNING, peer=session.peer, session=session.id)
        raise ProtocolError(ErrorCode.AUTH_FAILED, "unknown, revoked or disabled token",
                            close=CloseCode.AUTH_FAILED)
    user, token = found
    token_id = token.token_id
    most = s.config.max_sessions_per_user
    if len(s.hub.sessions_of(user.uid)) >= most:
        audit("login_refused", logging.WARNING, uid=user.uid, user=user.handle,
              token_id=token_id, peer=session.peer, reason="too many sessions")
        raise ProtocolError(ErrorCode.TOO_MANY_CONNECTIONS, f"at most {most} sessions per user",
                            close=CloseCode.POLICY_VIOLATION)
    session.user = user
    session.token_id = token_id
    session.device = frame.device
    s.seen.note(token, frame.device, s.clock.now_ms(), peer_address(session.peer))
    s.hub.register(session)
    session.push(event_frame(Welcome(
        re=frame.id, user=user.handle, session=session.id,
        server_time=s.clock.now_ms(), sync=str(s.hub.head),
        limits={**s.config.limits.to_wire(), **media_limits(s.config.media)},
        announce_conv=announce_conv(s.store, user) if user.corp_id else None,
        unread=unread(s.store, user, s.config.unread_count_cap),
        quiet=s.quiet.state_frame(user.uid))))
    s.push.online(user.uid)
    audit("login", uid=user.uid, user=user.handle, device=session.device,
          token_id=token_id, session=session.id, peer=session.peer)


@routes.handles(Register, before_login=True)
def register(s: SignIn, session: Session, frame: Register) -> None:
    """Open sign-up of a consumer account, before hello."""
    if not s.config.open_signup:
        raise ProtocolError(ErrorCode.FORBIDDEN, "sign-up is closed on this server")
    if not s.signups.take():
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many sign-ups; try later")
    now, handle, name = s.clock.now_ms(), frame.handle, frame.name
    s.submit(session, lambda w: ops.register(w, frame.id, handle, name, now),
             NoticeContext(session, frame.id))


@routes.handles(Ping)
def ping(s: Services, session: Session, frame: Ping) -> None:
    session.push(event_frame(Pong(re=frame.id, server_time=s.clock.now_ms())))
