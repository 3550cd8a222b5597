"""The verbs of `corpchat admin`: one function per command family, each adding its
subcommands (the name of the admin command they send and how its arguments are built)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

from .api.cli_apps import add_member_tag_verbs


def add_commands(asub: Any) -> None:
    """Every command family, in the order `corpchat admin --help` lists them."""
    for add in (_admin_corp, _admin_user, _admin_directory, _admin_customers, _admin_search,
                _admin_token, _admin_operations):
        add(asub)


def _interval(value: str) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return seconds


def _admin_corp(asub: Any) -> None:
    """`admin corp …`: corps, their policy and default quiet hours."""
    corp = asub.add_parser("corp", help="corps").add_subparsers(dest="verb", required=True)
    c = corp.add_parser("add", help="create a corp")
    c.add_argument("name", help="the short name, shown to consumers as the @badge")
    c.add_argument("--full-name", help="the corp's full name")
    c.set_defaults(cmd="corp.add", build=lambda a: {"name": a.name, "full_name": a.full_name})
    c = corp.add_parser("set", help="change a corp's full name or policy")
    c.add_argument("corp")
    c.add_argument("--full-name")
    for flag, meaning in CORP_POLICY_FLAGS.items():
        c.add_argument(f"--{flag}", choices=["yes", "no"], help=meaning)
    c.set_defaults(cmd="corp.set", build=lambda a: {
        "corp": a.corp, "full_name": a.full_name,
        **{f.replace("-", "_"): getattr(a, f.replace("-", "_")) == "yes"
           for f in CORP_POLICY_FLAGS if getattr(a, f.replace("-", "_")) is not None}})
    q = corp.add_parser("quiet-hours", help="the corp's default quiet hours")
    q.add_argument("corp")
    q.add_argument("--timezone", help="IANA name, e.g. Asia/Shanghai")
    q.add_argument("--windows", help="e.g. 'mon-fri 20:00-08:00, sat-sun 00:00-24:00'")
    q.add_argument("--disabled", action="store_true", help="keep it, but switched off")
    q.add_argument("--clear", action="store_true", help="no corp default")
    q.set_defaults(cmd="corp.quiet_hours", build=lambda a: {
        "corp": a.corp, "timezone": a.timezone, "windows": a.windows,
        "disabled": a.disabled, "clear": a.clear})


def _admin_user(asub: Any) -> None:
    """`admin user …`: accounts, profiles, invites and passwords."""
    user = asub.add_parser("user", help="users").add_subparsers(dest="verb", required=True)
    u = user.add_parser("add", help="create a user; print the invite link they sign in with")
    realm = u.add_mutually_exclusive_group(required=True)
    realm.add_argument("--corp", help="an employee of this corp")
    realm.add_argument("--consumer", action="store_true", help="a consumer account")
    u.add_argument("handle")
    u.set_defaults(cmd="user.add", build=lambda a: {"handle": a.handle, "corp": a.corp,
                                                     "consumer": a.consumer})
    u = user.add_parser("set", help="change a user's profile or flags")
    u.add_argument("handle")
    u.add_argument("--corp-admin", choices=["yes", "no"], help="may post corp announcements")
    for name in ("name", "title", "phone", "email"):
        u.add_argument(f"--{name}")
    u.add_argument("--dept", type=int, help="department id")
    u.set_defaults(cmd="user.set", build=lambda a: {
        "handle": a.handle, "name": a.name, "title": a.title, "phone": a.phone,
        "email": a.email, "dept": a.dept,
        "corp_admin": None if a.corp_admin is None else a.corp_admin == "yes"})
    u = user.add_parser("list", help="list users")
    u.set_defaults(cmd="user.list", build=lambda a: {})
    u = user.add_parser("remove", help="an employee leaves; their customers wait for transfer")
    u.add_argument("handle")
    u.set_defaults(cmd="user.remove", build=lambda a: {"handle": a.handle})
    u = user.add_parser("disable", help="revoke every token and close every session")
    u.add_argument("handle")
    u.set_defaults(cmd="user.disable", build=lambda a: {"handle": a.handle})
    u = user.add_parser("enable", help="let a disabled user sign in again (password, new invite)")
    u.add_argument("handle")
    u.set_defaults(cmd="user.enable", build=lambda a: {"handle": a.handle})
    u = user.add_parser("invite", help="a new invite link for a user (the old one ends)")
    u.add_argument("handle")
    u.set_defaults(cmd="user.invite", build=lambda a: {"handle": a.handle})
    u = user.add_parser("password", help="set a user's password, read from standard input")
    u.add_argument("handle")
    u.set_defaults(cmd="user.password", build=_password_args)


def _admin_directory(asub: Any) -> None:
    """`admin dept …` and `admin tag …`: departments and the customer tag library."""
    dept = asub.add_parser("dept", help="departments").add_subparsers(dest="verb", required=True)
    d = dept.add_parser("add", help="add a department")
    d.add_argument("--corp", required=True)
    d.add_argument("--parent", type=int, default=0)
    d.add_argument("name")
    d.set_defaults(cmd="dept.add", build=lambda a: {"corp": a.corp, "name": a.name,
                                                     "parent": a.parent})
    d = dept.add_parser("move", help="move a department under another (0: the top)")
    d.add_argument("dept", type=int)
    d.add_argument("--parent", type=int, required=True)
    d.set_defaults(cmd="dept.move", build=lambda a: {"dept": a.dept, "parent": a.parent})

    tag = asub.add_parser("tag", help="the corp's customer tag library")
    t_sub = tag.add_subparsers(dest="verb", required=True)
    t = t_sub.add_parser("group-add", help="add a tag group")
    t.add_argument("--corp", required=True)
    t.add_argument("name")
    t.set_defaults(cmd="tag.group_add", build=lambda a: {"corp": a.corp, "name": a.name})
    t = t_sub.add_parser("add", help="add a tag to a group")
    t.add_argument("--corp", required=True)
    t.add_argument("--group", type=int, required=True)
    t.add_argument("name")
    t.set_defaults(cmd="tag.add", build=lambda a: {"corp": a.corp, "group": a.group,
                                                    "name": a.name})
    t = t_sub.add_parser("list", help="the tag library")
    t.add_argument("--corp", required=True)
    t.set_defaults(cmd="tag.list", build=lambda a: {"corp": a.corp})
    add_member_tag_verbs(t_sub)  # employees' tags (server/api/cli_apps.py)


def _admin_customers(asub: Any) -> None:
    """`admin transfer` and `admin archive …`: customers changing hands, the archive."""
    tr = asub.add_parser("transfer", help="hand an employee's customers to a colleague")
    tr.add_argument("--from", dest="source", help="the employee handing over")
    tr.add_argument("--to", dest="target", help="the colleague taking over")
    which = tr.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true")
    which.add_argument("--customers", help="comma-separated handles")
    tr.add_argument("--message", help="a note shown to each customer")
    tr.add_argument("verb", nargs="?", choices=["status"], help="'status' lists transfers")
    tr.set_defaults(cmd="transfer", build=_transfer_args)

    arch = asub.add_parser("archive", help="the corp archive of cross-realm messages")
    a_sub = arch.add_subparsers(dest="verb", required=True)
    x = a_sub.add_parser("export", help="stream the archive as JSON lines")
    x.add_argument("--corp", required=True)
    x.add_argument("--since", type=int, help="ms since the epoch")
    x.add_argument("--until", type=int, help="ms since the epoch")
    x.add_argument("--employee", help="only conversations this employee is in")
    x.add_argument("--output", help="a file (default: stdout)")
    x.add_argument("--with-media", action="store_true",
                   help="a tar of archive.jsonl and media/<sha256> (the files) instead")
    x.set_defaults(cmd="archive.export", stream=True, build=lambda a: {
        "corp": a.corp, "since": a.since, "until": a.until, "employee": a.employee})
    x = a_sub.add_parser("search", help="archive entries matching a query (recalled and "
                                        "edited versions too), as rows")
    x.add_argument("corp")
    x.add_argument("query", help="words, \"phrases\" and -exclusions, as in `search`")
    x.add_argument("--since", type=int, help="ms since the epoch")
    x.add_argument("--until", type=int, help="ms since the epoch")
    x.add_argument("--output", help="a file (default: stdout)")
    x.set_defaults(cmd="archive.search", stream=True, build=lambda a: {
        "corp": a.corp, "query": a.query, "since": a.since, "until": a.until})


def _admin_search(asub: Any) -> None:
    """`admin search …`: the full-text search index."""
    srch = asub.add_parser("search", help="the full-text search index")
    s_sub = srch.add_subparsers(dest="verb", required=True)
    x = s_sub.add_parser("reindex", help="rebuild the index from the database while serving")
    x.set_defaults(cmd="search.reindex", build=lambda a: {})


def _admin_token(asub: Any) -> None:
    """`admin token …`: bearer tokens."""
    token = asub.add_parser("token", help="tokens").add_subparsers(dest="verb", required=True)
    t = token.add_parser("issue", help="issue another token for a user")
    t.add_argument("user")
    t.set_defaults(cmd="token.issue", build=lambda a: {"user": a.user})
    t = token.add_parser("list", help="a user's tokens: id, device, issued, last used")
    t.add_argument("user")
    t.set_defaults(cmd="token.list", build=lambda a: {"user": a.user})
    t = token.add_parser("revoke", help="revoke a token and close its sessions")
    t.add_argument("token_id")
    t.set_defaults(cmd="token.revoke", build=lambda a: {"token_id": a.token_id})


def _admin_operations(asub: Any) -> None:
    """Running the server: stats, sessions, kick, backup, log level, drain."""
    s = asub.add_parser("stats", help="live server statistics")
    s.add_argument("--watch", type=_interval, metavar="SECONDS",
                   help="refresh like top (with --json: one JSON object per line)")
    s.set_defaults(cmd="stats", build=lambda a: {})
    s = asub.add_parser("sessions", help="live sessions, of one user or all")
    s.add_argument("user", nargs="?")
    s.set_defaults(cmd="sessions", build=lambda a: {"user": a.user})
    s = asub.add_parser("kick", help="close a user's sessions (they may reconnect)")
    s.add_argument("user")
    s.add_argument("--device")
    s.set_defaults(cmd="kick", build=lambda a: {"user": a.user, "device": a.device})
    s = asub.add_parser("backup", help="a consistent compacted copy of the live database")
    s.add_argument("path", help="a new directory")
    s.set_defaults(cmd="backup", build=lambda a: {"path": os.path.abspath(a.path)})
    s = asub.add_parser("log-level", help="change the server's log level")
    s.add_argument("level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    s.set_defaults(cmd="log-level", build=lambda a: {"level": a.level})
    s = asub.add_parser("drain", help="stop accepting, close clients with 'going away', exit")
    s.add_argument("--timeout", type=float, help="seconds clients get to take their last bytes")
    s.set_defaults(cmd="drain", build=lambda a: {"timeout_s": a.timeout})


CORP_POLICY_FLAGS = {
    "show-consumer-reads": "employees see when customers read (default yes)",
    "show-employee-reads": "customers see when employees read (default no)",
    "push-previews": "message text in employees' push notifications (default yes)",
    "transfer-history": "a colleague taking over customers sees the old chat (default yes)",
    "forward-to-customers": "internal messages may be forwarded to customers (default no)",
    "robots-in-external-groups": "group robots may post into external groups (default no)",
}


def _password_args(a: argparse.Namespace) -> dict[str, Any]:
    """The password from standard input: asked for (not echoed) on a terminal, else its
    first line. It goes to the server over the admin socket and is never printed."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"new password for {a.handle}: ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    return {"handle": a.handle, "password": password}


def _transfer_args(a: argparse.Namespace) -> dict[str, Any]:
    if a.verb == "status":
        a.cmd = "transfer.status"
        return {}
    customers = [h for h in (a.customers or "").split(",") if h]
    return {"from": a.source, "to": a.target, "all": a.all, "customers": customers,
            "message": a.message}
