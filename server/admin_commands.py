"""The admin commands, registered by name in COMMANDS."""

from __future__ import annotations

import os
import resource
from collections.abc import AsyncIterator
from typing import Any

import trio

from corpchat.protocol.admin import AdminError
from corpchat.store import Refused, StorageError

from .invites import new_invite
from .ops import accounts
from .services import Running

COMMANDS: dict[str, Any] = {}


class Stream:
    """A command's answer given row by row (e.g. an archive export)."""

    def __init__(self, rows: AsyncIterator[Any]) -> None:
        self.rows = rows


STATS_SLICE = 500  # connections looked at between event-loop turns by `stats`


def command(name: str):  # noqa: ANN201 - a registering decorator
    def register(fn):  # noqa: ANN001, ANN202
        COMMANDS[name] = fn
        return fn

    return register


def _arg(args: dict[str, Any], name: str, kind: type = str) -> Any:
    value = args.get(name)
    if not isinstance(value, kind):
        raise AdminError("bad_request", f"argument {name!r} must be a {kind.__name__}")
    return value


async def _write(app: Running, op: Any) -> Any:
    result = await app.write(op)
    if isinstance(result, Refused):  # refused, or the commit failed (ops/results.failure)
        raise AdminError(result.code, result.reason)
    return result


def _user(app: Running, handle: str):  # noqa: ANN202
    user = app.store.user_by_handle(handle)
    if user is None:
        raise AdminError("not_found", f"no user {handle!r}")
    return user


@command("help")
async def help_(app: Running, args: dict[str, Any]) -> list[str]:
    return sorted(COMMANDS)


