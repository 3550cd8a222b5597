"""The golden vectors in tests/vectors/ against the real codec.

The vectors are frozen files (docs/protocol.md, "Test vectors"): a change
of the codec that changes a byte fails here, on purpose.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import msgpack
import pytest

from corpchat.protocol import (
    CLIENT_FRAMES,
    SERVER_FRAMES,
    ConvSummary,
    Frame,
    ProtocolError,
    decode_client_frame,
    decode_server_frame,
    encode,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

# The frames of version 1's core and their fields in canonical order (the
# spec's tables). Later fields and frames (group conversations, recall, ...)
# are appended by their revision and get their vectors with it.
CORE_CLIENT_FIELDS = {
    "hello": ["id", "token", "device", "client"],
    "send": ["id", "client_msg_id", "text", "to", "conv"],
    "sync": ["id", "since", "limit"],
    "history": ["id", "conv", "before", "limit"],
    "ping": ["id"],
}
CORE_SERVER_FIELDS = {
    "welcome": ["re", "user", "session", "server_time", "sync", "limits", "protocol"],
    "msg": ["conv", "seq", "pos", "from", "time", "text", "client_msg_id", "to"],
    "ack": ["re", "conv", "seq", "pos", "time", "client_msg_id", "duplicate"],
    "sync.page": ["re", "msgs", "sync", "more"],
    "history.page": ["re", "conv", "msgs", "more"],
    "pong": ["re", "server_time"],
    "error": ["code", "message", "re", "retry_after_ms"],
}

# Revision 1.1 (docs/protocol.md, sections 10 and 17-20): its new frames with
# all their fields, and the fields it appends to core frames, in canonical
# order. Its vectors live in the *_v1_1.json files; the 1.0 files are frozen.
REVISION_1_1_CLIENT_FIELDS = {
    "send": CORE_CLIENT_FIELDS["send"] + ["receipt"],
    "announce": ["id", "client_msg_id", "text", "receipt"],
    "read": ["id", "conv", "seq"],
    "receipts": ["id", "conv", "seq", "offset", "limit"],
    "remind": ["id", "conv", "seq"],
    "conversations": ["id", "limit"],
    "register": ["id", "handle", "name"],
    "directory.search": ["id", "prefix", "limit"],
    "directory.department": ["id", "dept"],
    "contact.request": ["id", "to", "note"],
    "contact.accept": ["id", "employee"],
    "contact.decline": ["id", "employee"],
    "contact.remove": ["id", "user"],
    "contact.remark": ["id", "user", "remark"],
    "contact.list": ["id"],
    "friend.request": ["id", "to"],
    "friend.accept": ["id", "user"],
    "group.create": ["id", "name", "members"],
    "group.add": ["id", "conv", "members"],
    "group.remove": ["id", "conv", "members"],
    "group.leave": ["id", "conv"],
    "group.rename": ["id", "conv", "name"],
    "group.transfer": ["id", "conv", "to"],
    "group.role": ["id", "conv", "user", "role"],
    "group.dissolve": ["id", "conv"],
    "group.info": ["id", "conv"],
    "group.list": ["id"],
    "typing": ["id", "conv"],
    "recall": ["id", "conv", "seq"],
}
REVISION_1_1_SERVER_FIELDS = {
    "welcome": CORE_SERVER_FIELDS["welcome"] + ["announce_conv", "unread"],
    "msg": CORE_SERVER_FIELDS["msg"] + ["kind", "event", "users", "name", "ref", "recalled",
                                        "receipt", "display", "title", "corp", "external"],
    "sync.page": CORE_SERVER_FIELDS["sync.page"] + ["unread"],
    "ok": ["re", "conv", "seq", "pos"],
    "group.info": ["re", "conv", "name", "created", "members"],
    "group.list": ["re", "groups"],
    "removed": ["conv", "by"],
    "typing": ["conv", "user"],
    "read": ["conv", "seq"],
    "receipt": ["conv", "seq", "readers"],
    "receipts": ["re", "conv", "seq", "read", "unread", "read_count", "unread_count", "more"],
    "reminder": ["conv", "seq", "from"],
    "registered": ["re", "user", "token"],
    "people": ["re", "people"],
    "directory.department": ["re", "dept", "name", "members", "departments"],
    "contact": ["event", "profile"],
    "conversations": ["re", "convs"],
}
# Maps that travel only inside server frames, by their `type` key.
REVISION_1_1_NESTED_FIELDS = {
    "member": ["user", "role", "external", "display"],
    "group": ["conv", "name", "role", "members"],
    "unread": ["conv", "read", "unread"],
    "reader": ["user", "time"],
    "conv": ["conv", "kind", "name", "last_seq", "last_pos", "read", "peer", "left"],
    "profile": ["user", "display", "title", "corp", "dept", "phone", "email", "external",
                "remark", "note"],
    "department": ["dept", "name"],
}

# Revision 1.2 (docs/protocol.md, sections 21-28): quiet hours, presence, urgent
# messages, push devices and customer management. Frames 1.2 extends list all their
# fields up to 1.2's; its vectors live in the *_v1_2.json files.
REVISION_1_2_CLIENT_FIELDS = {
    "send": REVISION_1_1_CLIENT_FIELDS["send"] + ["urgent"],
    "announce": REVISION_1_1_CLIENT_FIELDS["announce"] + ["urgent"],
    "contact.list": REVISION_1_1_CLIENT_FIELDS["contact.list"] + ["tags", "match", "offset",
                                                                 "limit"],
    "quiet.set": ["id", "timezone", "windows", "enabled", "inherit"],
    "quiet.break": ["id", "minutes", "until"],
    "quiet.resume": ["id"],
    "user.info": ["id", "user"],
    "device.register": ["id", "platform", "push_token"],
    "tag.group.add": ["id", "name"],
    "tag.add": ["id", "group", "name"],
    "tag.remove": ["id", "tag"],
    "tag.list": ["id"],
    "contact.tag": ["id", "user", "add", "remove"],
    "broadcast.customers": ["id", "client_msg_id", "text", "tags", "match", "users"],
    "transfer.refuse": ["id", "employee"],
    "moment.post": ["id", "text", "attachments"],
    "moment.draft": ["id", "text", "employees", "attachments"],
    "moment.confirm": ["id", "draft"],
    "moments.feed": ["id", "employee", "before", "limit"],
    "friend.decline": ["id", "user"],
    "friend.remove": ["id", "user"],
    "request.list": ["id"],
    "device.unregister": ["id", "push_token"],
}
REVISION_1_2_SERVER_FIELDS = {
    "welcome": REVISION_1_1_SERVER_FIELDS["welcome"] + ["quiet"],
    "msg": REVISION_1_1_SERVER_FIELDS["msg"] + ["urgent", "silent"],
    "ack": CORE_SERVER_FIELDS["ack"] + ["recipient_resting_until"],
    "reminder": REVISION_1_1_SERVER_FIELDS["reminder"] + ["silent"],
    "people": REVISION_1_1_SERVER_FIELDS["people"] + ["more"],
    "quiet": ["quiet"],
    "presence": ["user", "status", "until"],
    "digest": ["messages", "conversations"],
    "user.info": ["re", "profile", "status", "until"],
    "created": ["re", "id"],
    "tags": ["re", "groups", "tags"],
    "broadcast.done": ["re", "sent", "skipped"],
    "transfer": ["state", "from", "to", "message", "due", "customer"],
    "moments": ["re", "moments", "more"],
    "moment": ["moment", "draft"],
    "request.list": ["re", "incoming", "outgoing"],
}
REVISION_1_2_NESTED_FIELDS = {
    "window": ["day", "start", "end"],  # also inside the client request quiet.set
    "quiet": ["source", "timezone", "windows", "enabled", "resting_until", "break_until"],
    "profile": REVISION_1_1_NESTED_FIELDS["profile"] + ["tags"],
    "tag": ["tag", "group", "name"],
    "skipped": ["reason", "count"],
    "moment": ["moment", "author", "time", "text", "attachments"],
    "request": ["kind", "profile", "time"],
}

# Revision 1.4 (docs/protocol.md, section 30): media. Its vectors live in the
# *_v1_4.json files.
REVISION_1_4_CLIENT_FIELDS = {
    "send": REVISION_1_2_CLIENT_FIELDS["send"] + ["attachments"],
    "announce": REVISION_1_2_CLIENT_FIELDS["announce"] + ["attachments"],
    "broadcast.customers": REVISION_1_2_CLIENT_FIELDS["broadcast.customers"] + ["attachments"],
    "moment.post": REVISION_1_2_CLIENT_FIELDS["moment.post"] + ["media"],
    "moment.draft": REVISION_1_2_CLIENT_FIELDS["moment.draft"] + ["media"],
    "media.url": ["id", "media", "thumb"],
}
REVISION_1_4_SERVER_FIELDS = {
    "msg": REVISION_1_2_SERVER_FIELDS["msg"] + ["attachments"],
    "media.url": ["re", "media", "url", "expires"],
}
REVISION_1_4_NESTED_FIELDS = {
    "attachment": ["media", "name"],  # inside client requests only
    "media": ["media", "name", "size", "mime", "sha256", "kind", "width", "height",
              "duration_ms", "animated"],
    "moment": REVISION_1_2_NESTED_FIELDS["moment"] + ["media"],
}

# Revision 1.5 (docs/protocol.md, section 31: everyday messaging): its frames, the
# fields it appends to earlier frames, and its nested maps; vectors in *_v1_5.json.
REVISION_1_5_CLIENT_FIELDS = {
    "send": REVISION_1_4_CLIENT_FIELDS["send"] + ["mentions", "reply_to"],
    "edit": ["id", "conv", "seq", "text"],
    "react": ["id", "conv", "seq", "emoji", "on"],
    "reactions.list": ["id", "conv", "seq", "emoji", "offset", "limit"],
    "forward": ["id", "client_msg_id", "from_conv", "seqs", "to_conv"],
    "group.notice": ["id", "conv", "text"],
    "pin": ["id", "conv", "seq"],
    "unpin": ["id", "conv", "seq"],
    "pins": ["id", "conv"],
    "conv.mute": ["id", "conv", "until"],
}
REVISION_1_5_SERVER_FIELDS = {
    "msg": REVISION_1_4_SERVER_FIELDS["msg"] + [
        "mentioned", "reply_to", "quote", "edited_at", "version", "reactions", "reacted",
        "forwarded_from", "notice", "mentions"],
    "sync.page": REVISION_1_1_SERVER_FIELDS["sync.page"] + ["edited", "reaction", "mute"],
    "edited": ["conv", "seq", "pos", "text", "edited_at", "version"],
    "reaction": ["conv", "seq", "pos", "reactions", "changes"],
    "mute": ["conv", "pos", "muted", "until"],
    "reactions.list": ["re", "conv", "seq", "emoji", "users", "count", "more"],
    "forwarded": ["re", "conv", "seqs", "pos", "duplicate"],
    "pins": ["re", "conv", "pins", "notice"],
}
REVISION_1_5_NESTED_FIELDS = {
    "unread": REVISION_1_1_NESTED_FIELDS["unread"] + ["mentions"],
    "conv": REVISION_1_1_NESTED_FIELDS["conv"] + ["muted_until", "notice"],
    "quote": ["seq", "from", "kind", "text", "recalled"],
    "origin": ["from", "time", "display", "corp", "external"],
    "change": ["user", "emoji", "on"],
    "pinned": ["seq", "by", "time"],
}

# Revision 1.3 (docs/protocol.md §29, sign-in and devices): new frames only; its
# vectors live in the *_v1_3.json files.
REVISION_1_3_CLIENT_FIELDS = {
    "login": ["id", "handle", "password", "device"],
    "redeem": ["id", "invite", "password", "device"],
    "devices": ["id"],
    "device.revoke": ["id", "token_id"],
    "password.change": ["id", "old", "new", "keep_devices"],
}
REVISION_1_3_SERVER_FIELDS = {
    "logged_in": ["re", "token", "token_id"],
    "devices": ["re", "devices"],
}
REVISION_1_3_NESTED_FIELDS = {
    "device": ["token_id", "device", "created", "current", "last_seen", "address"],
}
REVISION_1_7_CLIENT_FIELDS = {
    "robot.add": ["id", "conv", "name"],
    "robot.remove": ["id", "conv", "robot"],
    "robot.list": ["id", "conv"],
}
REVISION_1_7_SERVER_FIELDS = {
    "robot.add": ["re", "conv", "robot", "name", "url"],
    "robot.list": ["re", "conv", "robots"],
    "msg": REVISION_1_5_SERVER_FIELDS["msg"] + ["robot"],  # after 1.5's
}
REVISION_1_7_NESTED_FIELDS = {
    "robot": ["robot", "name", "by", "created"],
}

# Revision 1.8 (docs/protocol.md §34, everyday follow-ups): attachments on `edit` and
# `group.notice`, and the version's files on `edited`; vectors in *_v1_8.json.
REVISION_1_8_CLIENT_FIELDS = {
    "edit": REVISION_1_5_CLIENT_FIELDS["edit"] + ["attachments"],
    "group.notice": REVISION_1_5_CLIENT_FIELDS["group.notice"] + ["attachments"],
}
REVISION_1_8_SERVER_FIELDS = {
    "edited": REVISION_1_5_SERVER_FIELDS["edited"] + ["attachments"],
}
REVISION_1_8_NESTED_FIELDS: dict[str, list[str]] = {}

# Revision 1.10 (docs/protocol.md, section 36): open platform follow-ups, an app
# message's card and the markdown mark. Its vectors live in the *_v1_10.json files.
REVISION_1_10_CLIENT_FIELDS: dict[str, list[str]] = {}
REVISION_1_10_SERVER_FIELDS = {
    "msg": REVISION_1_7_SERVER_FIELDS["msg"] + ["card", "markdown"],  # after 1.7's
}
REVISION_1_10_NESTED_FIELDS = {
    "card": ["title", "url", "description", "button"],
}

# Revision 1.6 (docs/protocol.md, section 32): search. Its vectors live in the
# *_v1_6.json files.
REVISION_1_6_CLIENT_FIELDS = {
    "search": ["id", "query", "conv", "from", "before", "after", "kind", "limit", "cursor",
               "order"],
}
REVISION_1_6_SERVER_FIELDS = {
    "search.page": ["re", "hits", "cursor"],
}
REVISION_1_6_NESTED_FIELDS = {
    "hit": ["conv", "seq", "pos", "from", "time", "snippet", "kind", "display", "corp",
            "external"],
    "snippet": ["text", "ranges"],
}

# Revision 1.9 (docs/protocol.md, section 35): the web client's needs. Its vectors
# live in the *_v1_9.json files.
REVISION_1_9_CLIENT_FIELDS: dict[str, list[str]] = {}
REVISION_1_9_SERVER_FIELDS: dict[str, list[str]] = {}
REVISION_1_9_NESTED_FIELDS = {
    "conv": REVISION_1_5_NESTED_FIELDS["conv"] + ["last"],
}

# Every revision's tables, oldest first: a later revision's list of a frame's fields
# extends the earlier one's.
REVISIONS = (
    ("1.0", CORE_CLIENT_FIELDS, CORE_SERVER_FIELDS, {}),
    ("1.1", REVISION_1_1_CLIENT_FIELDS, REVISION_1_1_SERVER_FIELDS, REVISION_1_1_NESTED_FIELDS),
    ("1.2", REVISION_1_2_CLIENT_FIELDS, REVISION_1_2_SERVER_FIELDS, REVISION_1_2_NESTED_FIELDS),
    ("1.3", REVISION_1_3_CLIENT_FIELDS, REVISION_1_3_SERVER_FIELDS, REVISION_1_3_NESTED_FIELDS),
    ("1.4", REVISION_1_4_CLIENT_FIELDS, REVISION_1_4_SERVER_FIELDS, REVISION_1_4_NESTED_FIELDS),
    ("1.5", REVISION_1_5_CLIENT_FIELDS, REVISION_1_5_SERVER_FIELDS, REVISION_1_5_NESTED_FIELDS),
    ("1.6", REVISION_1_6_CLIENT_FIELDS, REVISION_1_6_SERVER_FIELDS, REVISION_1_6_NESTED_FIELDS),
    ("1.7", REVISION_1_7_CLIENT_FIELDS, REVISION_1_7_SERVER_FIELDS, REVISION_1_7_NESTED_FIELDS),
    ("1.8", REVISION_1_8_CLIENT_FIELDS, REVISION_1_8_SERVER_FIELDS, REVISION_1_8_NESTED_FIELDS),
    ("1.9", REVISION_1_9_CLIENT_FIELDS, REVISION_1_9_SERVER_FIELDS, REVISION_1_9_NESTED_FIELDS),
    ("1.10", REVISION_1_10_CLIENT_FIELDS, REVISION_1_10_SERVER_FIELDS,
     REVISION_1_10_NESTED_FIELDS),
)


def revision_files(stem: str) -> tuple[str, ...]:
    """A kind of vector file in every revision that has files: 1.0's has no suffix."""
    return (f"{stem}.json",) + tuple(f"{stem}_v{name.replace('.', '_')}.json"
                                     for name, *_ in REVISIONS[1:])


