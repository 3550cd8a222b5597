"""The LMDB environment and every named operation on it.

Reads are synchronous functions that each run one short read transaction
(never held across an await). Writes are methods of `WriteTxn`, which the
group-commit writer (store/writer.py) creates once per batch: many
operations share one transaction and one fsync.

Each read and write is a function of a table-family module (users,
conversations, messages, receipts, contacts, customers, settings) taking the
transaction, the database handles and keyword-only ids; `Store` runs it in a
read transaction of its own, `WriteTxn` in the batch's write transaction.

The writer thread assigns sequence numbers and stream positions, so it
caches the last `seq` of each conversation and the stream head; the caches
are thrown away whenever a transaction aborts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import lmdb

from corpchat.protocol.errors import ErrorCode

from . import contacts, conversations, keys, media, messages, receipts, settings, tokens, users
from .errors import Refused, StorageError
from .everyday import StreamEvent
from .records import (
    ANNOUNCE,
    CONSUMER,
    DIRECT,
    ENTERPRISE,
    TEXT,
    ArchiveEntry,
    Conversation,
    Corp,
    Membership,
    Message,
    StoredAttachment,
    User,
    pack,
    unpack,
)
from .scan import Txn, indexed
from .tokens import TokenReads, TokenWrites
from .users import MAX_HANDLE_CHARS, valid_handle

T = TypeVar("T")
SCHEMA_VERSION = 1
USER_CACHE_SIZE = 200_000
DEFAULT_MAP_BYTES = 256 * 1024 * 1024


class Store(TokenReads):
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
            tokens.index_user_tokens(txn, self.db)
            messages.index_stream(txn, self.db)  # added in 1.6 (search follows it)
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
        # A cluster node: the ids it may give a new direct conversation (docs/cluster.md §5)
        self.direct_ids: Callable[[int], bool] | None = None
        self.pos_base = 0  # a cluster node's first position: a token below it is foreign

    def _check_schema(self, txn: Txn) -> None:
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
    def _read(self) -> Iterator[Txn]:
        try:
            with self.env.begin(buffers=False) as txn:
                yield txn
        except lmdb.Error as exc:
            raise StorageError(str(exc)) from exc

    def read(self, op: Callable[..., T], *args: Any, **ids: Any) -> T:
        """Run a named read operation (e.g. from store.contacts) in one short read txn."""
        with self._read() as txn:
            return op(txn, self.db, *args, **ids)

    def user_by_handle(self, handle: str) -> User | None:
        user = self._by_handle.get(handle)
        if user is not None or not valid_handle(handle):
            return user
        generation = self._user_generation
        with self._read() as txn:
            user = users.user_by_handle(txn, self.db, handle=handle)
        self._remember(user, generation)
        return user

    def user(self, uid: int) -> User | None:
        user = self._by_uid.get(uid)
        if user is not None:
            return user
        generation = self._user_generation
        with self._read() as txn:
            user = users.get_user(txn, self.db, uid=uid)
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
            return users.all_users(txn, self.db)

    def corp_by_name(self, name: str) -> Corp | None:
        with self._read() as txn:
            return users.corp_by_name(txn, self.db, name=name)

    def corp(self, corp_id: int) -> Corp | None:
        corp = self._corps.get(corp_id)
        if corp is not None:
            return corp
        generation = self._user_generation
        with self._read() as txn:
            corp = users.get_corp(txn, self.db, corp_id=corp_id)
        if corp is not None and generation == self._user_generation:
            self._corps[corp_id] = corp
        return corp

    def head_pos(self) -> int:
        """The stream position of the last committed message."""
        with self._read() as txn:
            return messages.head(txn, self.db)

    def direct_peer(self, *, uid: int, conv: int) -> User | None:
        """The other member of a direct conversation `uid` belongs to (or uid itself)."""
        with self._read() as txn:
            return conversations.direct_peer(txn, self.db, uid=uid, conv=conv)

    def sent_message(self, *, uid: int, client_msg_id: str) -> Message | None:
        """The message a user already stored under this client_msg_id, if any."""
        with self._read() as txn:
            return messages.sent_message(txn, self.db, uid=uid, client_msg_id=client_msg_id)

    def membership(self, *, uid: int, conv: int) -> Membership | None:
        with self._read() as txn:
            return conversations.membership(txn, self.db, uid=uid, conv=conv)

    def conversation_state(self, conv: int) -> tuple[Conversation, dict[int, Membership]] | None:
        """A conversation and every membership it has had (current and past)."""
        with self._read() as txn:
            return conversations.conversation_state(txn, self.db, conv=conv)

    def group_members(self, conv: int) -> list[tuple[User, Membership]]:
        """A group's current members with their roles, in uid order."""
        with self._read() as txn:
            return conversations.group_members(txn, self.db, conv=conv)

    def user_conversations(self, uid: int) -> list[tuple[Conversation, Membership, int, int, int]]:
        """Every conversation of a user: (conversation, membership, last seq, last pos,
        read cursor), most recently active first."""
        with self._read() as txn:
            return messages.user_conversations(txn, self.db, uid=uid)

    def peers(self, uid: int) -> set[int]:
        """Everyone who shares a direct or group conversation with a user now."""
        with self._read() as txn:
            return conversations.peers(txn, self.db, uid=uid)

    def user_groups(self, uid: int) -> list[tuple[Conversation, Membership]]:
        """The groups a user is currently a member of."""
        with self._read() as txn:
            return conversations.user_groups(txn, self.db, uid=uid)

    def unread_counts(self, uid: int, cap: int, *,
                      handle: str | None = None) -> list[tuple[int, int, int, int]]:
        """(conv, read seq, unread, mentions) for the user's conversations with something unread
        (see messages.unread_counts). `handle`: the user's, if the caller has it (hello
        does: no second read and decode of the user record per login)."""
        with self._read() as txn:
            if handle is None:
                handle = User.decode(uid, indexed(txn, self.db["users"], keys.u64(uid))).handle
            return messages.unread_counts(txn, self.db, uid=uid, handle=handle, cap=cap)

    def receipt_state(self, *, conv: int, seq: int) -> tuple[Message, dict[int, int],
                                                              dict[int, Membership]] | None:
        """A receipt-requested message, who read it when, and the conversation's members."""
        with self._read() as txn:
            return receipts.receipt_state(txn, self.db, conv=conv, seq=seq)

    def sync_page(self, *, uid: int, since: int, limit: int,
                  max_bytes: int) -> tuple[list[Message], int, bool]:
        """The messages of a `sync_stream` page (for callers that want no events)."""
        msgs, _events, token, more = self.sync_stream(uid=uid, since=since, limit=limit,
                                                      max_bytes=max_bytes)
        return msgs, token, more

    def sync_stream(self, *, uid: int, since: int, limit: int, max_bytes: int,
                    upto: int | None = None) -> tuple[list[Message], list[StreamEvent], int, bool]:
        """Messages and events after stream position `since` that `uid` may see
        (see messages.sync_page)."""
        with self._read() as txn:
            return messages.sync_page(txn, self.db, uid=uid, since=since, limit=limit,
                                      max_bytes=max_bytes, upto=upto)

    def history_page(self, *, uid: int, conv: int, before: int | None, limit: int,
                     max_bytes: int) -> tuple[list[Message], bool] | None:
        """Messages of `conv` before seq `before`, newest first; None if not a member."""
        with self._read() as txn:
            return messages.history_page(txn, self.db, uid=uid, conv=conv, before=before,
                                         limit=limit, max_bytes=max_bytes)

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


