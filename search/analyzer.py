"""Text to index terms, with each term's place in the original text.

How it works. The text is normalised character by character — NFKC (full-width
Latin and half-width katakana become ordinary letters, ligatures split) and
lower-casing — keeping, for every normalised character, the offset of the
original character it came from, so that a term found in the normalised text
can be marked in the text the user wrote. The normalised text is then cut
into runs:

- a run of Han, Kana or Hangul characters becomes its overlapping bigrams
  ("提交报销单" → 提交 交报 报销 销单); a run of one character is a unigram;
- a run of letters and digits of any other script is one word;
- an emoji or other pictographic symbol is a term of its own;
- anything else (spaces, punctuation) separates terms.

Why bigrams and not word segmentation (rjieba/jieba): measured on a seeded
mixed Chinese/English corpus (docs/benchmarks.md, "Search: the CJK
tokenizer"), bigrams find every substring of two or more characters that
occurs in a message — the query "报销" in "我明天提交报销单" — because a query
is cut the same way and searched as a phrase of its bigrams, whereas a
segmenter finds a word only where it happened to cut the message at the same
places as the query (its recall on substring queries was far lower), needs
a dictionary for every language (jieba's is Chinese only: Japanese and Korean
fall apart), and costs more CPU per message. Bigrams cost index size (about
one term per CJK character); the measured index stays within the 1.5× budget.
A one-character CJK query matches the bigrams that contain the character.

The indexed field is tokenized by tantivy's whitespace tokenizer: `index_text`
joins the terms with spaces, so positions are our terms' positions and phrase
queries work on them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Term", "index_text", "is_cjk", "terms"]

# Han (with extensions and compatibility ideographs), Hiragana, Katakana (with
# the phonetic extensions and the prolonged sound mark), Hangul syllables and jamo.
_CJK = ("\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
        "\u4e00-\u9fff\uf900-\ufaff\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
        "\U00020000-\U0003134f")
_SYMBOL = "\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
# Combining marks (Latin accents, Indic vowel signs) belong to the word they follow.
_MARKS = "\u0300-\u036f\u0900-\u0dff\u0e00-\u0e7f"
_RUNS = re.compile(f"([{_CJK}]+)|([{_SYMBOL}])|((?:(?![{_CJK}])[\\w{_MARKS}])+)")
_ASCII_WORDS = re.compile(r"\w+", re.ASCII)
_CJK_CHAR = re.compile(f"[{_CJK}]")
MAX_TERM_CHARS = 40  # longer words are cut (tantivy refuses terms over 65,530 bytes)


@dataclass(frozen=True, slots=True)
class Term:
    """One index term and the [start, end) character range it covers in the text."""

    text: str
    start: int
    end: int
    cjk: bool = False


def is_cjk(text: str) -> bool:
    return _CJK_CHAR.match(text) is not None


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """The normalised text and, if lengths changed, each character's source offset."""
    if text.isascii():
        return text.lower(), None
    # "İ".lower() is "i" and a combining dot: Turkish and English readers both type "i".
    folded = unicodedata.normalize("NFKC", text).lower().replace("i\u0307", "i")
    if len(folded) == len(text):
        # One character for one (full-width forms, most text): offsets carry over. (A
        # composition and an expansion in one text could shift a highlight by a
        # character; the terms are the same either way.)
        return folded, None
    parts: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        norm = unicodedata.normalize("NFKC", char).lower().replace("i\u0307", "i")
        parts.append(norm)
        origin.extend([i] * len(norm))
    return "".join(parts), origin


def terms(text: str) -> list[Term]:
    """The terms of `text`, in order, with their ranges in `text`."""
    norm, origin = _normalise(text)
    out: list[Term] = []
    for match in _RUNS.finditer(norm):
        cjk, symbol, word = match.groups()
        start = match.start()
        if cjk is not None:
            if len(cjk) == 1:
                out.append(_term(cjk, start, start + 1, origin, True))
            for i in range(len(cjk) - 1):
                out.append(_term(cjk[i:i + 2], start + i, start + i + 2, origin, True))
        elif symbol is not None:
            out.append(_term(symbol, start, start + 1, origin, False))
        else:
            out.append(_term(word[:MAX_TERM_CHARS], start, match.end(), origin, False))
    return out


def _term(text: str, start: int, end: int, origin: list[int] | None, cjk: bool) -> Term:
    if origin is None:
        return Term(text, start, end, cjk)
    return Term(text, origin[start], origin[end - 1] + 1, cjk)


def index_text(text: str) -> str:
    """The terms of `text` joined by spaces: the indexed field's content.

    The same terms as `terms(text)` (a test holds them equal), without their
    ranges: this is the indexer's hot loop."""
    if text.isascii():
        return " ".join(word[:MAX_TERM_CHARS] for word in _ASCII_WORDS.findall(text.lower()))
    norm, _ = _normalise(text)
    out: list[str] = []
    for cjk, symbol, word in _RUNS.findall(norm):
        if cjk:
            if len(cjk) == 1:
                out.append(cjk)
            else:
                out.extend([cjk[i:i + 2] for i in range(len(cjk) - 1)])
        else:
            out.append(symbol or word[:MAX_TERM_CHARS])
    return " ".join(out)
