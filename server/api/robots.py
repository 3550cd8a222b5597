"""Group robots' webhook: `POST /hooks/robot/<key>` (docs/api.md).

The key (256 random bits, kept as its digest) names the robot; a removed
robot's key is 404 like one never issued. Each robot may post
`PlatformCaps.robot_posts_per_min` messages in any 60 s (a sliding window on
the injected clock); the post over it throttles the robot for
`PlatformCaps.robot_throttle_s` (10 minutes): 429 with Retry-After until then.
The message is stored in the group from `robot:<id>` with the robot's name,
archived like any message of an external group, and fanned out after the commit.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from corpchat.bridge.archive import group_archive_corp
from corpchat.bridge.robots import may_robot_post
from corpchat.protocol import ErrorCode
from corpchat.protocol.clock import Clock
from corpchat.store import GROUP, Refused, StorageError, Store, User, WriteTxn
from corpchat.store import robots as tables
from corpchat.store.records import ADMIN, OWNER, ArchiveEntry, Conversation
from corpchat.store.users import user_by_handle

from . import schema
from .app_messages import AppDelivery
from .router import ApiError, ApiRequest, ApiResponse, Router, json_response
from .settings import PlatformCaps

Write = Callable[[Any], Awaitable[object]]
HOOK_PATH = "/hooks/robot/"
MAX_MENTIONS = 100


def robot_sender(robot_id: int) -> str:
    return f"robot:{robot_id}"


def new_key() -> tuple[str, bytes]:
    """A webhook key and the digest that is stored."""
    key = secrets.token_urlsafe(32)
    return key, digest(key)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class RobotQuota:
    """At most `per_min` posts per robot in any 60 s; the post over it throttles the
    robot for `throttle_s` (WeCom's rule: over 20 a minute, throttled for 10 minutes).

    Memory: per robot, at most per_min times and one deadline. The throttle's end is
    fixed when it begins: posts refused meanwhile do not extend it.
    """

    def __init__(self, clock: Clock, per_min: int, throttle_s: float) -> None:
        self.clock, self.per_min, self.throttle_s = clock, per_min, throttle_s
        self._posts: dict[int, deque[float]] = {}
        self._throttled: dict[int, float] = {}  # robot -> the monotonic time it ends

    def throttled(self, robot_id: int) -> float | None:
        """The seconds the robot's throttle has left, or None (nothing is counted)."""
        until = self._throttled.get(robot_id)
        if until is None:
            return None
        left = until - self.clock.monotonic()
        if left > 0:
            return left
        del self._throttled[robot_id]
        return None

    def take(self, robot_id: int) -> float | None:
        """None if the post may go (and it is counted); else the seconds until one may."""
        left = self.throttled(robot_id)
        if left is not None:
            return left
        now = self.clock.monotonic()
        posts = self._posts.setdefault(robot_id, deque())
        while posts and posts[0] <= now - 60:
            posts.popleft()
        if len(posts) >= self.per_min:
            posts.clear()  # the window starts afresh when the throttle ends
            self._throttled[robot_id] = now + self.throttle_s
            return self.throttle_s
        posts.append(now)
        return None

    def forget(self, robot_id: int) -> None:
        self._posts.pop(robot_id, None)
        self._throttled.pop(robot_id, None)


class RobotHooks:
    def __init__(self, store: Store, write: Write, clock: Clock, caps: PlatformCaps) -> None:
        self.store, self.write, self.clock, self.caps = store, write, clock, caps
        self.quota = RobotQuota(clock, caps.robot_posts_per_min, caps.robot_throttle_s)

    def register(self, router: Router) -> None:
        router.add("POST", HOOK_PATH + "<key>", self.post)

    async def post(self, request: ApiRequest) -> ApiResponse:
        bot = self.store.read(tables.robot_by_key, digest(request.params["key"]))
        if bot is None:
            raise ApiError(404, "not_found", "no such robot")
        # A throttled robot is answered before its body is even parsed: the cheap 429
        # is most of what a robot over its rate sends.
        if (wait := self.quota.throttled(bot.robot_id)) is None:
            text, mentions, markdown = self._content(request.body)
            wait = self.quota.take(bot.robot_id)
        if wait is not None:
            seconds = str(max(1, math.ceil(round(wait, 6)))).encode()
            raise ApiError(429, "rate_limited",
                           f"at most {self.caps.robot_posts_per_min} posts a minute per robot; "
                           f"over it, throttled for {self.caps.robot_throttle_s} s",
                           headers=((b"retry-after", seconds),))
        now = self.clock.now_ms()
        result = await self.write(lambda w: post_as_robot(w, bot, text, mentions, now,
                                                          markdown))
        if isinstance(result, Refused):
            raise ApiError(404 if result.code == "not_found" else 403, result.code,
                           result.reason)
        if isinstance(result, StorageError):
            raise ApiError(503, "storage_unavailable", "the server cannot store this now")
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, AppDelivery)
        msg = result.messages[0]
        return json_response(200, {"conv": msg.conv, "seq": msg.seq, "time": msg.time_ms})

    def _content(self, raw: bytes) -> tuple[str, tuple[str, ...], bool]:
        body = schema.parse_json(raw)
        schema.only(body, {"text", "markdown", "mentions"})
        given = [k for k in ("text", "markdown") if k in body]
        if len(given) != 1:
            raise schema.bad("text", "give exactly one of text and markdown")
        text = schema.string(body, given[0], max_bytes=self.caps.robot_text_bytes)
        mentions = schema.list_of(body, "mentions", str, max_items=MAX_MENTIONS)
        if "all" in mentions and len(mentions) > 1:
            raise schema.bad("mentions", '"all" stands alone')
        return text, tuple(mentions), given[0] == "markdown"