CLIENT_VECTOR_FILES = revision_files("client_frames")
SERVER_VECTOR_FILES = revision_files("server_frames")
ACCEPTED_FILES = revision_files("accepted")
INVALID_FILES = revision_files("invalid")


def latest_fields() -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """Client, server and nested frames with their fields as of the latest revision."""
    client: dict[str, list[str]] = {}
    server: dict[str, list[str]] = {}
    nested: dict[str, list[str]] = {}
    for _name, c, s, n in REVISIONS:
        client.update(c)
        server.update(s)
        nested.update(n)
    return client, server, nested


def nested_frames(*tables: dict[str, type[Frame]]) -> dict[str, type[Frame]]:
    """Every frame class that travels inside a frame of these tables (default: the
    server's), by its `type`."""
    found: dict[str, type[Frame]] = {}

    def walk(cls: type[Frame]) -> None:
        for hint in typing.get_type_hints(cls).values():
            todo = [hint]
            while todo:
                item = todo.pop()
                if isinstance(item, type) and issubclass(item, Frame):
                    if item.TYPE not in found and item not in SERVER_FRAMES.values():
                        found[item.TYPE] = item
                        walk(item)
                elif isinstance(item, (types.UnionType, types.GenericAlias)) \
                        or typing.get_origin(item) is not None:
                    todo.extend(typing.get_args(item))

    for table in tables or (SERVER_FRAMES,):
        for cls in table.values():
            walk(cls)
    return found


