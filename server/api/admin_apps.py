"""`corpchat admin app …`: apps of a corp, their secrets and scopes (docs/api.md).

A secret is printed once, by `app add` and `app rotate-secret`, and kept only as
its digest; rotating it also retires every access token the app holds.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from corpchat.protocol import ErrorCode
from corpchat.protocol.admin import AdminError
from corpchat.store import Refused, StorageError, customers, member_tags, outbox
from corpchat.store import apps as tables
from corpchat.store import contacts as directory

from .urls import callback_url_problem

# The commands take the App as every admin command does (admin_commands.COMMANDS);
# typed loosely here so that this module does not import the composition root.
App = Any

MAX_NAME_CHARS = 64
COMMANDS: dict[str, Any] = {}  # joined to admin_commands.COMMANDS by server/admin.py


def command(name: str):  # noqa: ANN201 - a registering decorator
    def register(fn):  # noqa: ANN001, ANN202
        COMMANDS[name] = fn
        return fn

    return register


def _fail(code: str, message: str) -> Exception:
    return AdminError(code, message)


async def _commit(app: App, op: Any) -> Any:
    result = await app.write(op)
    if isinstance(result, Refused):
        raise _fail(result.code, result.reason)
    if isinstance(result, StorageError):
        raise _fail("storage_unavailable", str(result))
    if isinstance(result, BaseException):
        raise _fail("internal_error", str(result))
    return result


def _app(app: App, args: dict[str, Any]) -> tables.AppRecord:
    app_id = args.get("app")
    if isinstance(app_id, str) and app_id.isdigit():
        app_id = int(app_id)
    found = app.store.read(tables.get_app, app_id) if isinstance(app_id, int) else None
    if found is None:
        raise _fail("not_found", f"no app {args.get('app')!r}")
    return found


def check_callback_url(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """http(s) only, and (when the operator lists any) only to the allowed hosts."""
    problem = callback_url_problem(url, allowed_hosts)
    if problem:
        raise _fail("forbidden" if "allow-list" in problem else "bad_request", problem)
    return url


def _row(record: tables.AppRecord, app: App) -> dict[str, Any]:
    users = [u.handle for uid in record.scope_users if (u := app.store.user(uid)) is not None]
    return {"app_id": record.app_id, "name": record.name, "callback_url": record.callback_url,
            "scope": {"users": users, "departments": list(record.scope_depts),
                      "tags": list(record.scope_tags)},
            "failing": record.failing}


@command("app.add")
async def app_add(app: App, args: dict[str, Any]) -> dict[str, Any]:
    corp = app.store.corp_by_name(str(args.get("corp") or ""))
    if corp is None:
        raise _fail("not_found", f"no corp {args.get('corp')!r}")
    name = str(args.get("name") or "").strip()
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise _fail("bad_request", f"an app's name has 1 to {MAX_NAME_CHARS} characters")
    url = args.get("callback_url") or ""
    if url:
        check_callback_url(str(url), app.config.platform.callback_hosts)
    secret, now = secrets.token_urlsafe(32), app.clock.now_ms()

    def op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
        record = tables.AppRecord(w.new_id("app"), corp.corp_id, name, tables.digest(secret),
                                  now, str(url))
        w.do(tables.put_app, record)
        return record

    record = await _commit(app, op)
    return {**_row(record, app), "corp": corp.name, "secret": secret}


@command("app.list")
async def app_list(app: App, args: dict[str, Any]) -> list[dict[str, Any]]:
    corp = app.store.corp_by_name(str(args["corp"])) if args.get("corp") else None
    if args.get("corp") and corp is None:
        raise _fail("not_found", f"no corp {args.get('corp')!r}")
    return [_row(r, app) for r in app.store.read(tables.all_apps)
            if corp is None or r.corp_id == corp.corp_id]


@command("app.remove")
async def app_remove(app: App, args: dict[str, Any]) -> dict[str, Any]:
    record = _app(app, args)
    await _commit(app, lambda w: (w.do(tables.delete_app, record.app_id),
                                  w.do(outbox.drop_app, record.app_id)))
    return {"app_id": record.app_id, "removed": True}


@command("app.rotate_secret")
async def app_rotate_secret(app: App, args: dict[str, Any]) -> dict[str, Any]:
    record = _app(app, args)
    secret = secrets.token_urlsafe(32)

    def op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
        current = w.do(tables.get_app, record.app_id)
        if current is None:
            return Refused(ErrorCode.NOT_FOUND, "the app was removed")
        w.do(tables.put_app, replace(current, secret_digest=tables.digest(secret)))
        w.do(tables.drop_all_tokens, record.app_id)

    await _commit(app, op)
    return {"app_id": record.app_id, "secret": secret}


@command("app.scope")
async def app_scope(app: App, args: dict[str, Any]) -> dict[str, Any]:
    """Set the users, departments and tags the app reaches (each list given replaces
    the old)."""
    record = _app(app, args)
    changes: dict[str, Any] = {}
    if args.get("users") is not None:
        changes["scope_users"] = tuple(_employee(app, record, h) for h in args["users"])
    if args.get("departments") is not None:
        changes["scope_depts"] = tuple(_department(app, record, d) for d in args["departments"])
    if args.get("tags") is not None:
        changes["scope_tags"] = tuple(_tag(app, record.corp_id, t) for t in args["tags"])
    if args.get("callback_url") is not None:
        url = str(args["callback_url"])
        changes["callback_url"] = url and check_callback_url(
            url, app.config.platform.callback_hosts)

    def op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
        current = w.do(tables.get_app, record.app_id)
        if current is None:
            return Refused(ErrorCode.NOT_FOUND, "the app was removed")
        updated = replace(current, **changes)
        w.do(tables.put_app, updated)
        return updated

    return _row(await _commit(app, op), app)


def _employee(app: App, record: tables.AppRecord, handle: object) -> int:
    user = app.store.user_by_handle(str(handle))
    if user is None or user.corp_id != record.corp_id:
        raise _fail("not_found", f"no employee {handle!r} in the app's corp")
    return user.uid


def _department(app: App, record: tables.AppRecord, dept_id: object) -> int:
    if not isinstance(dept_id, int | str) or not str(dept_id).isdigit():
        raise _fail("bad_request", f"a department is a number, not {dept_id!r}")
    dept = app.store.read(directory.department, int(dept_id))
    if dept is None or dept.corp_id != record.corp_id:
        raise _fail("not_found", f"no department {dept_id} in the app's corp")
    return dept.dept_id


def _tag(app: App, corp_id: int, tag: object) -> int:
    if not isinstance(tag, int | str) or not str(tag).isdigit():
        raise _fail("bad_request", f"a tag is a number, not {tag!r}")
    if int(tag) not in app.store.read(customers.tags, corp_id):
        raise _fail("not_found", f"no tag {tag} in the corp's tag library")
    return int(tag)


# ----- employees' tags (to.tags, app scopes) -----

@command("tag.assign")
async def tag_assign(app: App, args: dict[str, Any]) -> dict[str, Any]:
    """Put a tag of the corp's library on employees (`on`), or take it off."""
    corp = app.store.corp_by_name(str(args.get("corp", "")))
    if corp is None:
        raise _fail("not_found", f"no corp {args.get('corp')!r}")
    tag = _tag(app, corp.corp_id, args.get("tag"))
    handles = args.get("handles") or []
    if not isinstance(handles, list) or not handles:
        raise _fail("bad_request", "name at least one employee")
    uids = []
    for handle in handles:
        user = app.store.user_by_handle(str(handle))
        if user is None or user.corp_id != corp.corp_id:
            raise _fail("not_found", f"no employee {handle!r} in {corp.name}")
        uids.append(user.uid)
    on = bool(args.get("on", True))

    def op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
        if tag not in w.do(customers.tags, corp.corp_id):
            return Refused(ErrorCode.NOT_FOUND, f"no tag {tag}")
        return sum(w.do(member_tags.set_member_tag, uid=uid, tag=tag, on=on) for uid in uids)

    changed = await _commit(app, op)
    members = app.store.read(member_tags.members_of, tag=tag)
    return {"tag": tag, "changed": changed, "members": [
        u.handle for uid in members if (u := app.store.user(uid)) is not None]}


