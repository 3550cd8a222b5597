"""The LMDB environment and every named operation on it.

Reads are synchronous functions that each run one short read transaction
(never held across an await). Writes are methods of `WriteTxn`, which the
group-commit writer (store/writer.py) creates once per batch: many
operations share one transaction and one fsync.

The writer thread assigns sequence numbers and stream positions, so it
caches the last `seq` of each conversation and the stream head; the caches
are thrown away whenever a transaction aborts.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import lmdb

from corpchat.protocol.errors import Refusal

from . import contacts, keys, settings
from .records import (
    ANNOUNCE,
    CONSUMER,
    DIRECT,
    ENTERPRISE,
    GROUP,
    TEXT,
    ArchiveEntry,
    Conversation,
    Corp,
    Membership,
    Message,
    Token,
    User,
    message_pos,
    pack,
    unpack,
)
from .scan import prefix_items as _prefix_items

T = TypeVar("T")
SCHEMA_VERSION = 1
USER_CACHE_SIZE = 200_000
DEFAULT_MAP_BYTES = 256 * 1024 * 1024
HANDLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
MAX_HANDLE_CHARS = 64


class StorageError(Exception):
    """The database refused a write or a read (disk full, I/O error)."""


class MapFull(StorageError):
    """The memory map is full; the caller grows it and tries again."""


# An operation that was checked and refused; nothing was written. The one
# refusal type of the project (protocol/errors.py), under the store's old name.
Refused = Refusal


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def valid_handle(handle: str) -> bool:
    return 0 < len(handle) <= MAX_HANDLE_CHARS and set(handle) <= HANDLE_CHARS


class Store:
    """One LMDB environment in a data directory."""

    def __init__(self, path: str, *, map_bytes: int = DEFAULT_MAP_BYTES,
                 durable: bool = True) -> None:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # an existing directory too: it holds everyone's messages
        self.path = path
        try:
            self.env = lmdb.open(path, map_size=map_bytes, max_dbs=len(keys.DATABASES) + 2,
                                 sync=durable, metasync=durable, writemap=False,
                                 max_readers=256, mode=0o600)
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the database in {path}: {exc}") from exc
        self.env.reader_check()
        with self.env.begin(write=True) as txn:
            self.db = {name: self.env.open_db(name.encode(), txn=txn) for name in keys.DATABASES}
            self._check_schema(txn)
            contacts.index_senders(txn, self.db)  # indexes added in 1.2: built once
            settings.index_tokens(txn, self.db)
        self.last_seq: dict[int, int] = {}  # writer thread only
        self.head: int | None = None  # writer thread only
        # Held by anything that reads from another thread (backup) and by a map
        # resize, which needs no transaction open anywhere in the process.
        self.resize_lock = threading.Lock()
        # Users by handle and uid, read on every send; cleared after any commit
        # that writes a user (see WriteTxn.put_user).
        self._by_handle: dict[str, User] = {}
        self._by_uid: dict[int, User] = {}
        self._corps: dict[int, Corp] = {}  # read per receipt and push; cleared likewise
        self._user_generation = 0

    def _check_schema(self, txn: lmdb.Transaction) -> None:
        raw = txn.get(b"schema", db=self.db["meta"])
        if raw is None:
            txn.put(b"schema", pack(SCHEMA_VERSION), db=self.db["meta"])
        elif unpack(raw) != SCHEMA_VERSION:
            raise StorageError(f"database schema {unpack(raw)} is not {SCHEMA_VERSION}")

    def close(self) -> None:
        self.env.close()

    # ----- map size -----

    @property
    def map_bytes(self) -> int:
        return int(self.env.info()["map_size"])

    def grow_map(self) -> int:
        """Double the map. Only call with no transaction open in the process."""
        new_size = self.map_bytes * 2
        self.env.set_mapsize(new_size)
        return new_size

    def backup(self, path: str) -> int:
        """A consistent, compacted copy of the live database in `path` (a new,
        empty directory); returns its size. Blocking: run it in a thread."""
        os.makedirs(path, mode=0o700, exist_ok=False)
        with self.resize_lock:
            try:
                self.env.copy(path, compact=True)
            except lmdb.Error as exc:
                raise StorageError(f"backup failed: {exc}") from exc
        return os.path.getsize(os.path.join(path, "data.mdb"))

    def forget_write_caches(self) -> None:
        self.last_seq.clear()
        self.head = None

    # ----- reads -----

    @contextmanager
    def _read(self) -> Iterator[lmdb.Transaction]:
        try:
            with self.env.begin(buffers=False) as txn:
                yield txn
        except lmdb.Error as exc:
            raise StorageError(str(exc)) from exc

    def read(self, op: Callable[..., T], *args: Any) -> T:
        """Run a named read operation (e.g. from store.contacts) in one short read txn."""
        with self._read() as txn:
            return op(txn, self.db, *args)

    def authenticate(self, token: str) -> tuple[User, Token] | None:
        """The enabled user a bearer token belongs to, with the token's record; or None."""
        with self._read() as txn:
            raw = txn.get(token_digest(token), db=self.db["tokens"])
            if raw is None:
                return None
            record = Token.decode(raw)
        user = self.user(record.uid)
        return None if user is None or user.disabled else (user, record)

    def user_by_handle(self, handle: str) -> User | None:
        user = self._by_handle.get(handle)
        if user is not None or not valid_handle(handle):
            return user
        generation = self._user_generation
        with self._read() as txn:
            raw = txn.get(handle.encode(), db=self.db["handles"])
            user = None if raw is None else _get_user(txn, self.db, keys.read_u64(raw))
        self._remember(user, generation)
        return user

    def user(self, uid: int) -> User | None:
        user = self._by_uid.get(uid)
        if user is not None:
            return user
        generation = self._user_generation
        with self._read() as txn:
            user = _get_user(txn, self.db, uid)
        self._remember(user, generation)
        return user

    def _remember(self, user: User | None, generation: int) -> None:
        """Cache a user read, unless a commit changed users meanwhile."""
        if user is None or generation != self._user_generation:
            return
        if len(self._by_uid) >= USER_CACHE_SIZE:
            self._by_uid.clear()
            self._by_handle.clear()
        self._by_uid[user.uid] = user
        self._by_handle[user.handle] = user

    def users_changed(self) -> None:
        """Called after a commit that wrote user or corp records: forget cached ones."""
        self._user_generation += 1
        self._by_uid.clear()
        self._by_handle.clear()
        self._corps.clear()

    def users(self) -> list[User]:
        with self._read() as txn:
            return [User.decode(keys.read_u64(k), v)
                    for k, v in txn.cursor(db=self.db["users"]).iternext()]

    def corp_by_name(self, name: str) -> Corp | None:
        with self._read() as txn:
            raw = txn.get(name.encode(), db=self.db["corp_names"])
            if raw is None:
                return None
            corp_id = keys.read_u64(raw)
            return Corp.decode(corp_id, txn.get(keys.u64(corp_id), db=self.db["corps"]))

    def corp(self, corp_id: int) -> Corp | None:
        corp = self._corps.get(corp_id)
        if corp is not None:
            return corp
        generation = self._user_generation
        with self._read() as txn:
            raw = txn.get(keys.u64(corp_id), db=self.db["corps"])
        corp = None if raw is None else Corp.decode(corp_id, raw)
        if corp is not None and generation == self._user_generation:
            self._corps[corp_id] = corp
        return corp

    def head_pos(self) -> int:
        """The stream position of the last committed message."""
        with self._read() as txn:
            return _head(txn, self.db)

    def direct_peer(self, uid: int, conv: int) -> User | None:
        """The other member of a direct conversation `uid` belongs to (or uid itself)."""
        with self._read() as txn:
            if txn.get(keys.pair(uid, conv), db=self.db["members"]) is None:
                return None
            raw = txn.get(keys.u64(conv), db=self.db["convs"])
            if raw is None or Conversation.decode(conv, raw).kind != DIRECT:
                return None
            others = [m for m, ms in _conv_members(txn, self.db, conv) if m != uid and ms.active]
            return _get_user(txn, self.db, others[0] if others else uid)

    def sent_message(self, uid: int, client_msg_id: str) -> Message | None:
        """The message a user already stored under this client_msg_id, if any."""
        with self._read() as txn:
            raw = txn.get(keys.idem_key(uid, client_msg_id), db=self.db["idem"])
            if raw is None:
                return None
            conv, seq = keys.read_pair(raw)
            return Message.decode(conv, seq, txn.get(raw, db=self.db["msgs"]))

    def membership(self, uid: int, conv: int) -> Membership | None:
        with self._read() as txn:
            raw = txn.get(keys.pair(uid, conv), db=self.db["members"])
            return None if raw is None else Membership.decode(raw)

    def conversation_state(self, conv: int) -> tuple[Conversation, dict[int, Membership]] | None:
        """A conversation and every membership it has had (current and past)."""
        with self._read() as txn:
            raw = txn.get(keys.u64(conv), db=self.db["convs"])
            if raw is None:
                return None
            return Conversation.decode(conv, raw), dict(_conv_members(txn, self.db, conv))

    def group_members(self, conv: int) -> list[tuple[User, Membership]]:
        """A group's current members with their roles, in uid order."""
        with self._read() as txn:
            return [(_get_user(txn, self.db, uid), m)  # type: ignore[misc]
                    for uid, m in _conv_members(txn, self.db, conv) if m.active]

    def user_conversations(self, uid: int) -> list[tuple[Conversation, Membership, int, int, int]]:
        """Every conversation of a user: (conversation, membership, last seq, last pos,
        read cursor), most recently active first."""
        out = []
        with self._read() as txn:
            for conv, membership in _user_convs(txn, self.db, uid):
                conversation = Conversation.decode(conv, txn.get(keys.u64(conv),
                                                                 db=self.db["convs"]))
                last = _last_message_key(txn, self.db, conv, membership)
                seq, pos = last if last else (0, 0)
                raw = txn.get(keys.pair(uid, conv), db=self.db["read_cursors"])
                read = 0 if raw is None else keys.read_u64(raw)
                out.append((conversation, membership, seq, pos, read))
        out.sort(key=lambda row: row[3], reverse=True)
        return out

    def peers(self, uid: int) -> set[int]:
        """Everyone who shares a direct or group conversation with a user now."""
        out: set[int] = set()
        with self._read() as txn:
            for conv, membership in _user_convs(txn, self.db, uid):
                if not membership.active:
                    continue
                kind = Conversation.decode(conv, txn.get(keys.u64(conv), db=self.db["convs"])).kind
                if kind in (DIRECT, GROUP):
                    out.update(u for u, m in _conv_members(txn, self.db, conv) if m.active)
        out.discard(uid)
        return out

    def user_groups(self, uid: int) -> list[tuple[Conversation, Membership]]:
        """The groups a user is currently a member of."""
        with self._read() as txn:
            out = []
            for conv, membership in _user_convs(txn, self.db, uid):
                raw = txn.get(keys.u64(conv), db=self.db["convs"])
                conversation = Conversation.decode(conv, raw)
                if membership.active and conversation.kind == GROUP:
                    out.append((conversation, membership))
            return out

    def unread_counts(self, uid: int, cap: int) -> list[tuple[int, int, int]]:
        """(conv, read seq, unread) for the user's conversations with something unread.

        Unread counts text messages from others after the read cursor that the
        user may see, counted up to `cap`.
        """
        out = []
        with self._read() as txn:
            handle = _get_user(txn, self.db, uid).handle  # type: ignore[union-attr]
            for conv, membership in _user_convs(txn, self.db, uid):
                raw = txn.get(keys.pair(uid, conv), db=self.db["read_cursors"])
                read = 0 if raw is None else keys.read_u64(raw)
                unread = _count_unread(txn, self.db, conv, read, membership, cap, handle)
                if unread:
                    out.append((conv, read, unread))
        return out

    def receipt_state(self, conv: int, seq: int) -> tuple[Message, dict[int, int],
                                                           dict[int, Membership]] | None:
        """A receipt-requested message, who read it when, and the conversation's members."""
        with self._read() as txn:
            raw = txn.get(keys.pair(conv, seq), db=self.db["msgs"])
            if raw is None:
                return None
            msg = Message.decode(conv, seq, raw)
            if not msg.receipt:
                return None
            return (msg, _receipt_readers(txn, self.db, conv, seq),
                    dict(_conv_members(txn, self.db, conv)))

    def sync_page(self, uid: int, since: int, limit: int,
                  max_bytes: int) -> tuple[list[Message], int, bool]:
        """Messages after stream position `since` that `uid` may see.

        Returns (messages in position order, the token position, more). With
        more=False the token is the stream head, as every visible message up
        to it has been returned.
        """
        with self._read() as txn:
            head = _head(txn, self.db)
            streams = [_conv_stream(txn, self.db, conv, m, since)
                       for conv, m in _user_convs(txn, self.db, uid)]
            out: list[Message] = []
            size = 0
            msgs_db = self.db["msgs"]
            for conv, _pos, seq in heapq.merge(*streams, key=lambda e: e[1]):
                if len(out) >= limit or size >= max_bytes:
                    return out, out[-1].pos, True
                raw = txn.get(keys.pair(conv, seq), db=msgs_db)
                out.append(Message.decode(conv, seq, raw))
                size += len(raw)
            return out, max(head, since), False

    def history_page(self, uid: int, conv: int, before: int | None, limit: int,
                     max_bytes: int) -> tuple[list[Message], bool] | None:
        """Messages of `conv` before seq `before`, newest first; None if not a member."""
        with self._read() as txn:
            raw = txn.get(keys.pair(uid, conv), db=self.db["members"])
            if raw is None:
                return None
            membership = Membership.decode(raw)
            end = keys.pair(conv, before) if before is not None else keys.u64(conv + 1)
            cursor = _cursor_before(txn.cursor(db=self.db["msgs"]), end)
            out: list[Message] = []
            size = 0
            for key, value in _walk_back(cursor, conv):
                msg = Message.decode(conv, keys.read_pair(key)[1], value)
                if not membership.sees(msg.pos):
                    if msg.pos < membership.joined_pos:
                        return out, False
                    continue
                if len(out) >= limit or size >= max_bytes:
                    return out, True
                out.append(msg)
                size += len(value)
            return out, False

    def stats(self) -> dict[str, Any]:
        info = self.env.info()
        stat = self.env.stat()
        with self._read() as txn:
            messages = txn.stat(self.db["msgs"])["entries"]
            users = txn.stat(self.db["users"])["entries"]
        data_file = os.path.join(self.path, "data.mdb")
        used = (info["last_pgno"] + 1) * stat["psize"]
        return {
            "messages_stored": messages,
            "users": users,
            "lmdb_file_bytes": os.path.getsize(data_file),
            "lmdb_map_bytes": info["map_size"],
            "lmdb_used_bytes": used,
            "lmdb_map_use": round(used / info["map_size"], 4),
        }

    # ----- writes -----

    def begin_write(self) -> WriteTxn:
        return WriteTxn(self, self.env.begin(write=True))