class WriteTxn(TokenWrites):
    """One write transaction shared by every operation of a batch."""

    def __init__(self, store: Store, txn: Txn) -> None:
        self.store = store
        self.txn = txn
        self.db = store.db
        self.users_written = False
        if store.head is None:
            store.head = messages.head(txn, self.db)

    @property
    def stream_head(self) -> int:
        """The stream position of the last message this batch has written so far."""
        return self._head

    @property
    def _head(self) -> int:
        """The stream head: read when the first write transaction began, then kept."""
        head = self.store.head
        assert head is not None  # set by __init__; cleared only between transactions
        return head

    def do(self, op: Callable[..., T], *args: Any, **ids: Any) -> T:
        """Run a named operation (e.g. from store.contacts) inside this transaction."""
        return op(self.txn, self.db, *args, **ids)

    def archive(self, entry: ArchiveEntry) -> None:
        contacts.archive(self.txn, self.db, entry)

    def commit(self) -> None:
        messages.put_head(self.txn, self.db, self._head)
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

    # ----- users and corps -----

    def create_corp(self, name: str, now_ms: int, full_name: str = "") -> Corp | Refused:
        if not 0 < len(name) <= MAX_HANDLE_CHARS:
            return Refused(ErrorCode.BAD_REQUEST, "a corp name has 1 to 64 characters")
        if users.corp_name_taken(self.txn, self.db, name=name):
            return Refused(ErrorCode.EXISTS, f"corp {name!r} exists")
        board = self.create_conversation(ANNOUNCE, name, now_ms)
        corp = Corp(self._next_id(b"next_corp"), name, now_ms, board.conv, full_name)
        self.put_corp(corp)
        users.index_corp_name(self.txn, self.db, corp)
        return corp

    def put_corp(self, corp: Corp) -> None:
        users.put_corp(self.txn, self.db, corp)
        self.users_written = True

    def create_user(self, handle: str, corp_id: int | None, now_ms: int) -> User | Refused:
        """An enterprise user of `corp_id`, or a consumer when it is None."""
        if not valid_handle(handle):
            return Refused(ErrorCode.BAD_REQUEST, "a handle is 1-64 of a-z 0-9 . _ -")
        if users.handle_taken(self.txn, self.db, handle=handle):
            return Refused(ErrorCode.EXISTS, f"user {handle!r} exists")
        corp = None
        if corp_id is not None:
            corp = users.get_corp(self.txn, self.db, corp_id=corp_id)
            if corp is None:
                return Refused(ErrorCode.NOT_FOUND, f"no corp {corp_id}")
        realm = CONSUMER if corp is None else ENTERPRISE
        user = User(self._next_id(b"next_uid"), handle, realm, corp_id or 0, now_ms)
        self.put_user(user)
        contacts.index_name(self.txn, self.db, user)
        users.index_handle(self.txn, self.db, user)
        if corp is not None:  # employees read the corp's notices from now on
            self.set_membership(uid=user.uid, conv=corp.announce_conv,
                                membership=Membership(self._head + 1))
        return user

    def put_user(self, user: User) -> None:
        users.put_user(self.txn, self.db, user)
        self.users_written = True

    # ----- conversations and members -----

    def open_direct(self, a: User, b: User, now_ms: int) -> int:
        """The direct conversation of two users, created on first use."""
        conv = conversations.direct_conv(self.txn, self.db, uid=a.uid, peer=b.uid)
        if conv is not None:
            return conv
        conv = self.create_conversation(DIRECT, "", now_ms).conv
        conversations.set_direct_conv(self.txn, self.db, uid=a.uid, peer=b.uid, conv=conv)
        for user in {a.uid: a, b.uid: b}.values():
            self.set_membership(uid=user.uid, conv=conv,
                                membership=Membership(0, consumer=user.realm == CONSUMER))
        return conv

    def hand_over_direct(self, source: User, target: User, consumer: User,
                         with_history: bool = True) -> int | None:
        """Give `target` the direct conversation `source` had with a customer (with its
        history, or from now on); `source` keeps what was said up to now. Returns the
        conversation."""
        conv = conversations.direct_conv(self.txn, self.db, uid=source.uid, peer=consumer.uid)
        if conv is None:
            return None
        if conversations.direct_conv(self.txn, self.db, uid=target.uid,
                                     peer=consumer.uid) is None:
            conversations.drop_direct_conv(self.txn, self.db, uid=source.uid, peer=consumer.uid)
            conversations.set_direct_conv(self.txn, self.db, uid=target.uid, peer=consumer.uid,
                                          conv=conv)
            mine = self.membership(uid=source.uid, conv=conv)
            if mine is not None and mine.active:
                self.set_membership(uid=source.uid, conv=conv, membership=Membership(
                    mine.joined_pos, self.store.head or 1, mine.role, mine.consumer))
        if self.membership(uid=target.uid, conv=conv) is None:
            start = 0 if with_history else self._head + 1
            self.set_membership(uid=target.uid, conv=conv, membership=Membership(start))
        return conv

    def conversation(self, conv: int) -> Conversation | None:
        return conversations.get_conversation(self.txn, self.db, conv=conv)

    def put_conversation(self, conversation: Conversation) -> None:
        conversations.put_conversation(self.txn, self.db, conversation)

    def create_conversation(self, kind: str, name: str, now_ms: int,
                            corp_id: int = 0) -> Conversation:
        conv, ok = self._next_id(keys.NEXT_CONV), self.store.direct_ids
        tries = 4096 if kind == DIRECT else 0  # a cluster node: in a partition it is home of
        while ok is not None and tries and not ok(conv):
            conv, tries = self._next_id(keys.NEXT_CONV), tries - 1
        conversation = Conversation(conv, kind, now_ms, name, corp_id=corp_id)
        self.put_conversation(conversation)
        return conversation

    def membership(self, *, uid: int, conv: int) -> Membership | None:
        return conversations.membership(self.txn, self.db, uid=uid, conv=conv)

    def set_membership(self, *, uid: int, conv: int, membership: Membership) -> None:
        conversations.put_membership(self.txn, self.db, uid=uid, conv=conv,
                                     membership=membership)

    def memberships(self, conv: int) -> Iterator[tuple[int, Membership]]:
        return conversations.conv_members(self.txn, self.db, conv=conv)

    def read_cursor(self, *, uid: int, conv: int) -> int:
        return conversations.read_cursor(self.txn, self.db, uid=uid, conv=conv)

    def set_read_cursor(self, *, uid: int, conv: int, seq: int) -> None:
        conversations.set_read_cursor(self.txn, self.db, uid=uid, conv=conv, seq=seq)

    def user(self, uid: int) -> User | None:
        return users.get_user(self.txn, self.db, uid=uid)

    def corp(self, corp_id: int) -> Corp | None:
        return users.get_corp(self.txn, self.db, corp_id=corp_id)

    # ----- messages -----

    def send_direct(self, sender: User, recipient: User, client_msg_id: str, text: str,
                    now_ms: int, receipt: bool = False,
                    archive_corp: int | None = None, urgent: bool = False,
                    attachments: tuple[StoredAttachment, ...] = ()) -> tuple[Message, bool]:
        """Store a direct message once per client_msg_id: (message, was it a repeat).

        With `archive_corp`, the message also goes to that corp's archive, in
        the same transaction.
        """
        old = messages.sent_message(self.txn, self.db, uid=sender.uid,
                                    client_msg_id=client_msg_id)
        if old is not None:
            return old, True
        conv = self.open_direct(sender, recipient, now_ms)
        msg = self.append(conv=conv, sender=sender.handle, now_ms=now_ms, sender_uid=sender.uid,
                          text=text, client_msg_id=client_msg_id, to=recipient.handle,
                          receipt=receipt, urgent=urgent, attachments=attachments)
        if archive_corp:
            self.archive(ArchiveEntry(archive_corp, now_ms, msg.pos, conv, msg.seq,
                                      sender.handle, sender.realm, text,
                                      attachments=attachments))
        return msg, False

    def find_sent(self, *, uid: int, client_msg_id: str) -> Message | None:
        """The message `uid` already stored under this client_msg_id, if any."""
        return messages.sent_message(self.txn, self.db, uid=uid, client_msg_id=client_msg_id)

    def append(self, *, conv: int, sender: str, now_ms: int, sender_uid: int | None = None,
               text: str = "", client_msg_id: str = "", to: str | None = None,
               kind: str = TEXT, event: str | None = None, users: tuple[str, ...] = (),
               name: str | None = None, ref: int | None = None,
               receipt: bool = False, urgent: bool = False,
               attachments: tuple[StoredAttachment, ...] = (),
               card: tuple[str, str, str, str] | None = None,
               markdown: bool = False) -> Message:
        """Store a message at the next seq of `conv` and the next stream position.

        A user's message (with sender_uid and client_msg_id) is also indexed
        for idempotent retries; its attachments are referenced from their media
        (store/media.py), whose records the caller has claimed in this transaction.
        """
        seq = self._last_seq(conv) + 1
        pos = self._head + 1
        msg = Message(conv, seq, pos, sender, now_ms, text, client_msg_id, to, kind, event,
                      users, name, ref, receipt=receipt, urgent=urgent, attachments=attachments,
                      card=card, markdown=markdown)
        # Written here rather than by a messages.* helper: this is the writer's hot path.
        key = keys.pair(conv, seq)
        self.txn.put(key, msg.encode(), db=self.db["msgs"])
        if receipt and sender_uid is not None:
            self.txn.put(key, keys.u64(sender_uid), db=self.db["receipt_msgs"])
        self.txn.put(keys.pair(conv, pos), keys.u64(seq), db=self.db["conv_pos"])
        self.txn.put(keys.u64(pos), key, db=self.db["stream"])
        if sender_uid is not None and client_msg_id:
            self.txn.put(keys.idem_key(sender_uid, client_msg_id), key, db=self.db["idem"])
        for attachment in attachments:
            media.add_message_ref(self.txn, self.db, media_id=attachment.media_id, conv=conv,
                                  seq=seq)
        self.store.last_seq[conv] = seq
        self.store.head = pos
        return msg

    def message(self, *, conv: int, seq: int) -> Message | None:
        return messages.get_message(self.txn, self.db, conv=conv, seq=seq)

    def next_pos(self) -> int:
        """The next stream position, for an event that is not a message (1.5: an
        edit, a reaction change, a mute; see store/everyday.py)."""
        pos = (self.store.head or 0) + 1  # set by __init__: never None here
        self.store.head = pos
        return pos

    def message_pos(self, *, conv: int, seq: int) -> int | None:
        """A stored message's stream position, without decoding the message."""
        return messages.stream_pos(self.txn, self.db, conv=conv, seq=seq)

    def rewrite_message(self, msg: Message) -> None:
        """Replace a stored message in place (a recall's tombstone)."""
        messages.put_message(self.txn, self.db, msg)

    def last_seq(self, conv: int) -> int:
        return self._last_seq(conv)

    def last_seen_seq(self, *, conv: int, membership: Membership) -> int:
        """Seq of the last message the member sees: a former member's ends at their leaving."""
        if membership.active:
            return self._last_seq(conv)
        last = messages.last_message_key(self.txn, self.db, conv=conv, membership=membership)
        return 0 if last is None else last[0]

    def _last_seq(self, conv: int) -> int:
        seq = self.store.last_seq.get(conv)
        if seq is None:
            seq = messages.last_seq(self.txn, self.db, conv=conv)
        return seq

    # ----- receipts -----

    def receipt_messages(self, *, conv: int, after: int, upto: int) -> list[tuple[int, int]]:
        """(seq, sender uid) of receipt-requested messages with after < seq <= upto."""
        return receipts.receipt_messages(self.txn, self.db, conv=conv, after=after, upto=upto)

    def record_receipt(self, *, conv: int, seq: int, uid: int, now_ms: int) -> bool:
        """Record the first read of a message by a user; False if already recorded."""
        return receipts.record_receipt(self.txn, self.db, conv=conv, seq=seq, uid=uid,
                                       now_ms=now_ms)

    def last_reminder(self, *, conv: int, seq: int) -> int | None:
        return receipts.last_reminder(self.txn, self.db, conv=conv, seq=seq)

    def set_last_reminder(self, *, conv: int, seq: int, now_ms: int) -> None:
        receipts.set_last_reminder(self.txn, self.db, conv=conv, seq=seq, now_ms=now_ms)

    def receipt_readers(self, *, conv: int, seq: int) -> dict[int, int]:
        return receipts.receipt_readers(self.txn, self.db, conv=conv, seq=seq)
