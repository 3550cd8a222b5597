"""`corpchat admin app …`: the parsers of the open platform's admin commands."""

from __future__ import annotations

import argparse
import datetime
from typing import Any


def _csv(value: str | None, kind: type = str) -> list[Any] | None:
    return None if value is None else [kind(v) for v in value.split(",") if v.strip()]


def _when_ms(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {value}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return int(when.timestamp() * 1000)


def add_app_admin(asub: Any) -> None:
    """`admin app …`: the open platform's apps (docs/api.md)."""
    app = asub.add_parser("app", help="apps of the HTTP API").add_subparsers(
        dest="verb", required=True)
    a = app.add_parser("add", help="create an app and print its id and secret (once)")
    a.add_argument("--corp", required=True)
    a.add_argument("name")
    a.add_argument("--callback-url", help="where its events are POSTed (http or https)")
    a.set_defaults(cmd="app.add", build=lambda a: {"corp": a.corp, "name": a.name,
                                                    "callback_url": a.callback_url})
    a = app.add_parser("list", help="the apps (of one corp)")
    a.add_argument("--corp")
    a.set_defaults(cmd="app.list", build=lambda a: {"corp": a.corp})
    for verb, cmd, what in (("remove", "app.remove", "remove an app and its tokens"),
                            ("rotate-secret", "app.rotate_secret",
                             "a new secret; every access token retires")):
        a = app.add_parser(verb, help=what)
        a.add_argument("app", type=int)
        a.set_defaults(cmd=cmd, build=lambda a: {"app": a.app})
    a = app.add_parser("status", help="its callbacks: backlog, last error, failing")
    a.add_argument("app", type=int)
    a.set_defaults(cmd="app.status", build=lambda a: {"app": a.app})
    a = app.add_parser("replay", help="send the kept events from a time on again")
    a.add_argument("app", type=int)
    a.add_argument("--since", required=True, type=_when_ms,
                   help="ms since the epoch, or an ISO time (2026-12-04T10:00:00+08:00)")
    a.set_defaults(cmd="app.replay", build=lambda a: {"app": a.app, "since": a.since})
    a = app.add_parser("scope", help="whom the app reaches (each list given replaces)")
    a.add_argument("app", type=int)
    a.add_argument("--users", help="comma-separated handles")
    a.add_argument("--departments", help="comma-separated department ids")
    a.add_argument("--tags", help="comma-separated tag ids (employees carrying one)")
    a.add_argument("--callback-url", help="change the callback URL ('' removes it)")
    a.set_defaults(cmd="app.scope", build=lambda a: {
        "app": a.app, "users": _csv(a.users), "departments": _csv(a.departments, int),
        "tags": _csv(a.tags, int), "callback_url": a.callback_url})


def add_member_tag_verbs(t_sub: Any) -> None:
    """`admin tag assign|unassign`: the corp's tags on employees (to.tags, app scopes)."""
    for verb, on, what in (("assign", True, "put a tag on employees"),
                           ("unassign", False, "take a tag off employees")):
        t = t_sub.add_parser(verb, help=what)
        t.add_argument("--corp", required=True)
        t.add_argument("--tag", type=int, required=True)
        t.add_argument("handles", nargs="+")
        t.set_defaults(cmd="tag.assign", build=lambda a, on=on: {
            "corp": a.corp, "tag": a.tag, "handles": a.handles, "on": on})


