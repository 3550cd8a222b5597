"""docs/protocol.md against the code: its tables name every code, its examples are exact."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgpack
import pytest

from corpchat.protocol import (
    CLIENT_FRAMES,
    SERVER_FRAME_LIMITS,
    SERVER_FRAMES,
    SUBPROTOCOL,
    CloseCode,
    ErrorCode,
)
from corpchat.protocol.quiet import Schedule, next_change, parse_windows, resting_at

from .test_vectors import (
    ACCEPTED_FILES,
    CLIENT_VECTOR_FILES,
    INVALID_FILES,
    REVISIONS,
    SERVER_VECTOR_FILES,
    VECTORS,
    latest_fields,
    nested_frames,
    wire_keys,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")

CORE_FRAMES = ["hello", "send", "sync", "history", "ping", "welcome", "msg", "ack",
               "sync.page", "history.page", "pong", "error"]


def _section(title: str) -> str:
    start = SPEC.index(f"\n## {title}")
    end = SPEC.find("\n## ", start + 1)
    return SPEC[start:end if end != -1 else None]


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_error_code_is_in_the_table(code: ErrorCode) -> None:
    assert f"| `{code.value}` |" in _section("11. Error codes")


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda c: str(int(c)))
def test_every_close_code_is_in_the_table(code: CloseCode) -> None:
    assert f"\n| {int(code)} |" in _section("12. Close codes")


@pytest.mark.parametrize("kind", CORE_FRAMES)
def test_every_core_frame_has_a_table(kind: str) -> None:
    assert f"\n#### `{kind}`\n" in _section("6. Frame catalogue")


def _heading(direction: str, kind: str) -> str:
    """The heading of a frame's table: server frames named like a request say which."""
    if direction == "nested":
        return f"\n#### `{kind}` map\n"
    if direction == "server" and kind in CLIENT_FRAMES:
        return next((h for h in (f"\n#### `{kind}` reply\n", f"\n#### `{kind}` event\n")
                     if h in SPEC), f"\n#### `{kind}` reply\n")
    return f"\n#### `{kind}`\n"


def _table_fields(heading: str) -> list[str]:
    """The field names of the first table after a heading, in document order."""
    start = SPEC.index(heading) + len(heading)
    end = SPEC.find("\n#", start)
    rows = SPEC[start:end if end != -1 else None].split("\n| field |", 1)[1].splitlines()[2:]
    names = []
    for row in rows:
        if not row.startswith("| `"):
            break
        names.append(row.split("`")[1])
    return names


_CLIENT, _SERVER, _NESTED = latest_fields()  # every revision, each frame's fields up to now
DOCUMENTED = (
    [("client", k, v) for k, v in _CLIENT.items()]
    + [("server", k, v) for k, v in _SERVER.items()]
    + [("nested", k, v) for k, v in _NESTED.items()]
)


@pytest.mark.parametrize(("direction", "kind", "fields"), DOCUMENTED,
                         ids=[f"{d}: {k}" for d, k, _ in DOCUMENTED])
def test_every_frame_has_a_table_with_its_fields_in_canonical_order(
        direction: str, kind: str, fields: list[str]) -> None:
    heading = _heading(direction, kind)
    assert heading in SPEC, heading
    documented = _table_fields(heading)
    cls = {"client": CLIENT_FRAMES, "server": SERVER_FRAMES}.get(direction, {}).get(kind) \
        or nested_frames(CLIENT_FRAMES, SERVER_FRAMES)[kind]
    assert documented[: len(fields)] == fields  # everything the revision defines ...
    assert documented == wire_keys(cls)[: len(documented)]  # ... in canonical order


def test_error_table_leaves_nothing_to_a_later_revision() -> None:
    assert "later revision" not in _section("11. Error codes")


def test_every_documented_table_is_complete() -> None:
    """The tables list every field of the latest revision, not just a prefix."""
    for direction, kind, fields in DOCUMENTED:
        assert _table_fields(_heading(direction, kind)) == fields, (direction, kind)


def test_frame_index_names_every_documented_frame() -> None:
    index = SPEC[SPEC.index("\n### 6.3 Index of frames"):SPEC.index("\n## 7. ")]
    for direction, kind, _fields in DOCUMENTED:
        assert f"`{kind}`" in index, (direction, kind)


def test_subprotocol_name() -> None:
    assert f"`{SUBPROTOCOL}`" in _section("2. Transport")


_ANNOTATED = re.compile(r"^((?:[0-9a-f]{2,})(?: [0-9a-f]+)*)\s{2,}\S")
_HEX = re.compile(r"^[0-9a-f]+$")


def _examples() -> list[tuple[str, str]]:
    """(JSON text, hex) of every frame shown in the worked example."""
    out = []
    blocks = re.findall(r"```\n(.*?)```", _section("16. Worked example"), flags=re.S)
    for block in blocks:
        pending = ""  # a JSON paragraph whose hex is the next paragraph
        for para in block.strip().split("\n\n"):
            text, hexes = _split(para)
            if text.startswith("{"):
                pending = text
            if pending and hexes:
                out.append((pending, hexes))
                pending = ""
    return out


