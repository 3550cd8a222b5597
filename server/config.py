"""Server settings: one frozen dataclass, units in the names, ranges checked."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from corpchat.bridge import BridgeCaps, CustomerCaps
from corpchat.cluster import ClusterSettings
from corpchat.protocol import Limits
from corpchat.search import SearchCaps

from .api.settings import PlatformCaps
from .passwords import PasswordParams

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_ZERO_ALLOWED = frozenset({"port", "max_unauthenticated_per_address",  # 0 means "any"/"off"
                           "password_max_waiting", "login_failures_per_address",
                           "commit_share_s"})  # 0: every commit waits out commit_gap_s


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """The [media] table (docs/operations.md, "Media")."""

    max_upload_bytes: int = 100 * 1024 * 1024  # one file; 413 past it
    upload_bytes_per_day: int = 2 * 1024 * 1024 * 1024  # per user per UTC day; 429 past it
    corp_media_bytes: int = 0  # everything a corp's people uploaded; 0: no quota
    unreferenced_s: int = 24 * 3600  # an upload no message refers to is removed after this
    sweep_interval_s: float = 600.0  # how often expired uploads are looked for
    max_image_pixels: int = 64_000_000  # larger images are refused (decompression bombs)
    max_attachments: int = 9  # per message or moment
    url_ttl_s: int = 600  # signed URLs (media.url) stay valid this long
    # body bytes still to arrive of the uploads being received, server-wide; a new
    # upload waits for its turn while they are this many or more (server/upload_budget.py)
    upload_bytes_in_flight: int = 64 * 1024 * 1024
    upload_turn_wait_s: float = 30.0  # ... at most this long, then 503 server_busy
    # upload bytes per second over all uploads, after a burst (server/upload_pace.py);
    # 0: as fast as they come
    upload_bytes_per_s: int = 64 * 1024 * 1024
    upload_burst_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value < 0 or (value == 0 and f.name not in ("corp_media_bytes",
                                                           "upload_bytes_per_s")):
                raise ValueError(f"setting {f.name} must be positive")


@dataclass(frozen=True, slots=True)
class EverydayCaps:
    """The [everyday] table: limits of mentions, edits, reactions, forwards, notices
    and pins (docs/protocol.md §31.9)."""

    max_mentions: int = 50  # handles per message (bad_request)
    edit_window_s: int = 24 * 3600  # a sender edits within this (edit_expired)
    max_reactions_per_message: int = 20  # distinct emoji (limit_reached)
    max_forward: int = 100  # messages per forward (bad_request)
    max_notice_chars: int = 4000  # a group notice's text (text_too_long)
    max_pins: int = 50  # pinned messages per conversation (limit_reached)
    # 1.8: a member's `reaction` events wait this long at most for their next write
    # (0: written at commit, as in 1.5)
    reaction_hold_ms: int = 100

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            least = 0 if f.name == "reaction_hold_ms" else 1
            if getattr(self, f.name) < least:
                raise ValueError(f"setting {f.name} must be {'positive' if least else '0 or more'}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: str = "./data"
    host: str = "127.0.0.1"
    port: int = 8765
    limits: Limits = field(default_factory=Limits)
    bridge: BridgeCaps = field(default_factory=BridgeCaps)  # the [bridge] table
    customers: CustomerCaps = field(default_factory=CustomerCaps)  # the [customers] table
    media: MediaSettings = field(default_factory=MediaSettings)  # the [media] table
    everyday: EverydayCaps = field(default_factory=EverydayCaps)  # the [everyday] table
    search: SearchCaps = field(default_factory=SearchCaps)  # the [search] table
    platform: PlatformCaps = field(default_factory=PlatformCaps)  # the [platform] table (apps)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)  # [cluster]: off
    durable: bool = True  # fsync every commit; off only for throwaway benchmarks
    map_initial_bytes: int = 256 * 1024 * 1024
    max_batch_ops: int = 4096
    # Group commit (store/writer.py): while writes come in company a commit waits for
    # enough of them to share its own measured CPU (the fdatasyncs) at commit_share_s
    # each, but never past commit_gap_s after the last commit began.
    commit_gap_s: float = 0.005
    commit_share_s: float = 0.000004
    # a mass message's chunk (the bulk lane) commits alone, at least this long after the
    # last commit began: room for chat writes between chunks (BROADCAST_CHUNK's figures)
    bulk_commit_gap_s: float = 0.002
    # how long the writer thread may wait for the GIL the event loop holds before it
    # asks for it (sys.setswitchinterval; CPython's default is 0.005)
    switch_interval_s: float = 0.005
    outbound_buffer_bytes: int = 1024 * 1024  # a session past this is closed: resync
    max_page_bytes: int = 256 * 1024
    handshake_timeout_s: float = 10.0
    ping_interval_s: float = 30.0  # WebSocket ping after this much silence
    idle_timeout_s: float = 75.0  # closed after this much silence
    close_timeout_s: float = 5.0  # how long a closing session may take to drain
    shutdown_timeout_s: float = 10.0
    max_inflight_per_session: int = 256  # unacked sends before we stop reading
    requests_per_s: float = 200.0  # per connection, sustained
    request_burst: int = 400
    max_rate_violations: int = 100  # rate-limited requests in a row before a 1008 close
    max_sessions_per_user: int = 32
    max_group_members: int = 2000
    max_group_consumers: int = 100  # the project brief's cap on external members
    recall_window_s: int = 24 * 3600
    typing_per_s: float = 1.0  # per user, burst of 3
    remind_interval_s: int = 300  # per receipt-requested message
    unread_count_cap: int = 999  # unread counts stop counting here
    open_signup: bool = False  # consumers may `register` themselves
    push_url: str = ""  # offline notifications are POSTed here (empty: off)
    push_queue_max: int = 10_000  # notifications waiting; more are dropped and counted
    urgent_per_day: int = 5  # urgent messages per sender per day
    signups_per_s: float = 2.0  # server-wide, burst of 10
    max_connections: int = 100_000
    # Connections that have not said `hello` yet, per remote address (0: no
    # per-address cap, e.g. behind a reverse proxy) and in all.
    max_unauthenticated_per_address: int = 64
    max_unauthenticated: int = 10_000
    # Sign-in (docs/operations.md, "Sign-in"): invites, failed-login windows, argon2id.
    public_url: str = ""  # how people reach the server, for invite links ("" : http://HOST:PORT)
    invite_ttl_s: int = 7 * 86_400
    login_failures_per_handle: int = 5  # within login_window_s, then rate_limited
    login_failures_per_address: int = 20  # 0: off (behind a proxy every client shares one)
    login_window_s: int = 900
    password_time_cost: int = 2  # argon2id iterations
    password_memory_kib: int = 19_456  # argon2id memory per hash (19 MiB)
    password_parallelism: int = 1
    password_workers: int = 2  # hashes running at once (threads), each a core while it runs
    password_max_waiting: int = 64  # queued behind them; more are refused at once (busy)
    # TLS on the listening port (both or neither): wss:// and https://, reloaded on SIGHUP.
    tls_cert: str = ""  # PEM certificate chain
    tls_key: str = ""  # PEM private key

    @property
    def password_params(self) -> PasswordParams:
        return PasswordParams(self.password_time_cost, self.password_memory_kib,
                              self.password_parallelism, self.password_workers,
                              self.password_max_waiting)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @property
    def page_bytes(self) -> int:
        """Sync and history pages stay well inside a session's outbound bound."""
        return min(self.max_page_bytes, self.outbound_buffer_bytes // 2)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be 0-65535")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if value < 0 or (value == 0 and f.name not in _ZERO_ALLOWED):
                    raise ValueError(f"setting {f.name} must be positive")
        if (problem := self.password_params.problem()) is not None:
            raise ValueError(problem)  # refuse to start with weak password hashing
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("public_url must begin with http:// or https://")


class ConfigError(ValueError):
    """A setting that is unknown, of the wrong type or out of range (names the key)."""


def _coerce(key: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, float)
    elif isinstance(default, tuple):  # a TOML list of strings (platform.callback_hosts)
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if ok:
            assert isinstance(value, list)
            value = tuple(str(v).lower() for v in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"setting {key!r} must be a {type(default).__name__}")
    return value


D = TypeVar("D", bound="DataclassInstance")


def _apply(cls: type[D], base: D, table: dict[str, object], prefix: str) -> D:
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls)}
    # Parsed TOML: each value is checked against its field's default by _coerce.
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields or key in TABLES:
            raise ConfigError(f"unknown setting {prefix + key!r}")
        changes[key] = _coerce(prefix + key, value, fields[key])
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as exc:
        raise ConfigError(f"{prefix.rstrip('.') or 'server'}: {exc}") from None


