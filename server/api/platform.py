"""The app routes of the HTTP API (docs/api.md): tokens, messages, the directory.

`Platform` holds what the routes need — the store to read, a door to the writer,
the clock, the caps, the per-recipient quota — and registers its routes on a
Router. Secrets and tokens are compared as digests with hmac.compare_digest and
never logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from corpchat.bridge.app_scope import dept_in_app_scope, in_app_scope
from corpchat.protocol import ErrorCode
from corpchat.protocol.clock import Clock
from corpchat.store import Refused, StorageError, Store, User, customers, member_tags
from corpchat.store import apps as tables
from corpchat.store import contacts as directory
from corpchat.store.users import all_users

from . import schema
from .app_media import wanted
from .app_messages import AppDelivery, deliver
from .content import parse_content
from .quota import RecipientQuota
from .router import ApiError, ApiRequest, ApiResponse, Router, json_response
from .settings import PlatformCaps

log = logging.getLogger("corpchat.api")
Write = Callable[[Any], Awaitable[object]]
SWEEP_BATCH = 1000  # idempotency keys dropped per write transaction
_DUMMY_DIGEST = tables.digest("not an app secret")


class Platform:
    def __init__(self, store: Store, write: Write, clock: Clock, caps: PlatformCaps,
                 max_files: int = 9) -> None:
        self.store, self.write, self.clock, self.caps = store, write, clock, caps
        self.max_files = max_files  # attachments per message ([media] max_attachments)
        self.quota = RecipientQuota(clock, caps.per_recipient_per_min,
                                    caps.per_recipient_per_hour)

    def register(self, router: Router) -> None:
        router.add("POST", "/api/v1/token", self.token)
        router.add("POST", "/api/v1/messages", self.messages)
        router.add("GET", "/api/v1/users/<handle>", self.user)
        router.add("GET", "/api/v1/departments/<dept>/users", self.department_users)

    async def _committed(self, op: Any) -> Any:
        result = await self.write(op)
        if isinstance(result, StorageError):
            raise ApiError(503, "storage_unavailable", "the server cannot store this now")
        if isinstance(result, Refused) and result.code == ErrorCode.NO_SUCH_MEDIA:
            raise ApiError(400, result.code, f"attachments: {result.reason}",
                           field="attachments")
        if isinstance(result, Refused):
            raise ApiError(409, result.code, result.reason)
        if isinstance(result, BaseException):
            raise result
        return result

    # ----- the idempotency keys' sweep -----

    async def sweep_forever(self) -> None:
        """Drop idempotency keys older than their window, every
        `idempotency_sweep_s`: what they take is bounded by the window's traffic."""
        try:  # keys of a database from before their index: indexed once, then swept
            await self._committed(lambda w: w.do(tables.index_old_answers))
        except ApiError as exc:
            log.warning("idempotency keys not indexed: %s", exc.message)
        while True:
            await trio.sleep(self.caps.idempotency_sweep_s)
            try:
                await self.sweep_once()
            except ApiError as exc:  # the store refused writes (full disk): next time
                log.warning("idempotency sweep failed: %s", exc.message)

    async def sweep_once(self) -> int:
        """Drop every idempotency key past its window now; how many went."""
        before = self.clock.now_ms() - self.caps.idempotency_window_s * 1000
        dropped = 0
        while True:
            batch = await self._committed(lambda w: w.do(
                tables.sweep_idempotent_answers, before, SWEEP_BATCH))
            dropped += batch
            if batch < SWEEP_BATCH:
                return dropped

    # ----- POST /api/v1/token -----

    async def token(self, request: ApiRequest) -> ApiResponse:
        body = schema.parse_json(request.body)
        schema.only(body, {"app_id", "secret"})
        app_id = schema.integer(body, "app_id")
        secret = schema.string(body, "secret", max_bytes=256)
        app = self.store.read(tables.get_app, app_id)
        given = tables.digest(secret)
        # The compare runs whether or not the app exists: the answer's time says nothing.
        matches = hmac.compare_digest(given, app.secret_digest if app else _DUMMY_DIGEST)
        if app is None or not matches:
            raise ApiError(401, "bad_credentials", "wrong app_id or secret")
        token = secrets.token_urlsafe(32)
        now, ttl_ms = self.clock.now_ms(), self.caps.token_ttl_s * 1000
        limit, digest = self.caps.max_live_tokens, tables.digest(token)

        def op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
            w.do(tables.drop_expired_tokens, app_id, now)
            live = w.do(tables.live_tokens, app_id, now)
            for old in live[:max(0, len(live) - limit + 1)]:  # the oldest retire
                w.do(tables.drop_access_token, old)
            w.do(tables.put_access_token, app_id, digest, now + ttl_ms, w.new_id("app_token"))
        await self._committed(op)
        return json_response(200, {"access_token": token, "expires_in": self.caps.token_ttl_s})

    def authenticate(self, request: ApiRequest) -> tables.AppRecord:
        """The app whose live access token the request bears, or 401."""
        value = request.header(b"authorization") or b""
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <access_token>",
                           headers=((b"www-authenticate", b"Bearer"),))
        found = self.store.read(tables.access_token, tables.digest(token.strip()))
        if found is None or found[1] <= self.clock.now_ms():
            raise ApiError(401, "invalid_token", "the access token is unknown or expired",
                           headers=((b"www-authenticate", b'Bearer error="invalid_token"'),))
        app = self.store.read(tables.get_app, found[0])
        if app is None:
            raise ApiError(401, "invalid_token", "the app was removed")
        return app

    # ----- scope -----

    def _ancestry(self, dept_id: int) -> list[int]:
        chain: list[int] = []
        while dept_id and dept_id not in chain and len(chain) < 64:
            chain.append(dept_id)
            dept = self.store.read(directory.department, dept_id)
            dept_id = dept.parent if dept is not None else 0
        return chain

    def _reach(self, app: tables.AppRecord, user: User | None) -> str | None:
        """Why the app may not reach `user`, or None if it may."""
        if user is None:
            return "not_found"
        user_tags = self.store.read(member_tags.tags_of, uid=user.uid) if app.scope_tags \
            else ()
        verdict = in_app_scope(user, app.corp_id, app.scope_users, app.scope_depts,
                               self._ancestry(user.dept), app.scope_tags, user_tags)
        return None if verdict.allowed else verdict.code

    def _dept_members(self, app: tables.AppRecord, dept_id: int) -> list[User] | None:
        """The employees of a department and its sub-departments; None if unknown."""
        dept = self.store.read(directory.department, dept_id)
        if dept is None or dept.corp_id != app.corp_id:
            return None
        under = {dept_id}
        for other in self.store.read(directory.departments, app.corp_id):
            if dept_id in self._ancestry(other.dept_id):
                under.add(other.dept_id)
        return [u for u in self.store.read(all_users)
                if u.corp_id == app.corp_id and u.dept in under and not u.disabled]

    # ----- POST /api/v1/messages -----

    async def messages(self, request: ApiRequest) -> ApiResponse:
        app = self.authenticate(request)
        body = schema.parse_json(request.body)
        schema.only(body, {"to", "text", "markdown", "card", "attachments", "idempotency_key"})
        content = parse_content(body, self.caps.max_text_bytes)
        files = wanted(schema.list_of(body, "attachments", str, max_items=self.max_files))
        if not content.text and not files:
            raise schema.bad("text", "give one of text, markdown and card, or attachments")
        key = schema.string(body, "idempotency_key", required=False, max_bytes=128)
        now, window_ms = self.clock.now_ms(), self.caps.idempotency_window_s * 1000
        if key is not None:
            first = self.store.read(tables.idempotent_answer, app.app_id, key, now - window_ms)
            if first is not None:
                return json_response(200, first)
        uids, skipped = self._recipients(app, body)
        allowed = [uid for uid in uids if self._take_quota(app, uid, skipped)]
        result: AppDelivery = await self._committed(
            lambda w: deliver(w, app, allowed, content, skipped, key, now, window_ms, files))
        return json_response(200, result.answer)

    def _take_quota(self, app: tables.AppRecord, uid: int, skipped: list[dict[str, Any]]) -> bool:
        if self.quota.take(app.app_id, uid):
            return True
        user = self.store.user(uid)
        skipped.append({"user": user.handle if user else str(uid), "reason": "rate_limited"})
        return False

    def _recipients(self, app: tables.AppRecord,
                    body: dict[str, Any]) -> tuple[list[int], list[dict[str, Any]]]:
        to = schema.obj_field(body, "to")
        assert to is not None
        schema.only(to, {"users", "departments", "tags"}, "to.")
        handles = schema.list_of(to, "users", str, where="to.")
        depts = schema.list_of(to, "departments", int, where="to.")
        tags = schema.list_of(to, "tags", int, where="to.")
        if not handles and not depts and not tags:
            raise schema.bad("to", "name at least one user, department or tag")
        chosen: dict[int, None] = {}
        skipped: list[dict[str, Any]] = []
        for handle in handles:
            user = self.store.user_by_handle(handle)
            reason = self._reach(app, user)
            if reason is not None:
                skipped.append({"user": handle, "reason": reason})
            else:
                assert user is not None  # _reach refuses a missing user
                chosen[user.uid] = None
        for dept_id in depts:
            self._add_department(app, dept_id, chosen, skipped)
        library = self.store.read(customers.tags, app.corp_id) if tags else {}
        for tag in tags:
            self._add_tag(app, tag, tag in library, chosen, skipped)
        if len(chosen) > self.caps.max_recipients:
            raise schema.bad("to", f"more than {self.caps.max_recipients} recipients")
        return list(chosen), skipped

    def _add_department(self, app: tables.AppRecord, dept_id: int, chosen: dict[int, None],
                        skipped: list[dict[str, Any]]) -> None:
        members = self._dept_members(app, dept_id)
        if members is None or not dept_in_app_scope(self._ancestry(dept_id),
                                                    app.scope_depts).allowed:
            members = [u for u in members or () if u.uid in app.scope_users]
            if not members:
                skipped.append({"department": dept_id, "reason": "out_of_scope"})
        for user in members:
            chosen[user.uid] = None

    def _add_tag(self, app: tables.AppRecord, tag: int, known: bool,
                 chosen: dict[int, None], skipped: list[dict[str, Any]]) -> None:
        """The employees carrying `tag` (of the corp's library) whom the app reaches:
        all of them when the scope names the tag, else those in it otherwise."""
        if not known:
            skipped.append({"tag": tag, "reason": "not_found"})
            return
        reached = 0
        for uid in self.store.read(member_tags.members_of, tag=tag):
            if self._reach(app, self.store.user(uid)) is None:
                chosen[uid] = None
                reached += 1
        if not reached:
            skipped.append({"tag": tag, "reason": "out_of_scope"})

    # ----- the directory within the scope -----

    async def user(self, request: ApiRequest) -> ApiResponse:
        app = self.authenticate(request)
        user = self.store.user_by_handle(request.params["handle"])
        if self._reach(app, user) is not None:
            raise ApiError(404, "not_found", "no such user in the app's scope")
        assert user is not None  # _reach refuses a missing user
        return json_response(200, _profile(user))

    async def department_users(self, request: ApiRequest) -> ApiResponse:
        app = self.authenticate(request)
        raw = request.params["dept"]
        dept_id = int(raw) if raw.isdigit() and len(raw) < 19 else 0
        members = self._dept_members(app, dept_id) if dept_id else None
        if members is None or not dept_in_app_scope(self._ancestry(dept_id),
                                                    app.scope_depts).allowed:
            raise ApiError(404, "not_found", "no such department in the app's scope")
        return json_response(200, {"department": dept_id,
                                   "users": [_profile(u) for u in members]})


def _profile(user: User) -> dict[str, Any]:
    return {"handle": user.handle, "name": user.display, "title": user.title,
            "department": user.dept, "email": user.email, "phone": user.phone}
