"""protocol/emoji.py: a reaction is one grapheme cluster of at most 16 code points."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from corpchat.protocol.emoji import is_reaction_emoji


@given(st.text(max_size=40))
def test_any_text_is_judged_without_error(text: str) -> None:
    verdict = is_reaction_emoji(text)
    assert isinstance(verdict, bool)
    if verdict:
        assert 0 < len(text) <= 16 and not text.isspace()


@given(st.lists(st.sampled_from(["👍", "🎉", "👨‍👩‍👧", "🇨🇳", "1️⃣", "👍🏽"]), min_size=2, max_size=4))
def test_two_emoji_are_not_one_reaction(emoji: list[str]) -> None:
    assert not is_reaction_emoji("".join(emoji))


def test_single_clusters_are_reactions() -> None:
    for emoji in ("👍", "👍🏽", "👨‍👩‍👧", "🇨🇳", "1️⃣", "❤️"):
        assert is_reaction_emoji(emoji), emoji
    for text in ("", " ", "\u200d", "\n", "👍 ", "x" * 17):
        assert not is_reaction_emoji(text), repr(text)