TABLES = {"limits": Limits, "bridge": BridgeCaps, "customers": CustomerCaps,
          "media": MediaSettings, "everyday": EverydayCaps, "search": SearchCaps,
          "platform": PlatformCaps, "cluster": ClusterSettings}


def config_from_mapping(data: dict[str, object], base: ServerConfig | None = None) -> ServerConfig:
    """Build a config from a parsed TOML document: top-level keys are ServerConfig
    fields (plus `listen = "HOST:PORT"`); the tables [limits], [bridge],
    [customers], [media], [everyday] and [search] are Limits, BridgeCaps, CustomerCaps,
    MediaSettings, EverydayCaps and SearchCaps."""
    data = dict(data)
    base = base or ServerConfig()
    tables: dict[str, Any] = {}  # field name -> its dataclass (TABLES), built from TOML
    for name, cls in TABLES.items():
        table = data.pop(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        tables[name] = _apply(cls, getattr(base, name), table, f"{name}.")
    listen = data.pop("listen", None)
    if listen is not None:
        host, _, port = str(listen).rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("setting 'listen' must be HOST:PORT")
        data.update(host=host.strip("[]"), port=int(port))
    config = _apply(ServerConfig, base, data, "")
    return dataclasses.replace(config, **tables)


def load_config(path: str) -> ServerConfig:
    import tomllib

    try:
        with open(path, "rb") as f:
            return config_from_mapping(tomllib.load(f))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