def wire_keys(cls: type[Frame]) -> list[str]:
    return [key for _attr, key, _check, _required in cls._spec]

def _load(name: str) -> list[dict[str, Any]]:
    with open(VECTORS / name, encoding="utf-8") as f:
        data = json.load(f)
    assert data["protocol"] == "corpchat.v1"
    return data["vectors"]


def _decoder(direction: str):
    return {"client": decode_client_frame, "server": decode_server_frame}[direction]


def _cases(*names: str) -> list[Any]:
    return [pytest.param(v, id=f"{name}: {v['name']}") for name in names for v in _load(name)]


CANONICAL = [
    pytest.param("client", v, id=f"{name}: {v['name']}")
    for name in CLIENT_VECTOR_FILES for v in _load(name)
] + [
    pytest.param("server", v, id=f"{name}: {v['name']}")
    for name in SERVER_VECTOR_FILES for v in _load(name)
]


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_canonical_vector_decodes_to_its_frame(direction: str, vector: dict[str, Any]) -> None:
    frame = _decoder(direction)(bytes.fromhex(vector["hex"]))
    assert frame.to_wire() == vector["frame"]
    assert list(frame.to_wire()) == list(vector["frame"])  # canonical key order


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_canonical_vector_encodes_to_its_hex(direction: str, vector: dict[str, Any]) -> None:
    table = CLIENT_FRAMES if direction == "client" else SERVER_FRAMES
    frame = table[vector["frame"]["type"]].from_wire(vector["frame"])
    assert encode(frame).hex() == vector["hex"]


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_any_msgpack_encoder_reproduces_the_hex_from_the_json(
        direction: str, vector: dict[str, Any]) -> None:
    """The JSON `frame`, packed in file order with the smallest encodings, is the hex."""
    assert msgpack.packb(vector["frame"], use_bin_type=True).hex() == vector["hex"]