@command("app.status")
async def app_status(app: App, args: dict[str, Any]) -> dict[str, Any]:
    """The callbacks' state: the backlog, the last error, whether the app is failing."""
    record = _app(app, args)
    state = app.store.read(outbox.cursor, record.app_id)
    return {"app_id": record.app_id, "callback_url": record.callback_url,
            "backlog": state.last - state.delivered, "delivered": state.delivered,
            "last_event": state.last, "attempts": state.attempts,
            "next_attempt_ms": state.next_attempt_ms or None,
            "failing_since_ms": state.failing_since_ms or None,
            "last_error": state.last_error or None, "failing": state.failing}


@command("app.replay")
async def app_replay(app: App, args: dict[str, Any]) -> dict[str, Any]:
    """Send again every kept event from `since` (ms) on, and retry a failing app now."""
    record = _app(app, args)
    since = args.get("since")
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise _fail("bad_request", "since must be a time in ms since the epoch")

    def op(w):  # noqa: ANN001, ANN202 - runs on the writer thread
        state = w.do(outbox.cursor, record.app_id)
        first = w.do(outbox.first_since, record.app_id, since)
        delivered = state.delivered if first is None else min(state.delivered, first - 1)
        w.do(outbox.put_cursor, record.app_id, replace(
            state, delivered=delivered, attempts=0, next_attempt_ms=0, failing_since_ms=0,
            failing=False))
        return state.last - delivered

    backlog = await _commit(app, op)
    app.callbacks.poke()
    return {"app_id": record.app_id, "backlog": backlog}