class WriteTxn:
    """One write transaction shared by every operation of a batch."""

    def __init__(self, store: Store, txn: lmdb.Transaction) -> None:
        self.store = store
        self.txn = txn
        self.db = store.db
        self.users_written = False
        if store.head is None:
            store.head = _head(txn, self.db)

    def do(self, op: Callable[..., T], *args: Any) -> T:
        """Run a named operation (e.g. from store.contacts) inside this transaction."""
        return op(self.txn, self.db, *args)

    def archive(self, entry: ArchiveEntry) -> None:
        contacts.archive(self.txn, self.db, entry)

    def commit(self) -> None:
        self.txn.put(b"head", pack(self.store.head), db=self.db["meta"])
        self.txn.commit()
        if self.users_written:
            self.store.users_changed()

    def abort(self) -> None:
        self.txn.abort()
        self.store.forget_write_caches()

    def new_id(self, kind: str) -> int:
        """The next id of a kind of record (ids are never reused)."""
        return self._next_id(f"next_{kind}".encode())

    def _next_id(self, name: bytes) -> int:
        raw = self.txn.get(name, db=self.db["meta"])
        value = (unpack(raw) if raw else 0) + 1
        self.txn.put(name, pack(value), db=self.db["meta"])
        return value

    def create_corp(self, name: str, now_ms: int, full_name: str = "") -> Corp | Refused:
        if not 0 < len(name) <= MAX_HANDLE_CHARS:
            return Refused("bad_request", "a corp name has 1 to 64 characters")
        if self.txn.get(name.encode(), db=self.db["corp_names"]) is not None:
            return Refused("exists", f"corp {name!r} exists")
        board = self.create_conversation(ANNOUNCE, name, now_ms)
        corp = Corp(self._next_id(b"next_corp"), name, now_ms, board.conv, full_name)
        self.put_corp(corp)
        self.txn.put(name.encode(), keys.u64(corp.corp_id), db=self.db["corp_names"])
        return corp

    def put_corp(self, corp: Corp) -> None:
        self.txn.put(keys.u64(corp.corp_id), corp.encode(), db=self.db["corps"])
        self.users_written = True

    def create_user(self, handle: str, corp_id: int | None, now_ms: int) -> User | Refused:
        """An enterprise user of `corp_id`, or a consumer when it is None."""
        if not valid_handle(handle):
            return Refused("bad_request", "a handle is 1-64 of a-z 0-9 . _ -")
        if self.txn.get(handle.encode(), db=self.db["handles"]) is not None:
            return Refused("exists", f"user {handle!r} exists")
        corp = None
        if corp_id is not None:
            raw = self.txn.get(keys.u64(corp_id), db=self.db["corps"])
            if raw is None:
                return Refused("not_found", f"no corp {corp_id}")
            corp = Corp.decode(corp_id, raw)
        realm = CONSUMER if corp is None else ENTERPRISE
        user = User(self._next_id(b"next_uid"), handle, realm, corp_id or 0, now_ms)
        self.put_user(user)
        contacts.index_name(self.txn, self.db, user)
        self.txn.put(handle.encode(), keys.u64(user.uid), db=self.db["handles"])
        if corp is not None:  # employees read the corp's notices from now on
            self._join(user.uid, corp.announce_conv, Membership(self.store.head + 1))  # type: ignore[operator]
        return user

    def put_user(self, user: User) -> None:
        self.txn.put(keys.u64(user.uid), user.encode(), db=self.db["users"])
        self.users_written = True

    def issue_token(self, uid: int, now_ms: int) -> tuple[str, str] | Refused:
        """A new bearer token for `uid`: (token id, token). Only its hash is kept."""
        user = _get_user(self.txn, self.db, uid)
        if user is None:
            return Refused("not_found", f"no user {uid}")
        if user.disabled:  # disabling revoked its tokens; a new one would undo that
            return Refused("disabled", f"user {user.handle!r} is disabled "
                           f"(enable it first: corpchat admin user enable {user.handle})")
        token = "cc_" + secrets.token_urlsafe(32)  # never starts with "-" on a command line
        token_id = secrets.token_hex(6)
        digest = token_digest(token)
        self.txn.put(digest, Token(token_id, uid, now_ms).encode(), db=self.db["tokens"])
        self.txn.put(token_id.encode(), digest, db=self.db["token_ids"])
        return token_id, token

    def revoke_user_tokens(self, uid: int) -> int:
        """Delete every token of a user; returns how many there were."""
        doomed = [(digest, Token.decode(raw).token_id)
                  for digest, raw in self.txn.cursor(db=self.db["tokens"]).iternext()
                  if Token.decode(raw).uid == uid]
        for digest, token_id in doomed:
            self.txn.delete(digest, db=self.db["tokens"])
            self.txn.delete(token_id.encode(), db=self.db["token_ids"])
        return len(doomed)

    def revoke_token(self, token_id: str) -> int | Refused:
        """Delete a token; returns the uid it belonged to."""
        digest = self.txn.get(token_id.encode(), db=self.db["token_ids"])
        if digest is None:
            return Refused("not_found", f"no token {token_id!r}")
        uid = Token.decode(self.txn.get(digest, db=self.db["tokens"])).uid
        self.txn.delete(digest, db=self.db["tokens"])
        self.txn.delete(token_id.encode(), db=self.db["token_ids"])
        return uid

    def open_direct(self, a: User, b: User, now_ms: int) -> int:
        """The direct conversation of two users, created on first use."""
        key = keys.direct_key(a.uid, b.uid)
        raw = self.txn.get(key, db=self.db["directs"])
        if raw is not None:
            return keys.read_u64(raw)
        conv = self.create_conversation(DIRECT, "", now_ms).conv
        self.txn.put(key, keys.u64(conv), db=self.db["directs"])
        for user in {a.uid: a, b.uid: b}.values():
            self._join(user.uid, conv, Membership(0, consumer=user.realm == CONSUMER))
        return conv

    def _join(self, uid: int, conv: int, membership: Membership) -> None:
        value = membership.encode()
        self.txn.put(keys.pair(uid, conv), value, db=self.db["members"])
        self.txn.put(keys.pair(conv, uid), value, db=self.db["conv_members"])

    def hand_over_direct(self, source: User, target: User, consumer: User,
                         with_history: bool = True) -> int | None:
        """Give `target` the direct conversation `source` had with a customer (with its
        history, or from now on); `source` keeps what was said up to now. Returns the
        conversation."""
        old_key = keys.direct_key(source.uid, consumer.uid)
        raw = self.txn.get(old_key, db=self.db["directs"])
        if raw is None:
            return None
        conv = keys.read_u64(raw)
        new_key = keys.direct_key(target.uid, consumer.uid)
        if self.txn.get(new_key, db=self.db["directs"]) is None:
            self.txn.delete(old_key, db=self.db["directs"])
            self.txn.put(new_key, raw, db=self.db["directs"])
            mine = self.membership(conv, source.uid)
            if mine is not None and mine.active:
                self._join(source.uid, conv, Membership(mine.joined_pos, self.store.head or 1,
                                                        mine.role, mine.consumer))
        if self.membership(conv, target.uid) is None:
            start = 0 if with_history else self.store.head + 1  # type: ignore[operator]
            self._join(target.uid, conv, Membership(start))
        return conv

    def send_direct(self, sender: User, recipient: User, client_msg_id: str, text: str,
                    now_ms: int, receipt: bool = False,
                    archive_corp: int | None = None, urgent: bool = False) -> tuple[Message, bool]:
        """Store a direct message once per client_msg_id: (message, was it a repeat).

        With `archive_corp`, the message also goes to that corp's archive, in
        the same transaction.
        """
        old = self.find_sent(sender.uid, client_msg_id)
        if old is not None:
            return old, True
        conv = self.open_direct(sender, recipient, now_ms)
        msg = self.append(conv, sender.handle, now_ms, sender_uid=sender.uid, text=text,
                          client_msg_id=client_msg_id, to=recipient.handle, receipt=receipt,
                          urgent=urgent)
        if archive_corp:
            self.archive(ArchiveEntry(archive_corp, now_ms, msg.pos, conv, msg.seq,
                                      sender.handle, sender.realm, text))
        return msg, False

    def find_sent(self, uid: int, client_msg_id: str) -> Message | None:
        """The message `uid` already stored under this client_msg_id, if any."""
        raw = self.txn.get(keys.idem_key(uid, client_msg_id), db=self.db["idem"])
        if raw is None:
            return None
        conv, seq = keys.read_pair(raw)
        return Message.decode(conv, seq, self.txn.get(raw, db=self.db["msgs"]))

    def append(self, conv: int, sender: str, now_ms: int, *, sender_uid: int | None = None,
               text: str = "", client_msg_id: str = "", to: str | None = None,
               kind: str = TEXT, event: str | None = None, users: tuple[str, ...] = (),
               name: str | None = None, ref: int | None = None,
               receipt: bool = False, urgent: bool = False) -> Message:
        """Store a message at the next seq of `conv` and the next stream position.

        A user's message (with sender_uid and client_msg_id) is also indexed
        for idempotent retries.
        """
        seq = self._last_seq(conv) + 1
        pos = self.store.head + 1  # type: ignore[operator]
        msg = Message(conv, seq, pos, sender, now_ms, text, client_msg_id, to, kind, event,
                      users, name, ref, receipt=receipt, urgent=urgent)
        key = keys.pair(conv, seq)
        self.txn.put(key, msg.encode(), db=self.db["msgs"])
        if receipt and sender_uid is not None:
            self.txn.put(key, keys.u64(sender_uid), db=self.db["receipt_msgs"])
        self.txn.put(keys.pair(conv, pos), keys.u64(seq), db=self.db["conv_pos"])
        if sender_uid is not None and client_msg_id:
            self.txn.put(keys.idem_key(sender_uid, client_msg_id), key, db=self.db["idem"])
        self.store.last_seq[conv] = seq
        self.store.head = pos
        return msg

    def message(self, conv: int, seq: int) -> Message | None:
        raw = self.txn.get(keys.pair(conv, seq), db=self.db["msgs"])
        return None if raw is None else Message.decode(conv, seq, raw)

    def message_pos(self, conv: int, seq: int) -> int | None:
        """A stored message's stream position, without decoding the message."""
        raw = self.txn.get(keys.pair(conv, seq), db=self.db["msgs"])
        return None if raw is None else message_pos(raw)

    def rewrite_message(self, msg: Message) -> None:
        """Replace a stored message in place (a recall's tombstone)."""
        self.txn.put(keys.pair(msg.conv, msg.seq), msg.encode(), db=self.db["msgs"])

    def user(self, uid: int) -> User | None:
        return _get_user(self.txn, self.db, uid)

    def corp(self, corp_id: int) -> Corp | None:
        raw = self.txn.get(keys.u64(corp_id), db=self.db["corps"])
        return None if raw is None else Corp.decode(corp_id, raw)

    def conversation(self, conv: int) -> Conversation | None:
        raw = self.txn.get(keys.u64(conv), db=self.db["convs"])
        return None if raw is None else Conversation.decode(conv, raw)

    def put_conversation(self, conversation: Conversation) -> None:
        self.txn.put(keys.u64(conversation.conv), conversation.encode(), db=self.db["convs"])

    def create_conversation(self, kind: str, name: str, now_ms: int,
                            corp_id: int = 0) -> Conversation:
        conversation = Conversation(self._next_id(b"next_conv"), kind, now_ms, name,
                                    corp_id=corp_id)
        self.put_conversation(conversation)
        return conversation

    def membership(self, conv: int, uid: int) -> Membership | None:
        raw = self.txn.get(keys.pair(uid, conv), db=self.db["members"])
        return None if raw is None else Membership.decode(raw)

    def set_membership(self, conv: int, uid: int, membership: Membership) -> None:
        self._join(uid, conv, membership)

    def memberships(self, conv: int) -> Iterator[tuple[int, Membership]]:
        return _conv_members(self.txn, self.db, conv)

    def read_cursor(self, uid: int, conv: int) -> int:
        raw = self.txn.get(keys.pair(uid, conv), db=self.db["read_cursors"])
        return 0 if raw is None else keys.read_u64(raw)

    def set_read_cursor(self, uid: int, conv: int, seq: int) -> None:
        self.txn.put(keys.pair(uid, conv), keys.u64(seq), db=self.db["read_cursors"])

    def last_seq(self, conv: int) -> int:
        return self._last_seq(conv)

    def last_seen_seq(self, conv: int, membership: Membership) -> int:
        """Seq of the last message the member sees: a former member's ends at their leaving."""
        if membership.active:
            return self._last_seq(conv)
        last = _last_message_key(self.txn, self.db, conv, membership)
        return 0 if last is None else last[0]

    def receipt_messages(self, conv: int, after: int, upto: int) -> list[tuple[int, int]]:
        """(seq, sender uid) of receipt-requested messages with after < seq <= upto."""
        out = []
        for key, value in _prefix_items(self.txn, self.db["receipt_msgs"], keys.u64(conv),
                                        keys.pair(conv, after + 1)):
            seq = keys.read_u64(key, 8)
            if seq > upto:
                break
            out.append((seq, keys.read_u64(value)))
        return out

    def record_receipt(self, conv: int, seq: int, uid: int, now_ms: int) -> bool:
        """Record the first read of a message by a user; False if already recorded."""
        return self.txn.put(keys.triple(conv, seq, uid), keys.u64(now_ms),
                            db=self.db["receipts"], overwrite=False)

    def last_reminder(self, conv: int, seq: int) -> int | None:
        raw = self.txn.get(keys.pair(conv, seq), db=self.db["reminders"])
        return None if raw is None else keys.read_u64(raw)

    def set_last_reminder(self, conv: int, seq: int, now_ms: int) -> None:
        self.txn.put(keys.pair(conv, seq), keys.u64(now_ms), db=self.db["reminders"])

    def receipt_readers(self, conv: int, seq: int) -> dict[int, int]:
        return _receipt_readers(self.txn, self.db, conv, seq)

    def _last_seq(self, conv: int) -> int:
        seq = self.store.last_seq.get(conv)
        if seq is None:
            cursor = self.txn.cursor(db=self.db["msgs"])
            seq = 0
            for key, _ in _walk_back(_cursor_before(cursor, keys.u64(conv + 1)), conv):
                seq = keys.read_pair(key)[1]
                break
        return seq


