"""The human form of admin results; `--json` is the form for scripts and stays as it is.

A map prints as aligned `key  value` lines (a map inside it as `outer.inner` keys, as
sysctl does), a list of maps as a table with a header row, anything else one value a
line. Values print as an operator reads them, never as Python reprs: nothing as `-`,
booleans as yes/no (the spelling of the CLI's flags), lists comma-joined, quiet-hours
windows as `mon 20:00-08:00` (the spelling of `--windows`), and times as ISO-8601 local
time next to their epoch ms.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

# An integer `*_ms` field at least this large is a time (after 1973-03-03), not a
# duration: no duration the server reports comes near three years.
EPOCH_MS_MIN = 10**11
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_KEYS = {"day", "start", "end"}


def render(result: Any) -> str:
    if isinstance(result, dict):
        return _pairs(result)
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return _table(result)
    if isinstance(result, list):
        return "\n".join(value(r) for r in result)
    return value(result)


def _pairs(result: dict[str, Any]) -> str:
    rows = list(_flatten(result))
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _flatten(mapping: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, item in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item and not _is_window(item):
            yield from _flatten(item, f"{name}.")
        else:
            yield name, field(str(key), item)


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[field(c, row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    return "\n".join("  ".join(map(str.ljust, line, widths)).rstrip()
                     for line in [columns, *cells])


def field(key: str, item: Any) -> str:
    """One value, knowing its field name (which tells a time from a count)."""
    if (key.endswith("_ms") and isinstance(item, int) and not isinstance(item, bool)
            and item >= EPOCH_MS_MIN):
        return f"{local_time(item)} ({item})"
    return value(item)


def value(item: Any) -> str:
    if item is None or item == "":
        return "-"
    if isinstance(item, bool):
        return "yes" if item else "no"
    if isinstance(item, dict):
        if _is_window(item):
            return f"{_DAYS[item['day']]} {item['start']}-{item['end']}"
        return " ".join(f"{k}={field(str(k), v)}" for k, v in item.items()) or "-"
    if isinstance(item, (list, tuple)):
        return ", ".join(value(v) for v in item) or "-"
    return str(item)


def local_time(ms: int) -> str:
    """ISO-8601 in the local time zone, to the millisecond (exact: no float division)."""
    seconds, millis = divmod(ms, 1000)
    moment = datetime.fromtimestamp(seconds).astimezone().replace(microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds")


def _is_window(item: dict[Any, Any]) -> bool:
    return set(item) == _WINDOW_KEYS and item["day"] in range(len(_DAYS))
