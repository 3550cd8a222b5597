"""The `corpchat` command: serve, admin, client, loadtest."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import trio

from corpchat.adminclient import AdminError, AdminUnreachable, call, call_stream, socket_path

from .admin import AdminSocketUnusable
from .audit import audit_offline
from .config import ServerConfig
from .human import render


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # a reader gone early shows here, not in the interpreter's exit
    except BrokenPipeError:  # `corpchat admin user list | head -1`: not an error
        _silence_stdout()
        return 141  # 128 + SIGPIPE: what a shell reports for a command the pipe ended
    except KeyboardInterrupt:
        return 130
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush has nowhere to fail."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (tests capturing it): nothing to do
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corpchat", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    _add_admin(sub)
    _add_restore(sub)
    _add_client(sub)
    _add_loadtest(sub)
    return parser


def _version() -> str:
    """The installed package's version (pyproject.toml), not a copy kept in the code."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("corpchat")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(unknown: not installed)"


# ----- serve -----

def _add_serve(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--config", help="a TOML file with any setting (flags override it)")
    p.add_argument("--data", help="data directory (default ./data)")
    p.add_argument("--listen", type=_listen, help="HOST:PORT (default 127.0.0.1:8765)")
    p.add_argument("--no-fsync", action="store_true",
                   help="do not fsync commits (benchmarks only: acked data may be lost)")
    p.add_argument("--map-mb", type=int, help="initial LMDB map size in MiB (default 256)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=["plain", "json"], default="plain")
    p.add_argument("--push-url", help="POST offline notifications (JSON) to this URL")
    p.add_argument("--public-url", help="how people reach the server, for invite links "
                   "(behind a proxy), e.g. https://chat.example.com")
    p.add_argument("--tls-cert", help="PEM certificate chain: serve wss:// and https://")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--open-signup", action="store_true",
                   help="let consumers create accounts with 'register' (rate-limited)")
    p.set_defaults(run=_serve)


def _serve_config(args: argparse.Namespace) -> ServerConfig:
    from .config import load_config

    config = load_config(args.config) if args.config else ServerConfig()
    flags: dict[str, Any] = {}
    if args.data:
        flags["data_dir"] = args.data
    if args.listen:
        flags["host"], flags["port"] = args.listen
    if args.no_fsync:
        flags["durable"] = False
    if args.map_mb:
        flags["map_initial_bytes"] = args.map_mb * 1024 * 1024
    if getattr(args, "open_signup", False):
        flags["open_signup"] = True
    if getattr(args, "push_url", None):
        flags["push_url"] = args.push_url
    for name in ("public_url", "tls_cert", "tls_key"):
        if getattr(args, name, None):
            flags[name] = getattr(args, name)
    return dataclasses.replace(config, **flags)


def _data_dir_problem(path: str, exc: OSError) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        part = os.path.abspath(path)
        while not os.path.lexists(part):  # the file in the way: itself or a parent
            part = os.path.dirname(part)
        if not os.path.isdir(part):
            return f"{part} is a file, not a directory"
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _serve(args: argparse.Namespace) -> int:
    from corpchat.store import StorageError

    from .app import App
    from .config import ConfigError
    from .logs import configure

    configure(args.log_level, args.log_format)
    try:
        config = _serve_config(args)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .tls import TlsUnusable

    try:
        app = App(config)
    except TlsUnusable as exc:  # before OSError: an unreadable certificate is one
        return _fail(str(exc), 1)
    except OSError as exc:  # not a directory, under a file, not ours to write, ...
        return _fail(f"cannot use the data directory {config.data_dir}: "
                     f"{_data_dir_problem(config.data_dir, exc)}", 1)
    except StorageError as exc:
        return _fail(str(exc), 1)
    # A chat server holds many long-lived objects (sessions, caches): collect the
    # young generation less often and leave what exists at start out of full
    # collections. Measured: ack p99 at 5k msgs/s went from 92 ms to 39 ms.
    gc.set_threshold(50_000, 50, 1000)
    gc.freeze()

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(app.watch_signals)
            await app.serve()
            nursery.cancel_scope.cancel()

    failed: list[BaseException] = []
    try:
        trio.run(run)
    except* OSError as group:  # the port is taken, the address is not ours, ...
        failed.extend(_leaves(group))
    if failed:
        problem = failed[0]
        if isinstance(problem, AdminSocketUnusable):
            return _fail(str(problem), 1)
        return _fail(f"cannot serve on {config.host}:{config.port}: {problem}", 1)
    return 0


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


# ----- admin -----

def _add_admin_flags(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The flags every admin command takes, before or after its name."""
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    p.add_argument("--data", default=default("./data"), help="the server's data directory")
    p.add_argument("--socket", default=default(None),
                   help="admin socket path (default DATA/admin.sock)")
    p.add_argument("--json", action="store_true", default=default(False),
                   help="print results as JSON")


ADMIN_FLAGS = argparse.ArgumentParser(add_help=False)
_add_admin_flags(ADMIN_FLAGS, defaults=False)


class AdminParser(argparse.ArgumentParser):
    """Every parser under `admin` (nested add_subparsers inherit the class), so
    `admin user list --json` works like `admin --json user list`. The copies of the
    flags here default to SUPPRESS: a flag given before the sub-command is kept."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("parents", [ADMIN_FLAGS])
        super().__init__(**kwargs)


def _interval(value: str) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return seconds


def _add_admin(sub: Any) -> None:
    p = sub.add_parser("admin", help="operate a running server through its admin socket")
    _add_admin_flags(p, defaults=True)
    asub = p.add_subparsers(dest="admin_command", required=True, parser_class=AdminParser)

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

    user = asub.add_parser("user", help="users").add_subparsers(dest="verb", required=True)
    u = user.add_parser("add", help="create a user; print its first token and an invite link")
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

    srch = asub.add_parser("search", help="the full-text search index")
    s_sub = srch.add_subparsers(dest="verb", required=True)
    x = s_sub.add_parser("reindex", help="rebuild the index from the database while serving")
    x.set_defaults(cmd="search.reindex", build=lambda a: {})
    u = user.add_parser("list", help="list users")
    u.set_defaults(cmd="user.list", build=lambda a: {})

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

    u = user.add_parser("remove", help="an employee leaves; their customers wait for transfer")
    u.add_argument("handle")
    u.set_defaults(cmd="user.remove", build=lambda a: {"handle": a.handle})
    u = user.add_parser("disable", help="revoke every token and close every session")
    u.add_argument("handle")
    u.set_defaults(cmd="user.disable", build=lambda a: {"handle": a.handle})
    u = user.add_parser("enable", help="let a disabled user log in again (then: token issue)")
    u.add_argument("handle")
    u.set_defaults(cmd="user.enable", build=lambda a: {"handle": a.handle})
    u = user.add_parser("invite", help="a new invite link for a user (the old one ends)")
    u.add_argument("handle")
    u.set_defaults(cmd="user.invite", build=lambda a: {"handle": a.handle})
    u = user.add_parser("password", help="set a user's password, read from standard input")
    u.add_argument("handle")
    u.set_defaults(cmd="user.password", build=_password_args)

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
    p.set_defaults(run=_admin)


CORP_POLICY_FLAGS = {
    "show-consumer-reads": "employees see when customers read (default yes)",
    "show-employee-reads": "customers see when employees read (default no)",
    "push-previews": "message text in employees' push notifications (default yes)",
    "transfer-history": "a colleague taking over customers sees the old chat (default yes)",
    "forward-to-customers": "internal messages may be forwarded to customers (default no)",
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


def _add_restore(sub: Any) -> None:
    p = sub.add_parser("restore", help="put a backup in place (server stopped)")
    p.add_argument("path", help="the backup directory (made by 'corpchat admin backup')")
    p.add_argument("--data", default="./data", help="the data directory to restore into")
    p.add_argument("--create", action="store_true",
                   help="the data directory does not exist yet: create it")
    p.set_defaults(run=_restore)


def _restore(args: argparse.Namespace) -> int:
    """Refuse anything but a corpchat backup this server reads, before touching
    anything; then say what replaced what, and where the replaced database is kept."""
    from corpchat.store import NotRestorable, StorageError, restore_backup

    from .app import lock_data_dir  # refuses while a server runs on the directory

    try:
        done = restore_backup(args.path, args.data, create=args.create, hold=lock_data_dir)
    except NotRestorable as exc:
        print(f"error: restore refused, nothing changed: {exc}", file=sys.stderr)
        return 1
    except (OSError, StorageError) as exc:
        print(f"error: restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.path} into {args.data}")
    print(f"  now:      {_db_summary(done.installed)}")
    if done.kept_as is None:
        print("  replaced: nothing (the data directory held no database)")
    else:
        was = _db_summary(done.replaced) if done.replaced else f"unreadable ({done.replaced_error})"
        print(f"  replaced: {was}")
        print(f"  kept as:  {done.kept_as}")
    audit_offline("restore", path=args.path, data=args.data,
                  bytes=done.installed.bytes, kept_as=done.kept_as)
    return 0


def _db_summary(summary: Any) -> str:
    return (f"{summary.messages} messages, last pos {summary.last_pos}, "
            f"{summary.bytes} bytes (schema {summary.schema})")


def _admin(args: argparse.Namespace) -> int:
    if getattr(args, "watch", None):
        return _watch(args)
    return _admin_once(args)


def _watch(args: argparse.Namespace) -> int:
    """Like top on a terminal; into a pipe or with --json, one snapshot after another."""
    clear = not args.json and sys.stdout.isatty()
    try:
        while True:
            if clear:
                sys.stdout.write("\x1b[H\x1b[2J")
            if code := _admin_once(args):
                return code
            sys.stdout.flush()  # each snapshot reaches a pipe (`| jq`) as it is taken
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def _admin_once(args: argparse.Namespace) -> int:
    path = args.socket or socket_path(args.data)
    if getattr(args, "stream", False):
        return _admin_stream(args, path)
    try:
        request = args.build(args)  # may pick the command (e.g. 'transfer status')
        with _exchange():
            result = call(path, args.cmd, request)
    except AdminUnreachable as exc:
        return _fail(str(exc), 2)
    except AdminError as exc:
        return _fail(f"{exc.code}: {exc.message}", 1)
    _print_result(args, result)
    return 0


def _print_result(args: argparse.Namespace, result: Any) -> None:
    if not args.json:
        if text := render(result):  # an empty list prints nothing, not an empty line
            print(text)
        if getattr(args, "watch", None) and not sys.stdout.isatty():
            print()  # snapshots apart
    elif getattr(args, "watch", None):
        print(json.dumps(result))  # JSON lines: one snapshot per line
    else:
        print(json.dumps(result, indent=2))


@contextlib.contextmanager
def _exchange() -> Iterator[None]:
    """The admin connection failing mid-answer, as an AdminError like a refusal."""
    try:
        yield
    except AdminUnreachable:
        raise
    except TimeoutError:
        raise AdminError("timeout", "the server did not answer in time") from None
    except OSError as exc:
        raise AdminError("disconnected", f"the admin connection failed: {exc}") from None


def _rows(path: str, cmd: str, request: dict[str, Any]) -> Iterator[Any]:
    """call_stream's rows; only the socket's failures pass through _exchange, not those
    of the loop writing them out."""
    with _exchange():
        yield from call_stream(path, cmd, request)


def _admin_stream(args: argparse.Namespace, path: str) -> int:
    try:
        out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror}", 1)
    try:
        for row in _rows(path, args.cmd, args.build(args)):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    except AdminUnreachable as exc:
        return _fail(str(exc), 2)
    except AdminError as exc:
        return _fail(f"{exc.code}: {exc.message}", 1)
    except BrokenPipeError:
        raise  # the reader left: main() ends quietly
    except OSError as exc:  # the socket's failures became AdminError: this is the output
        return _fail(f"cannot write {args.output or 'stdout'}: {exc.strerror}", 1)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


# ----- client and loadtest live in their own modules -----

def _add_client(sub: Any) -> None:
    from . import client_cli

    client_cli.add_parser(sub)


def _add_loadtest(sub: Any) -> None:
    try:
        from corpchat.loadtest import cli as loadtest_cli
    except ImportError:
        return
    loadtest_cli.add_parser(sub)


if __name__ == "__main__":
    sys.exit(main())
