"""Line helpers of the terminal client (client_cli.py): reaction counts and
`@han` completion (1.5), search hits (1.6), a message's or an edit's files (1.4, 1.8)."""

from __future__ import annotations

import time

from corpchat.protocol import MediaInfo, SearchHit


def format_reactions(counts: dict[str, int]) -> str:
    return " ".join(f"{emoji} {n}" for emoji, n in sorted(counts.items()))


def format_files(files: tuple[MediaInfo, ...] | None) -> str:
    """`[image plan.png] [file notes.pdf]`: what a message carries (fetch them with a
    browser or `GET /media/<id>`); "" when it carries nothing."""
    return " ".join(f"[{f.kind} {f.name or f.media}]" for f in files or ())


def complete_mentions(line: str, known: set[str]) -> tuple[str, tuple[str, ...], str | None]:
    """`@han` words completed to the one known handle they begin (`@all` stays):
    (the line, the handles mentioned, a problem to show instead of sending)."""
    words = line.split(" ")
    mentioned: list[str] = []
    for i, word in enumerate(words):
        if not word.startswith("@") or len(word) < 2:
            continue
        prefix = word[1:].rstrip(",.:;!?")
        if prefix == "all" or prefix in known:
            mentioned.append(prefix)
            continue
        matches = sorted(h for h in known if h.startswith(prefix))
        if len(matches) != 1:
            return line, (), f"@{prefix}: " + (", ".join(matches) or "no one known by that name")
        words[i] = "@" + matches[0] + word[1 + len(prefix):]
        mentioned.append(matches[0])
    return " ".join(words), tuple(dict.fromkeys(mentioned)), None


def format_hit(hit: SearchHit) -> str:
    """`[HH:MM:SS] #CONV alice: …the [match] in its snippet…` in local time."""
    stamp = time.strftime("%H:%M:%S", time.localtime(hit.time / 1000))
    text = hit.snippet.text if hit.snippet else ""
    marked, at = [], 0
    for start, end in hit.snippet.ranges if hit.snippet else ():
        marked += [text[at:start], "[", text[start:end], "]"]
        at = end
    marked.append(text[at:])
    return f"[{stamp}] #{hit.conv}/{hit.seq} {hit.sender}: {''.join(marked)}"
