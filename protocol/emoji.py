"""What counts as one reaction emoji (docs/protocol.md §31.5).

"One grapheme cluster of at most 16 code points": the cluster rules are
Unicode's (UAX #29, extended grapheme clusters), from the `regex` package's
`\\X`; white space and control/format characters alone are not reactions.
"""

from __future__ import annotations

import unicodedata

import regex

MAX_EMOJI_CODE_POINTS = 16
_CLUSTER = regex.compile(r"\X")
_NOT_SHOWN = ("Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")  # controls, surrogates, spaces


def is_reaction_emoji(text: str) -> bool:
    """Whether `text` is one grapheme cluster of 1 to 16 code points that shows."""
    if not 0 < len(text) <= MAX_EMOJI_CODE_POINTS:
        return False
    if _CLUSTER.fullmatch(text) is None:
        return False
    first = unicodedata.category(text[0])
    return first not in _NOT_SHOWN and first != "Cf"