# ----- helpers composed inside transactions -----


def _get_user(txn: lmdb.Transaction, db: dict, uid: int) -> User | None:
    raw = txn.get(keys.u64(uid), db=db["users"])
    return None if raw is None else User.decode(uid, raw)


def _head(txn: lmdb.Transaction, db: dict) -> int:
    raw = txn.get(b"head", db=db["meta"])
    return 0 if raw is None else unpack(raw)


def _user_convs(txn: lmdb.Transaction, db: dict, uid: int) -> Iterator[tuple[int, Membership]]:
    for key, value in _prefix_items(txn, db["members"], keys.u64(uid)):
        yield keys.read_u64(key, 8), Membership.decode(value)


def _conv_members(txn: lmdb.Transaction, db: dict,
                  conv: int) -> Iterator[tuple[int, Membership]]:
    for key, value in _prefix_items(txn, db["conv_members"], keys.u64(conv)):
        yield keys.read_u64(key, 8), Membership.decode(value)


def _count_unread(txn: lmdb.Transaction, db: dict, conv: int, read: int,
                  membership: Membership, cap: int, handle: str) -> int:
    count = 0
    for key, value in _prefix_items(txn, db["msgs"], keys.u64(conv), keys.pair(conv, read + 1)):
        msg = Message.decode(conv, keys.read_u64(key, 8), value)
        if not membership.sees(msg.pos):
            if msg.pos > membership.joined_pos:
                break
            continue
        if msg.kind == TEXT and msg.sender != handle and not msg.recalled:
            count += 1
            if count >= cap:
                break
    return count