@pytest.mark.parametrize(("direction", "vector"), CANONICAL)
def test_every_proper_prefix_of_a_vector_is_refused(direction: str, vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    for cut in range(len(data)):
        with pytest.raises(ProtocolError) as info:
            _decoder(direction)(data[:cut])
        assert info.value.code == "bad_frame"


def test_vectors_cover_every_core_frame_type() -> None:
    client = {v["frame"]["type"] for v in _load("client_frames.json")}
    server = {v["frame"]["type"] for v in _load("server_frames.json")}
    assert client == set(CORE_CLIENT_FIELDS)
    assert server == set(CORE_SERVER_FIELDS)


@pytest.mark.parametrize(("table", "core"), [(CLIENT_FRAMES, CORE_CLIENT_FIELDS),
                                             (SERVER_FRAMES, CORE_SERVER_FIELDS)])
def test_core_fields_come_first_in_canonical_order(table: Any, core: dict[str, list[str]]) -> None:
    """New fields are appended, so the core vectors keep their bytes."""
    for kind, fields in core.items():
        keys = [key for _attr, key, _check, _required in table[kind]._spec]
        assert keys[: len(fields)] == fields, kind


def test_vectors_cover_every_core_field() -> None:
    seen: dict[str, set[str]] = {}
    for name in ("client_frames.json", "server_frames.json"):
        for v in _load(name):
            seen.setdefault(v["frame"]["type"], set()).update(v["frame"])
    for kind, fields in {**CORE_CLIENT_FIELDS, **CORE_SERVER_FIELDS}.items():
        assert set(fields) | {"type"} == seen[kind], kind


@pytest.mark.parametrize("vector", _cases(*ACCEPTED_FILES))
def test_non_canonical_encodings_are_accepted(vector: dict[str, Any]) -> None:
    frame = _decoder(vector["direction"])(bytes.fromhex(vector["hex"]))
    assert frame.to_wire() == vector["frame"]
    assert encode(frame).hex() == vector["canonical_hex"]
    assert vector["hex"] != vector["canonical_hex"]


@pytest.mark.parametrize("vector", _cases(*INVALID_FILES))
def test_invalid_payloads_are_refused_with_their_code(vector: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        _decoder(vector["direction"])(bytes.fromhex(vector["hex"]))
    error = info.value
    assert error.remote
    assert (error.code, error.close) == (vector["code"], vector["close"])
    if vector["direction"] == "client":
        assert error.request_id == vector["re"]


def _types(*names: str) -> set[str]:
    return {v["frame"]["type"] for name in names for v in _load(name)}


def test_revision_1_1_vectors_cover_its_frames_and_nothing_unknown() -> None:
    assert set(REVISION_1_1_CLIENT_FIELDS) <= _types("client_frames_v1_1.json")
    assert set(REVISION_1_1_SERVER_FIELDS) <= _types("server_frames_v1_1.json")
    assert _types("client_frames_v1_1.json") <= set(REVISION_1_1_CLIENT_FIELDS)
    assert _types("server_frames_v1_1.json") <= set(REVISION_1_1_SERVER_FIELDS) | {"error",
                                                                                  "history.page"}


@pytest.mark.parametrize(("table", "fields"), [(CLIENT_FRAMES, REVISION_1_1_CLIENT_FIELDS),
                                               (SERVER_FRAMES, REVISION_1_1_SERVER_FIELDS)])
def test_revision_1_1_fields_keep_their_canonical_order(table: Any,
                                                       fields: dict[str, list[str]]) -> None:
    """1.1 appended its fields after the core's; later revisions append after 1.1's."""
    for kind, names in fields.items():
        assert wire_keys(table[kind])[: len(names)] == names, kind


def test_nested_maps_keep_their_canonical_order() -> None:
    nested = nested_frames()
    for kind, names in REVISION_1_1_NESTED_FIELDS.items():
        assert wire_keys(nested[kind])[: len(names)] == names, kind


def _seen_fields(direction: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Keys seen per frame type, and per nested map type, across a direction's vectors."""
    files = CLIENT_VECTOR_FILES if direction == "client" else SERVER_VECTOR_FILES
    frames: dict[str, set[str]] = {}
    nested: dict[str, set[str]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            if isinstance(value.get("type"), str):
                nested.setdefault(value["type"], set()).update(value)
            for item in value.values():
                walk(item)

    for name in files:
        for v in _load(name):
            frames.setdefault(v["frame"]["type"], set()).update(v["frame"])
            for item in v["frame"].values():
                walk(item)
    return frames, nested


def test_vectors_cover_every_revision_1_1_field() -> None:
    client, _ = _seen_fields("client")
    server, nested = _seen_fields("server")
    for seen, fields in ((client, REVISION_1_1_CLIENT_FIELDS),
                         (server, REVISION_1_1_SERVER_FIELDS),
                         (nested, REVISION_1_1_NESTED_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


def test_revision_1_2_vectors_cover_its_frames_and_nothing_unknown() -> None:
    assert set(REVISION_1_2_CLIENT_FIELDS) <= _types("client_frames_v1_2.json")
    assert set(REVISION_1_2_SERVER_FIELDS) <= _types("server_frames_v1_2.json")
    assert _types("client_frames_v1_2.json") <= set(REVISION_1_2_CLIENT_FIELDS)
    assert _types("server_frames_v1_2.json") <= set(REVISION_1_2_SERVER_FIELDS) | {"error", "ok"}


@pytest.mark.parametrize(("table", "fields"), [(CLIENT_FRAMES, REVISION_1_2_CLIENT_FIELDS),
                                               (SERVER_FRAMES, REVISION_1_2_SERVER_FIELDS)])
def test_revision_1_2_fields_keep_their_canonical_order(table: Any,
                                                       fields: dict[str, list[str]]) -> None:
    for kind, names in fields.items():
        assert wire_keys(table[kind])[: len(names)] == names, kind


def test_revision_1_2_nested_maps_keep_their_canonical_order() -> None:
    nested = nested_frames(CLIENT_FRAMES, SERVER_FRAMES)
    for kind, names in REVISION_1_2_NESTED_FIELDS.items():
        assert wire_keys(nested[kind])[: len(names)] == names, kind


def test_vectors_cover_every_revision_1_2_field() -> None:
    client, client_nested = _seen_fields("client")
    server, server_nested = _seen_fields("server")
    nested = {k: client_nested.get(k, set()) | server_nested.get(k, set())
              for k in client_nested.keys() | server_nested.keys()}
    for seen, fields in ((client, REVISION_1_2_CLIENT_FIELDS),
                         (server, REVISION_1_2_SERVER_FIELDS),
                         (nested, REVISION_1_2_NESTED_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


def test_revision_1_2_vectors_show_each_new_field_in_a_file_of_its_own() -> None:
    """The 1.2 fields of older frames have vectors in the 1.2 files (older files are frozen)."""
    client = {}
    server = {}
    for v in _load("client_frames_v1_2.json"):
        client.setdefault(v["frame"]["type"], set()).update(v["frame"])
    for v in _load("server_frames_v1_2.json"):
        server.setdefault(v["frame"]["type"], set()).update(v["frame"])
    older_client = {**CORE_CLIENT_FIELDS, **REVISION_1_1_CLIENT_FIELDS}
    older_server = {**CORE_SERVER_FIELDS, **REVISION_1_1_SERVER_FIELDS}
    for seen, fields, older in ((client, REVISION_1_2_CLIENT_FIELDS, older_client),
                                (server, REVISION_1_2_SERVER_FIELDS, older_server)):
        for kind, names in fields.items():
            new = set(names) - set(older.get(kind, ()))
            assert new <= seen.get(kind, set()), (kind, new - seen.get(kind, set()))


def test_every_frame_and_field_belongs_to_a_revision() -> None:
    """A frame or field added to protocol/frames_*.py must be given to a revision here (and
    so get vectors and a documented table, test_docs.py) before it ships."""
    client, server, nested = latest_fields()
    assert set(CLIENT_FRAMES) == set(client)
    assert set(SERVER_FRAMES) == set(server)
    every_nested = nested_frames(CLIENT_FRAMES, SERVER_FRAMES)
    assert set(every_nested) == set(nested)
    for table, fields in ((CLIENT_FRAMES, client), (SERVER_FRAMES, server),
                          (every_nested, nested)):
        for kind, cls in table.items():
            assert wire_keys(cls) == fields[kind], kind


def test_each_revision_extends_the_fields_of_the_one_before() -> None:
    earlier: dict[tuple[str, str], list[str]] = {}
    for name, client, server, nested in REVISIONS:
        for direction, fields in (("client", client), ("server", server), ("nested", nested)):
            for kind, names in fields.items():
                before = earlier.get((direction, kind), [])
                assert names[: len(before)] == before, (name, direction, kind)
                earlier[(direction, kind)] = names


def test_revision_1_3_vectors_cover_its_frames_and_fields() -> None:
    assert _types("client_frames_v1_3.json") == set(REVISION_1_3_CLIENT_FIELDS)
    assert _types("server_frames_v1_3.json") == set(REVISION_1_3_SERVER_FIELDS) | {"error", "ok"}
    client, _ = _seen_fields("client")
    server, nested = _seen_fields("server")
    for seen, fields in ((client, REVISION_1_3_CLIENT_FIELDS),
                         (server, REVISION_1_3_SERVER_FIELDS),
                         (nested, REVISION_1_3_NESTED_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


def _array_frame(items: int) -> bytes:
    """A `people` reply holding `items` minimal profiles."""
    people = [{"type": "profile", "user": "u", "display": "u"}] * items
    return msgpack.packb({"type": "people", "re": 1, "people": people}, use_bin_type=True)


def test_server_frames_hold_arrays_of_20000_items() -> None:
    """Revision 1.2: clients accept arrays of up to 20,000 items from the server."""
    assert len(decode_server_frame(_array_frame(20_000)).people) == 20_000
    with pytest.raises(ProtocolError) as info:
        decode_server_frame(_array_frame(20_001))
    assert (info.value.code, info.value.close) == ("bad_frame", 1002)


def test_revision_1_4_vectors_cover_its_frames_and_fields() -> None:
    client = {}
    server = {}
    nested: dict[str, set[str]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "type" in value:
                nested.setdefault(value["type"], set()).update(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for v in _load("client_frames_v1_4.json"):
        client.setdefault(v["frame"]["type"], set()).update(v["frame"])
        for item in v["frame"].values():
            walk(item)
    for v in _load("server_frames_v1_4.json"):
        server.setdefault(v["frame"]["type"], set()).update(v["frame"])
        for item in v["frame"].values():
            walk(item)
    assert set(client) == set(REVISION_1_4_CLIENT_FIELDS)
    assert set(server) == set(REVISION_1_4_SERVER_FIELDS) | {"moments", "moment", "error"}
    older = {**REVISION_1_2_CLIENT_FIELDS, **REVISION_1_2_SERVER_FIELDS}
    for seen, fields in ((client, REVISION_1_4_CLIENT_FIELDS),
                         (server, REVISION_1_4_SERVER_FIELDS)):
        for kind, names in fields.items():
            new = set(names) - set(older.get(kind, ()))
            assert new <= seen[kind], (kind, new - seen[kind])
    for kind, names in REVISION_1_4_NESTED_FIELDS.items():
        new = set(names) - set(REVISION_1_2_NESTED_FIELDS.get(kind, ()))
        assert new <= nested[kind], (kind, new - nested[kind])


def test_revision_1_5_vectors_cover_its_frames_and_fields() -> None:
    """Every 1.5 frame and every field 1.5 adds has a vector in the 1.5 files."""
    assert set(REVISION_1_5_CLIENT_FIELDS) <= _types("client_frames_v1_5.json")
    assert set(REVISION_1_5_SERVER_FIELDS) <= _types("server_frames_v1_5.json")
    seen: dict[str, set[str]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "type" in value:
                seen.setdefault(value["type"], set()).update(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for name in ("client_frames_v1_5.json", "server_frames_v1_5.json"):
        for v in _load(name):
            walk(v["frame"])
    for fields in (REVISION_1_5_CLIENT_FIELDS, REVISION_1_5_SERVER_FIELDS,
                   REVISION_1_5_NESTED_FIELDS):
        for kind, names in fields.items():
            earlier = latest_before("1.5", kind)
            new = set(names) - set(earlier)
            assert new <= seen.get(kind, set()), (kind, new - seen.get(kind, set()))


def latest_before(revision: str, kind: str) -> list[str]:
    """A frame's (or map's) fields in the revisions before `revision`."""
    out: list[str] = []
    for name, client, server, nested in REVISIONS:
        if name == revision:
            break
        for table in (client, server, nested):
            out = table.get(kind, out) if kind in table else out
    return out


def test_revision_1_6_vectors_cover_its_frames_fields_and_nothing_unknown() -> None:
    assert _types("client_frames_v1_6.json") == set(REVISION_1_6_CLIENT_FIELDS)
    assert _types("server_frames_v1_6.json") == set(REVISION_1_6_SERVER_FIELDS) | {"error"}
    client, client_nested = _seen_fields("client")
    server, server_nested = _seen_fields("server")
    nested = {k: client_nested.get(k, set()) | server_nested.get(k, set())
              for k in client_nested.keys() | server_nested.keys()}
    for seen, fields in ((client, REVISION_1_6_CLIENT_FIELDS),
                         (server, REVISION_1_6_SERVER_FIELDS),
                         (nested, REVISION_1_6_NESTED_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


def test_revision_1_7_vectors_cover_its_frames_and_fields() -> None:
    assert _types("client_frames_v1_7.json") == set(REVISION_1_7_CLIENT_FIELDS)
    assert _types("server_frames_v1_7.json") == set(REVISION_1_7_SERVER_FIELDS)
    client, _ = _seen_fields("client")
    server, nested = _seen_fields("server")
    for seen, fields in ((client, REVISION_1_7_CLIENT_FIELDS),
                         (server, REVISION_1_7_SERVER_FIELDS),
                         (nested, REVISION_1_7_NESTED_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


@pytest.mark.parametrize(("table", "fields"), [(CLIENT_FRAMES, REVISION_1_7_CLIENT_FIELDS),
                                               (SERVER_FRAMES, REVISION_1_7_SERVER_FIELDS)])
def test_revision_1_7_fields_keep_their_canonical_order(table: Any,
                                                       fields: dict[str, list[str]]) -> None:
    for kind, names in fields.items():
        assert wire_keys(table[kind])[: len(names)] == names, kind


def test_revision_1_8_vectors_cover_its_fields() -> None:
    assert _types("client_frames_v1_8.json") == set(REVISION_1_8_CLIENT_FIELDS)
    assert _types("server_frames_v1_8.json") == set(REVISION_1_8_SERVER_FIELDS)
    client, _ = _seen_fields("client")
    server, _ = _seen_fields("server")
    for seen, fields in ((client, REVISION_1_8_CLIENT_FIELDS),
                         (server, REVISION_1_8_SERVER_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


def test_revision_1_10_vectors_cover_its_frames_and_fields() -> None:
    assert _types("client_frames_v1_10.json") == set()  # no client frames or fields
    assert _types("server_frames_v1_10.json") == set(REVISION_1_10_SERVER_FIELDS)
    server, nested = _seen_fields("server")
    for seen, fields in ((server, REVISION_1_10_SERVER_FIELDS),
                         (nested, REVISION_1_10_NESTED_FIELDS)):
        for kind, names in fields.items():
            assert set(names) | {"type"} <= seen[kind], (kind, set(names) - seen[kind])


@pytest.mark.parametrize(("table", "fields"), [(CLIENT_FRAMES, REVISION_1_8_CLIENT_FIELDS),
                                               (SERVER_FRAMES, REVISION_1_8_SERVER_FIELDS)])
def test_revision_1_8_fields_keep_their_canonical_order(table: Any,
                                                       fields: dict[str, list[str]]) -> None:
    for kind, names in fields.items():
        assert wire_keys(table[kind])[: len(names)] == names, kind


def test_revision_1_9_vectors_cover_its_fields() -> None:
    assert _types("client_frames_v1_9.json") == set()
    assert _types("server_frames_v1_9.json") == {"conversations"}
    _, nested = _seen_fields("server")
    assert {"last", "type"} <= nested["conv"]
    assert REVISION_1_9_NESTED_FIELDS["conv"] == wire_keys(ConvSummary)


def test_revision_1_10_fields_keep_their_canonical_order() -> None:
    for kind, names in REVISION_1_10_SERVER_FIELDS.items():
        assert wire_keys(SERVER_FRAMES[kind])[: len(names)] == names, kind
    for kind, names in REVISION_1_10_NESTED_FIELDS.items():
        assert wire_keys(nested_frames()[kind]) == names, kind
