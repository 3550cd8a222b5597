"""Every LMDB key layout, in one place.

Integers are 8-byte big-endian so that keys sort numerically and a prefix
scan walks a conversation or a user in order. Sub-databases:

  meta          name (ascii)                -> value (msgpack)
  corps         corp u64                    -> Corp record
  corp_names    name (utf-8)                -> corp u64
  users         uid u64                     -> User record
  handles       handle (utf-8)              -> uid u64
  tokens        sha256(token) 32 bytes      -> Token record
  token_ids     token id (ascii)            -> sha256(token)
  user_tokens   uid u64 | token id (ascii)  -> sha256(token) (a user's tokens, 1.3)
  convs         conv u64                    -> Conversation record
  directs       uid u64 | uid u64 (sorted)  -> conv u64
  members       uid u64 | conv u64          -> Membership record
  conv_members  conv u64 | uid u64          -> Membership record
  msgs          conv u64 | seq u64          -> Message record
  conv_pos      conv u64 | pos u64          -> seq u64
  stream        pos u64                     -> conv u64 | seq u64 (every message, in commit order)
  idem          uid u64 | client_msg_id     -> conv u64 | seq u64
  read_cursors  uid u64 | conv u64          -> seq u64 (read up to and including)
  receipt_msgs  conv u64 | seq u64          -> sender uid u64 (receipt requested)
  receipts      conv u64 | seq u64 | uid u64 -> time ms u64 (first read)
  reminders     conv u64 | seq u64          -> time ms u64 (last reminder)
  depts         dept u64                    -> Department record
  dir_names     corp u64 | casefold name | 0x00 | uid u64 -> b"" (name-prefix search)
  contacts      employee u64 | consumer u64 -> Contact record
  contacts_of   consumer u64 | employee u64 -> corp u64
  requests      consumer u64 | employee u64 -> [note, time ms] (pending contact request)
  friends       uid u64 | uid u64           -> time ms (both directions)
  friend_reqs   to uid u64 | from uid u64   -> time ms
  requests_by   employee u64 | consumer u64 -> b"" (index of `requests` by sender)
  friend_reqs_by from uid u64 | to uid u64  -> b"" (index of `friend_reqs` by sender)
  counters      name (ascii) | id u64       -> count u64 (contacts per employee/corp, friends)
  quotas        name (ascii) | id u64 | day u64 -> count u64
  archive       corp u64 | time ms u64 | pos u64 -> ArchiveEntry record
  quiet         uid u64                     -> a user's quiet-hours schedule (wire map)
  quiet_corp    corp u64                    -> the corp's default schedule (wire map)
  breaks        uid u64                     -> time ms u64 (resting until)
  devices       uid u64 | sha256(push token)[:8] -> [platform, push token, time ms]
  device_tokens sha256(push token) 32 bytes -> uid u64 (who the token is registered to)
  tag_groups    corp u64 | group u64        -> name
  tags          corp u64 | tag u64          -> [group u64, name]
  contact_tags  employee u64 | consumer u64 | tag u64 -> b""
  transfers     consumer u64 | from employee u64 -> Transfer record (pending or done)
  transfer_log  consumer u64 | time ms u64  -> [from, to] (completed transfers)
  moments       employee u64 | moment u64   -> Moment record (published)
  moment_drafts corp u64 | draft u64        -> [author, text, attachments, employees, confirmed]
  media         media id (ascii)            -> MediaRecord (referenced by a message or moment)
  media_pending media id (ascii)            -> MediaRecord (uploaded, not referenced yet)
  media_expiry  expires ms u64 | media id   -> b"" (when a pending upload is swept)
  media_refs    media id | conv u64 | seq u64 -> b"" (a message carries it; conv 0:
                employee u64 | moment u64, a moment)
  media_hashes  sha256 32 bytes             -> [records, size] (the file goes at 0 records)
  edits         conv u64 | seq u64 | version u64 -> [text, time ms, pos, editor, files] (1.5;
                version 0 is the original text, kept when it is first edited; files, the
                version's attachment rows, since 1.8: a 1.5 record without them had the
                message's files, and gets them written once an edit changes the files)
  conv_events   conv u64 | pos u64          -> [kind, seq, version] (1.5: edits and reaction
                changes in the stream; a message's reaction entry moves to its last change)
  reaction_counts conv u64 | seq u64        -> [{emoji: count}, pos of the last change]
  reactions     conv u64 | seq u64 | emoji utf-8 | 0x00 | uid u64 -> [on pos, off pos, time ms]
                (off pos 0 while it stands; kept after, so counts as of a position can be read)
  pins          conv u64 | seq u64          -> [by handle, time ms]
  notices       conv u64                    -> seq u64 (the group's notice)
  mutes         uid u64 | conv u64          -> until ms (0: until unmuted)
  user_events   uid u64 | pos u64           -> ["mute", conv, until or nil] (1.5: a user's
                own events in the stream)
  passwords     uid u64                     -> argon2id hash (PHC string; store/credentials.py)
  invites       sha256(invite code) 32 bytes -> [uid, created ms, expires ms]
  invite_of     uid u64                     -> sha256(invite code) (a user's one live invite)
  apps          app u64                     -> AppRecord (store/apps.py)
  app_tokens    sha256(access token) 32 bytes -> [app u64, expires ms]
  app_token_ix  app u64 | expires ms u64 | serial u64 | sha256 -> b"" (live tokens, oldest first)
  app_idem      app u64 | idempotency key   -> [time ms, answer] (POST /api/v1/messages)
  app_idem_ix   time ms u64 | app u64 | idempotency key -> b"" (app_idem by age, for the sweep)
  member_tags   uid u64 | tag u64           -> b"" (an employee's tags; store/member_tags.py)
  tag_members   tag u64 | uid u64           -> b"" (the same, by tag)
  app_convs     app u64 | uid u64           -> conv u64 (the employee's `app` conversation)
  robots        conv u64 | robot u64        -> Robot record (store/robots.py)
  robot_keys    sha256(webhook key) 32 bytes -> conv u64 | robot u64
  app_conv_apps conv u64                    -> app u64 (whose `app` conversation it is)
  outbox        app u64 | seq u64           -> [event id, type, time ms, data] (store/outbox.py)
  outbox_state  app u64                     -> Cursor record (delivery state per app)
"""