def _last_message_key(txn: lmdb.Transaction, db: dict, conv: int,
                      membership: Membership) -> tuple[int, int] | None:
    """(seq, pos) of the last message of `conv` the member sees."""
    end = keys.u64(conv + 1) if membership.left_pos == 0 \
        else keys.pair(conv, membership.left_pos + 1)
    for key, value in _walk_back(_cursor_before(txn.cursor(db=db["conv_pos"]), end), conv):
        pos = keys.read_u64(key, 8)
        return (keys.read_u64(value), pos) if pos >= membership.joined_pos else None
    return None


def _receipt_readers(txn: lmdb.Transaction, db: dict, conv: int, seq: int) -> dict[int, int]:
    """uid -> first read time of one receipt-requested message."""
    return {keys.read_u64(key, 16): keys.read_u64(value)
            for key, value in _prefix_items(txn, db["receipts"], keys.pair(conv, seq))}


def _conv_stream(txn: lmdb.Transaction, db: dict, conv: int, membership: Membership,
                 since: int) -> Iterator[tuple[int, int, int]]:
    """(conv, pos, seq) of the messages of `conv` after `since` the member sees."""
    start = max(since + 1, membership.joined_pos)
    for key, value in _prefix_items(txn, db["conv_pos"], keys.u64(conv), keys.pair(conv, start)):
        pos = keys.read_u64(key, 8)
        if membership.left_pos and pos > membership.left_pos:
            return
        yield conv, pos, keys.read_u64(value)


def _cursor_before(cursor: lmdb.Cursor, key: bytes) -> lmdb.Cursor:
    """Place a cursor on the last key below `key` (unpositioned if none)."""
    if cursor.set_range(key):
        cursor.prev()
    else:
        cursor.last()
    return cursor


def _walk_back(cursor: lmdb.Cursor, conv: int) -> Iterator[tuple[bytes, bytes]]:
    prefix = keys.u64(conv)
    if not cursor.key():
        return
    for key, value in cursor.iterprev():
        if not key.startswith(prefix):
            return
        yield key, value