@command("corp.add")
async def corp_add(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    name = _arg(args, "name")
    full_name = args.get("full_name") or ""
    now = app.clock.now_ms()
    corp = await _write(app, lambda w: w.create_corp(name, now, str(full_name)))
    return {"corp_id": corp.corp_id, "name": corp.name, "full_name": corp.full_name}


CORP_POLICY = ("show_consumer_reads", "show_employee_reads", "push_previews",
               "transfer_history", "forward_to_customers", "robots_in_external_groups")


@command("corp.set")
async def corp_set(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Change a corp's full name or policy flags (CORP_POLICY); print the result."""

    corp = _corp(app, args)
    changes = {k: _arg(args, k, bool) for k in CORP_POLICY if args.get(k) is not None}
    if args.get("full_name") is not None:
        changes["full_name"] = _arg(args, "full_name")

    updated = await _write(app, lambda w: accounts.set_corp(w, corp.corp_id, changes))
    return {"corp": updated.name, "full_name": updated.full_name,
            **{k: getattr(updated, k) for k in CORP_POLICY}}


@command("user.add")
async def user_add(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """An enterprise user (args.corp) or a consumer (args.consumer) and their invite.

    The person signs in with the invite; no token is issued for them. A
    provisioning program on the socket (the load tester, test fixtures) may ask
    for a first device token in the same commit with `token: true`; the CLI
    never does (issue 18: an operator never handles anyone's token)."""
    handle = _arg(args, "handle")
    first_token = args.get("token") is True
    corp_id = board = None
    if not args.get("consumer"):
        corp = app.store.corp_by_name(_arg(args, "corp"))
        if corp is None:
            raise AdminError("not_found", f"no corp {args['corp']!r}")
        corp_id, board = corp.corp_id, corp.announce_conv
    now = app.clock.now_ms()

    enrolled = await _write(app, lambda w: accounts.add_user(
        w, handle, corp_id, now, first_token=first_token))
    if board is not None:  # the new employee joined the corp's notice board
        app.hub.forget(board)
    user = enrolled.user
    invite = await new_invite(app, user.uid)  # what the person signs in with (the web page)
    if isinstance(invite, Refused):
        raise AdminError(invite.code, invite.reason)
    issued = {"token": enrolled.token, "token_id": enrolled.token_id} if first_token else {}
    return {"handle": user.handle, "realm": user.realm, "uid": user.uid,
            "invite": invite["invite"], "invite_link": invite["link"],
            "invite_expires_ms": invite["expires_ms"], **issued}


PROFILE_FIELDS = {"name": str, "title": str, "phone": str, "email": str, "dept": int,
                  "corp_admin": bool}


@command("user.set")
async def user_set(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Change a user's profile (name, title, dept, phone, email) or corp_admin flag."""

    from corpchat.store import contacts as tables

    user = _user(app, _arg(args, "handle"))
    changes = {k: _arg(args, k, kind) for k, kind in PROFILE_FIELDS.items()
               if args.get(k) is not None}
    if not user.corp_id and (changes.get("corp_admin") or changes.get("dept")):
        raise AdminError("bad_request", "only employees have corp roles and departments")
    if any(len(str(v)) > 200 for v in changes.values()):
        raise AdminError("bad_request", "profile fields are at most 200 characters")
    if changes.get("dept") and app.store.read(tables.department, changes["dept"]) is None:
        raise AdminError("not_found", f"no department {changes['dept']}")

    updated = await _write(app, lambda w: accounts.set_profile(w, user.uid, changes))
    return {"handle": updated.handle, **{k: getattr(updated, k) for k in PROFILE_FIELDS}}


@command("dept.add")
async def dept_add(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """A department in a corp, under `parent` (0 or absent: at the top)."""

    corp = app.store.corp_by_name(_arg(args, "corp"))
    if corp is None:
        raise AdminError("not_found", f"no corp {args['corp']!r}")
    name, parent = _arg(args, "name"), int(args.get("parent") or 0)
    _check_parent(app, corp.corp_id, parent)

    dept = await _write(app, lambda w: accounts.add_department(w, corp.corp_id, name, parent))
    return {"dept": dept.dept_id, "name": dept.name, "parent": dept.parent}


@command("dept.move")
async def dept_move(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    from dataclasses import replace

    from corpchat.store import contacts as tables

    dept = app.store.read(tables.department, _arg(args, "dept", int))
    if dept is None:
        raise AdminError("not_found", f"no department {args['dept']}")
    parent = int(args.get("parent") or 0)
    _check_parent(app, dept.corp_id, parent)
    if _is_under(app, parent, dept.dept_id):
        raise AdminError("bad_request", "a department cannot move under itself")
    moved = replace(dept, parent=parent)
    await _write(app, lambda w: w.do(tables.put_department, moved))
    return {"dept": moved.dept_id, "name": moved.name, "parent": moved.parent}


def _check_parent(app: Running, corp_id: int, parent: int) -> None:
    from corpchat.store import contacts as tables

    if parent:
        found = app.store.read(tables.department, parent)
        if found is None or found.corp_id != corp_id:
            raise AdminError("not_found", f"no department {parent} in this corp")


def _is_under(app: Running, dept_id: int, ancestor: int) -> bool:
    from corpchat.store import contacts as tables

    seen = set()
    while dept_id and dept_id not in seen:
        if dept_id == ancestor:
            return True
        seen.add(dept_id)
        found = app.store.read(tables.department, dept_id)
        dept_id = found.parent if found else 0
    return False


@command("archive.export")
async def archive_export(app: Running, args: dict[str, Any]):  # noqa: ANN201 - a Stream
    """The corp's archive of cross-realm messages as rows, a short read per page."""
    from corpchat.store import contacts as tables

    from .archive_tar import archive_row

    corp = app.store.corp_by_name(_arg(args, "corp"))
    if corp is None:
        raise AdminError("not_found", f"no corp {args['corp']!r}")
    since, until = int(args.get("since") or 0), int(args.get("until") or 2**62)
    employee = args.get("employee")

    async def rows():  # noqa: ANN202
        resume: bytes | None = None
        while True:
            page, resume = app.store.read(tables.archive_page, corp.corp_id, since, until, 1000,
                                          resume)
            for entry in page:
                if employee and entry.sender != employee and not _involves(app, entry, employee):
                    continue
                yield archive_row(entry)
            if resume is None:
                return

    return Stream(rows())


def _involves(app: Running, entry, handle: str) -> bool:  # noqa: ANN001
    user = app.store.user_by_handle(handle)
    return user is not None and app.store.membership(uid=user.uid, conv=entry.conv) is not None


@command("user.list")
async def user_list(app: Running, args: dict[str, Any]) -> list[dict[str, Any]]:
    corps: dict[int, str] = {}
    rows = []
    for user in app.store.users():
        if user.corp_id and user.corp_id not in corps:
            corp = app.store.corp(user.corp_id)
            corps[user.corp_id] = corp.name if corp else "?"
        rows.append({"handle": user.handle, "realm": user.realm,
                     "corp": corps.get(user.corp_id), "corp_admin": user.corp_admin,
                     "disabled": user.disabled,
                     "sessions": len(app.hub.sessions_of(user.uid))})
    return rows


@command("token.issue")
async def token_issue(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    user = _user(app, _arg(args, "user"))
    now = app.clock.now_ms()
    token_id, token = await _write(app, lambda w: w.issue_token(user.uid, now))
    return {"user": user.handle, "token": token, "token_id": token_id}


@command("token.list")
async def token_list(app: Running, args: dict[str, Any]) -> list[dict[str, Any]]:
    """A user's tokens: id, the device of its last hello, when issued and last used
    (to the minute; None: never)."""
    from corpchat.store import tokens

    user = _user(app, _arg(args, "user"))
    return [{"token_id": t.token_id, "device": t.device, "created_ms": t.created_ms,
             "last_seen_ms": t.last_seen_ms or None}
            for t in app.seen.overlay(app.store.read(tokens.user_tokens, user.uid))]


@command("token.revoke")
async def token_revoke(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a token and close the sessions that logged in with it."""
    token_id = _arg(args, "token_id")
    uid = await _write(app, lambda w: w.revoke_token(token_id))
    closed = 0
    for session in list(app.hub.sessions_of(uid)):
        if session.token_id == token_id:
            session.begin_close(4001, "token revoked")
            closed += 1
    return {"token_id": token_id, "sessions_closed": closed}


@command("stats")
async def stats(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    hub, writer = app.hub, app.writer
    online = +hub.online_by_realm
    buffered_total, buffered_max = await _buffered(app)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    commits = sorted(writer.stats.commit_seconds)
    return {
        "pid": os.getpid(),
        "uptime_s": round(app.clock.monotonic() - app.started_at, 3),
        "connections": len(app.connections),
        "users_online": sum(online.values()),
        "users_online_by_realm": dict(online),
        "messages": hub.stats.messages,
        "deliveries": hub.stats.deliveries,
        **app.rates.snapshot(),
        "slow_consumer_closes": hub.stats.slow_closes,
        "buffered_bytes_total": buffered_total,
        "buffered_bytes_max": buffered_max,
        "writer_batches": writer.stats.batches,
        "writer_ops": writer.stats.ops,
        "writer_batch_mean": round(writer.stats.ops / writer.stats.batches, 2)
        if writer.stats.batches else 0,
        "writer_batch_max": writer.stats.max_batch,
        "writer_commit_cpu_us": round(writer.stats.commit_cpu_s * 1e6, 1),
        "writer_batch_wanted": writer.stats.wanted,
        "writer_queued": writer.queued,
        "commit_p50_ms": _percentile_ms(commits, 0.50),
        "commit_p99_ms": _percentile_ms(commits, 0.99),
        "map_grows": writer.stats.map_grows,
        "resting_users": len(app.quiet.resting),
        "quiet_transitions": app.quiet.transitions,
        "push_queued": app.push.stats.queued,
        "push_sent": app.push.stats.sent,
        "push_failed": app.push.stats.failed,
        "push_dropped": app.push.stats.dropped,
        "push_devices_dropped": app.push.stats.dropped_devices,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 6),
        "rss_bytes": _rss_bytes(),
        "rss_anon_bytes": _anon_rss_bytes(),
        **app.store.stats(),
        **app.media.stats(),
        **search_stats(app),
    }


def _percentile_ms(sorted_seconds: list[float], q: float) -> float:
    if not sorted_seconds:
        return 0.0
    return round(sorted_seconds[min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))]
                 * 1000, 3)


async def _buffered(app: Running) -> tuple[int, int]:
    """Bytes waiting in session buffers, all and the most, walked STATS_SLICE connections
    at a time: 10,000 in one go stalled every conversation for ~10 ms per `stats`."""
    total = largest = 0
    connections = list(app.connections)
    for start in range(0, len(connections), STATS_SLICE):
        for connection in connections[start:start + STATS_SLICE]:
            waiting = connection.session.buffered_bytes
            total += waiting
            largest = max(largest, waiting)
        await trio.lowlevel.checkpoint()
    return total, largest


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _anon_rss_bytes() -> int:
    """Resident memory that is not file pages: RSS without LMDB's mapped database."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _session_row(session) -> dict[str, Any]:  # noqa: ANN001
    return {"user": session.user.handle if session.user else None, "session": session.id,
            "device": session.device, "peer": session.peer,
            "connected_ms": session.connected_ms, "buffered_bytes": session.buffered_bytes}


@command("sessions")
async def sessions(app: Running, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Live sessions, of one user (args.user) or all."""
    if args.get("user"):
        found = app.hub.sessions_of(_user(app, _arg(args, "user")).uid)
    else:
        found = [c.session for c in app.connections if c.session.user is not None]
    return [_session_row(s) for s in found]


@command("kick")
async def kick(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Close a user's sessions (or one device's) with the kicked code; they may reconnect."""
    user = _user(app, _arg(args, "user"))
    device = args.get("device")
    closed = 0
    for session in list(app.hub.sessions_of(user.uid)):
        if device is None or session.device == device:
            session.begin_close(4003, "kicked by an operator")
            closed += 1
    return {"user": user.handle, "sessions_closed": closed}


@command("user.disable")
async def user_disable(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Revoke every token, refuse new logins and close every session at once."""

    user = _user(app, _arg(args, "handle"))

    revoked = (await _write(app, lambda w: accounts.disable_user(w, user.uid))).tokens_revoked
    closed = 0
    for session in list(app.hub.sessions_of(user.uid)):
        session.begin_close(4001, "account disabled")
        closed += 1
    return {"handle": user.handle, "tokens_revoked": revoked, "sessions_closed": closed}


@command("user.enable")
async def user_enable(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Let a disabled (or removed) user sign in again. Disabling revoked every token:
    they sign in with their password, or with a new invite ('user invite')."""

    user = _user(app, _arg(args, "handle"))

    was_disabled = (await _write(app, lambda w: accounts.enable_user(w, user.uid))).was_disabled
    return {"handle": user.handle, "was_disabled": was_disabled}


@command("backup")
async def backup(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """A consistent, compacted copy of the live database and its media, while serving."""

    path = os.path.abspath(_arg(args, "path"))
    if os.path.exists(path):
        raise AdminError("exists", f"{path} exists; give a new directory")
    try:
        size, files, media_bytes = await app.media.backup(path)
    except (OSError, StorageError) as exc:
        raise AdminError("backup_failed", str(exc)) from exc
    return {"path": path, "bytes": size, "media_files": files, "media_bytes": media_bytes}


@command("drain")
async def drain(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Stop accepting, send every client 'going away', commit what is pending, exit."""
    timeout = args.get("timeout_s")
    if timeout is not None and not isinstance(timeout, (int, float)):

        raise AdminError("bad_request", "timeout_s must be a number")
    moved = await app.cluster.drain() if app.cluster is not None else {}
    app.request_shutdown(timeout)
    return {"draining": True, "connections": len(app.connections), **moved}


@command("cluster.status")
async def cluster_status(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Nodes, leases, homes per node and the log (docs/cluster.md §7)."""
    if app.cluster is None:
        raise AdminError("not_clustered", "this server runs alone (no --cluster)")
    return await app.cluster.status()


@command("log-level")
async def log_level(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    from .logs import set_level

    try:
        return {"level": set_level(_arg(args, "level"))}
    except ValueError as exc:
        raise AdminError("bad_request", str(exc)) from None


@command("corp.quiet_hours")
async def corp_quiet_hours(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """The corp's default quiet hours, for members who set none (args.clear drops it)."""
    from corpchat.protocol.quiet import Schedule, parse_windows
    from corpchat.store import settings

    corp = app.store.corp_by_name(_arg(args, "corp"))
    if corp is None:
        raise AdminError("not_found", f"no corp {args['corp']!r}")
    schedule = None
    if not args.get("clear"):
        try:
            schedule = Schedule(_arg(args, "timezone"), parse_windows(_arg(args, "windows")),
                                enabled=not args.get("disabled"))
            Schedule.from_wire(schedule.to_wire())  # the same checks as a user's schedule
        except ValueError as exc:
            raise AdminError("bad_request", str(exc)) from None
    wire = schedule.to_wire() if schedule else None
    await _write(app, lambda w: w.do(settings.set_corp_schedule, corp.corp_id, wire))
    app.quiet.set_corp_schedule(corp.corp_id, schedule)
    return {"corp": corp.name, "quiet_hours": wire}


def _corp(app: Running, args: dict[str, Any]):  # noqa: ANN202
    corp = app.store.corp_by_name(_arg(args, "corp"))
    if corp is None:
        raise AdminError("not_found", f"no corp {args['corp']!r}")
    return corp


@command("tag.group_add")
async def tag_group_add(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    from .ops.customers import add_tag_group

    corp, name = _corp(app, args), _arg(args, "name")
    notices = await _write(app, lambda w: add_tag_group(w, 0, corp.corp_id, name))
    return {"group": notices.reply.id, "name": name}


@command("tag.add")
async def tag_add(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    from .ops.customers import add_tag

    corp, group, name = _corp(app, args), _arg(args, "group", int), _arg(args, "name")
    caps = app.config.customers
    notices = await _write(app, lambda w: add_tag(w, 0, corp.corp_id, group, name, caps))
    return {"tag": notices.reply.id, "group": group, "name": name}


@command("tag.list")
async def tag_list(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    from corpchat.store import customers as cust

    corp = _corp(app, args)
    groups = app.store.read(cust.tag_groups, corp.corp_id)
    return {name: [t_name for _, (g, t_name) in app.store.read(cust.tags, corp.corp_id).items()
                   if g == group] for group, name in groups.items()}


@command("transfer")
async def transfer(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """Hand an employee's customers (all, or some) to a colleague of the same corp."""
    from corpchat.bridge import may_hand_over
    from corpchat.store import contacts as tables

    source, target = _user(app, _arg(args, "from")), _user(app, _arg(args, "to"))
    if not (verdict := may_hand_over(source, target)).allowed:
        raise AdminError(verdict.code, verdict.reason)
    if args.get("all"):
        uids = [c.consumer for c in app.store.read(tables.contacts_of_employee, source.uid)]
    else:
        uids = [_user(app, h).uid for h in _arg(args, "customers", list)]
    consumers = [u for u in map(app.store.user, uids) if u is not None]
    message, now = str(args.get("message") or "")[:200], app.clock.now_ms()
    notices = await _write(app, app.transfers.start_op(source, target, consumers, message, now))
    return {"from": source.handle, "to": target.handle, "started": notices.sent,
            "skipped": notices.skipped}


@command("transfer.status")
async def transfer_status(app: Running, args: dict[str, Any]) -> list[dict[str, Any]]:
    from corpchat.store import customers as cust

    def handle(uid: int) -> str:
        user = app.store.user(uid)
        return user.handle if user else str(uid)

    return [{"customer": handle(t.consumer), "from": handle(t.source), "to": handle(t.target),
             "state": t.state, "started_ms": t.started_ms, "due_ms": t.due_ms}
            for t in app.store.read(cust.all_transfers)]


@command("user.remove")
async def user_remove(app: Running, args: dict[str, Any]) -> dict[str, Any]:
    """An employee leaves: disabled like user.disable, but their customers stay with the
    corp, waiting for 'transfer'."""
    result = await user_disable(app, args)
    return {**result, "customers_waiting": "use 'corpchat admin transfer --from ...'"}


def search_stats(app: Running) -> dict[str, Any]:
    """The search indexer's figures (zeros when search is off); the search commands
    are in admin_search.py."""
    indexer = app.indexer
    figures = indexer.stats() if indexer is not None else None
    return {
        "search_indexed_pos": figures.indexed_pos if figures else 0,
        "search_lag_messages": figures.lag_messages if figures else 0,
        "search_lag_s": round(figures.lag_seconds, 3) if figures else 0.0,
        "search_documents": figures.documents if figures else 0,
        "search_index_bytes": figures.index_bytes if figures else 0,
        "search_commits": figures.commits if figures else 0,
    }