def post_as_robot(w: WriteTxn, bot: tables.Robot, text: str, mentions: tuple[str, ...],
                  now_ms: int, markdown: bool = False) -> AppDelivery | Refused:
    """The robot's message in its group (writer thread): the robot must still exist,
    the group be a live group the bridge lets robots post into."""
    if w.do(tables.conv_robot, bot.conv, bot.robot_id) is None:
        return Refused(ErrorCode.NOT_FOUND, "no such robot")
    group = w.conversation(bot.conv)
    if group is None or group.kind != GROUP:
        return Refused(ErrorCode.NOT_FOUND, "the robot's group is gone")
    owner = w.corp(group.corp_id) if group.corp_id else None
    verdict = may_robot_post(group, owner)
    if not verdict.allowed:
        return Refused(ErrorCode(verdict.code), verdict.reason)
    members = {uid for uid, m in w.memberships(bot.conv) if m.active}
    named = tuple(h for h in mentions if h == "all" or _member(w, h, members))
    msg = w.append(conv=bot.conv, sender=robot_sender(bot.robot_id), now_ms=now_ms, text=text,
                   name=bot.name, users=named, markdown=markdown)
    if corp := group_archive_corp(group):
        w.archive(ArchiveEntry(corp, now_ms, msg.pos, bot.conv, msg.seq, msg.sender,
                               "robot", text))
    return AppDelivery(messages=(msg,))


def _member(w: WriteTxn, handle: str, members: set[int]) -> bool:
    user = w.do(lambda txn, db: user_by_handle(txn, db, handle=handle))
    return user is not None and user.uid in members


def robot_url(base: str, key: str) -> str:
    return base.rstrip("/") + HOOK_PATH + key


# ----- robot.add / robot.remove (writer thread) -----

MANAGERS = frozenset({OWNER, ADMIN})
MAX_NAME_CHARS = 32


def _managed_group(w: WriteTxn, actor: User, conv: int) -> Conversation | Refused:
    group = w.conversation(conv)
    mine = w.membership(uid=actor.uid, conv=conv)
    if group is None or group.kind != GROUP or group.dissolved or mine is None \
            or not mine.active:
        return Refused(ErrorCode.NOT_MEMBER, f"not a member of group {conv}")
    if mine.role not in MANAGERS:
        return Refused(ErrorCode.FORBIDDEN, "only the group's owner and admins manage its robots")
    return group


def add_robot(w: WriteTxn, actor: User, conv: int, name: str, key_digest: bytes,
              now_ms: int, per_group: int) -> tables.Robot | Refused:
    group = _managed_group(w, actor, conv)
    if isinstance(group, Refused):
        return group
    verdict = may_robot_post(group, w.corp(group.corp_id) if group.corp_id else None)
    if not verdict.allowed:
        return Refused(ErrorCode(verdict.code), verdict.reason)
    if len(w.do(tables.conv_robots, conv)) >= per_group:
        return Refused(ErrorCode.QUOTA_EXCEEDED, f"a group has at most {per_group} robots")
    bot = tables.Robot(w.new_id("robot"), conv, name, key_digest, actor.handle, now_ms)
    w.do(tables.put_robot, bot)
    return bot


def remove_robot(w: WriteTxn, actor: User, conv: int, robot_id: int) -> tables.Robot | Refused:
    group = _managed_group(w, actor, conv)
    if isinstance(group, Refused):
        return group
    bot = w.do(tables.conv_robot, conv, robot_id)
    if bot is None:
        return Refused(ErrorCode.NOT_FOUND, f"no robot {robot_id} in group {conv}")
    w.do(tables.delete_robot, bot)
    return bot