def _split(para: str) -> tuple[str, str]:
    """A paragraph's JSON lines and its hex (plain, or annotated byte by byte)."""
    text, hexes = [], []
    for line in para.splitlines():
        annotated = _ANNOTATED.match(line)
        if _HEX.match(line):
            hexes.append(line)
        elif annotated and not line.startswith(("{", " ")):
            hexes.append(annotated.group(1).replace(" ", ""))
        else:
            text.append(line)
    return "\n".join(text), "".join(hexes)


EXAMPLES = _examples()


def test_the_worked_example_has_its_frames() -> None:
    assert len(EXAMPLES) == 11


@pytest.mark.parametrize(("text", "hexes"), EXAMPLES, ids=[t[:30] for t, _ in EXAMPLES])
def test_worked_example_hex_is_the_canonical_encoding(text: str, hexes: str) -> None:
    frame = json.loads(text)
    assert msgpack.packb(frame, use_bin_type=True).hex() == hexes


def test_worked_example_websocket_frame_of_the_hello() -> None:
    section = _section("16. Worked example")
    wire = "".join(re.search(r"```\n(82bf[0-9a-f]+\n[0-9a-f]+)\n```", section).group(1).split())
    data = bytes.fromhex(wire)
    assert data[0] == 0x82 and data[1] == 0x80 | 63
    mask, masked = data[2:6], data[6:]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
    assert msgpack.unpackb(payload) == {"type": "hello", "id": 1, "token": "tok_3xQ9",
                                        "device": "phone", "client": "corpchat-py"}


def test_every_revision_is_in_the_versioning_table() -> None:
    section = _section("14. Versioning")
    for name, *_tables in REVISIONS:
        assert f"\n| {name} |" in section, name


def test_every_vector_file_is_listed_in_the_test_vectors_section() -> None:
    section = _section("15. Test vectors")
    files = CLIENT_VECTOR_FILES + SERVER_VECTOR_FILES + ACCEPTED_FILES + INVALID_FILES
    assert sorted(files) == sorted(p.name for p in VECTORS.glob("*.json"))
    for name in files:
        assert f"| `{name}` |" in section, name


def test_server_frame_limits_are_documented() -> None:
    section = _normalized(_section("13. Limits and flow control"))
    for name in ("max_frame_bytes", "max_str_bytes", "max_array_len"):
        value = f"{getattr(SERVER_FRAME_LIMITS, name):,}".replace(",", " ")
        assert f"`{name}` {value}" in section, name
    array_len = f"{SERVER_FRAME_LIMITS.max_array_len:,}".replace(",", " ")
    assert f"arrays of at least **{array_len}** items" in section


def _normalized(text: str) -> str:
    return " ".join(text.split())


def test_quiet_hours_rules_are_quoted_exactly() -> None:
    """The rules quoted in section 21.1 are the reference implementation's own words."""
    section = _section("21. Quiet hours and presence")
    source = _normalized((ROOT / "protocol" / "quiet.py").read_text(encoding="utf-8"))
    quotes = [_normalized(" ".join(line[2:] for line in para.splitlines()))
              for para in section.split("\n\n") if para.startswith("> ")]
    assert len(quotes) == 4
    for quote in quotes:
        assert quote in source, quote


def _dst_vectors() -> list[list[str]]:
    """The rows of the vector table under section 21.1's "Daylight-saving time"."""
    start = SPEC.index("\n#### Daylight-saving time\n")
    text = SPEC[start:SPEC.index("\n#### ", start + 1)]
    table = text[text.index("\n| zone | windows |"):].strip().splitlines()[2:]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in table]


DST_VECTORS = _dst_vectors()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ms: int) -> str:
    return f"{_EPOCH + timedelta(milliseconds=ms):%Y-%m-%dT%H:%MZ}"


def _local(zone: str, ms: int) -> str:
    """'Sun 01:59 +01:00': the weekday, wall-clock minute and UTC offset of an instant."""
    moment = (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(zone))
    offset = moment.strftime("%z")
    return f"{moment:%a %H:%M} {offset[:3]}:{offset[3:]}"


def test_the_dst_vectors_cover_gaps_and_overlaps_in_two_zones() -> None:
    assert len(DST_VECTORS) >= 12
    assert {row[0] for row in DST_VECTORS} == {"Europe/Berlin", "America/New_York"}


@pytest.mark.parametrize("row", DST_VECTORS, ids=[" ".join(r[:3]) for r in DST_VECTORS])
def test_dst_vectors_are_what_the_reference_implementation_computes(row: list[str]) -> None:
    zone, windows, instant, local, resting, change, _note = row
    t_ms = int(datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp() * 1000)
    schedule = Schedule(zone, parse_windows(windows))
    assert _utc(t_ms) == instant  # a whole minute, written as the table writes them
    assert _local(zone, t_ms) == local
    assert resting == ("yes" if resting_at(schedule, t_ms) else "no")
    following = next_change(schedule, t_ms)
    assert change == ("none" if following is None else _utc(following))
