"""The `corpchat` command: serve, admin, client, loadtest."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import trio

from corpchat.adminclient import AdminError, AdminUnreachable, call, call_stream, socket_path

from .admin import AdminSocketUnusable
from .api.cli_apps import add_app_admin
from .audit import audit_offline
from .cli_admin import add_commands
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
    p.add_argument("--cluster", metavar="nats://HOST:PORT[,...]",
                   help="run as a node of a cluster on these NATS servers (docs/cluster.md)")
    p.add_argument("--node", help="this node's name in the cluster (with --cluster)")
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
    if getattr(args, "cluster", None) or getattr(args, "node", None):
        flags["cluster"] = _cluster_flags(config, args)
    return dataclasses.replace(config, **flags)


def _cluster_flags(config: ServerConfig, args: argparse.Namespace) -> Any:
    """[cluster] with --cluster and --node over it (a ClusterSettings)."""
    changes: dict[str, Any] = {}
    if args.cluster:
        changes["urls"] = tuple(u.strip() for u in args.cluster.split(",") if u.strip())
    if args.node:
        changes["node"] = args.node
    return dataclasses.replace(config.cluster, **changes)


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
    gc.set_threshold(50_000, 50, 1000)  # fanoutbench.SERVER_GC mirrors this
    gc.freeze()
    # The event loop and the writer thread share one core: the loop takes the GIL back
    # after each system call before the woken writer can run, so the writer gets it only
    # by asking for it and waiting out the switch interval (docs/benchmarks.md, "Direct
    # path, round 3").
    sys.setswitchinterval(config.switch_interval_s)

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


def _add_admin(sub: Any) -> None:
    p = sub.add_parser("admin", help="operate a running server through its admin socket")
    _add_admin_flags(p, defaults=True)
    asub = p.add_subparsers(dest="admin_command", required=True, parser_class=AdminParser)
    add_commands(asub)
    add_app_admin(asub)
    p.set_defaults(run=_admin)


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
    if getattr(args, "with_media", False):
        return _admin_tar(args, path)
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


def _admin_tar(args: argparse.Namespace, path: str) -> int:
    """archive export --with-media: a tar stream (server/archive_tar.py)."""
    from .archive_tar import write_tar

    try:
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror}", 1)
    try:
        write_tar(_rows(path, args.cmd, args.build(args)), args.data, out)
    except AdminUnreachable as exc:
        return _fail(str(exc), 2)
    except AdminError as exc:
        return _fail(f"{exc.code}: {exc.message}", 1)
    except OSError as exc:
        return _fail(f"cannot write the archive: {exc}", 1)
    finally:
        if out is not sys.stdout.buffer:
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