from __future__ import annotations

import struct

_U64 = struct.Struct(">Q")
_U64X2 = struct.Struct(">QQ")

DATABASES = (
    "meta", "corps", "corp_names", "users", "handles", "tokens", "token_ids",
    "convs", "directs", "members", "conv_members", "msgs", "conv_pos", "idem",
    "read_cursors", "receipt_msgs", "receipts", "reminders",
    "depts", "dir_names", "contacts", "contacts_of", "requests", "friends", "friend_reqs",
    "counters", "quotas", "archive", "quiet", "quiet_corp", "breaks", "devices",
    "tag_groups", "tags", "contact_tags", "transfers", "transfer_log", "moments",
    "moment_drafts", "requests_by", "friend_reqs_by",
    "device_tokens", "passwords", "invites", "invite_of", "user_tokens", "stream",
    "media", "media_pending", "media_expiry", "media_refs", "media_hashes",
    "edits", "conv_events", "reaction_counts", "reactions", "pins", "notices", "mutes",
    "user_events",
    "apps", "app_tokens", "app_token_ix", "app_idem", "app_convs", "robots", "robot_keys",
    "app_conv_apps", "outbox", "outbox_state",
    "app_idem_ix", "member_tags", "tag_members",
)

MAX_KEY_BYTES = 511  # LMDB's default key size limit


def u64(n: int) -> bytes:
    return _U64.pack(n)


def read_u64(b: bytes, offset: int = 0) -> int:
    return _U64.unpack_from(b, offset)[0]


def pair(a: int, b: int) -> bytes:
    return _U64X2.pack(a, b)


def read_pair(b: bytes) -> tuple[int, int]:
    a, b2 = _U64X2.unpack_from(b)
    return a, b2


def triple(a: int, b: int, c: int) -> bytes:
    return _U64X2.pack(a, b) + _U64.pack(c)


def direct_key(uid_a: int, uid_b: int) -> bytes:
    """The key of the direct conversation between two users, either order."""
    return pair(min(uid_a, uid_b), max(uid_a, uid_b))


def idem_key(uid: int, client_msg_id: str) -> bytes:
    return u64(uid) + client_msg_id.encode()


def text_key(name: str) -> bytes:
    key = name.encode()
    if not key or len(key) > MAX_KEY_BYTES:
        raise ValueError("name does not fit in a key")
    return key


def dir_name_key(corp_id: int, name: str, uid: int) -> bytes:
    return u64(corp_id) + name.casefold().encode()[:400] + b"\x00" + u64(uid)


def reaction_key(conv: int, seq: int, emoji: str, uid: int) -> bytes:
    return pair(conv, seq) + emoji.encode() + b"\x00" + u64(uid)


def counter_key(name: str, ident: int) -> bytes:
    return name.encode() + u64(ident)


def quota_key(name: str, ident: int, day: int) -> bytes:
    return name.encode() + pair(ident, day)


# meta names of a cluster node's materialised view (docs/cluster.md §4)
NEXT_CONV = b"next_conv"  # the last conversation id handed out (WriteTxn.new_id's "conv")
LOG_APPLIED = b"log_applied"  # the last log stream sequence applied to this LMDB
POS_BASE = b"pos_base"  # a cluster node's first stream position (its tokens' range)
