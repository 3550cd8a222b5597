"""The analyzer, the query parser and snippets: pure code, tables and hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpchat.search import MAX_QUERY_CHARS, QueryError, index_text, parse, snippet, terms

TERMS = [
    ("我明天提交报销单", ["我明", "明天", "天提", "提交", "交报", "报销", "销单"]),
    ("Hello, WORLD!", ["hello", "world"]),
    ("ｆｕｌｌ　ｗｉｄｔｈ", ["full", "width"]),  # NFKC
    ("ｶﾀｶﾅ", ["カタ", "タカ", "カナ"]),  # half-width katakana
    ("회의는 내일", ["회의", "의는", "내일"]),
    ("ship it 🚀", ["ship", "it", "🚀"]),
    ("提交PR到main分支", ["提交", "pr", "到", "main", "分支"]),
    ("Café İstanbul", ["café", "istanbul"]),
    ("", []),
    ("!!! ... ???", []),
]


@pytest.mark.parametrize(("text", "expected"), TERMS)
def test_terms(text: str, expected: list[str]) -> None:
    assert [t.text for t in terms(text)] == expected


@pytest.mark.parametrize(("text", "expected"), TERMS)
def test_term_ranges_cover_the_original_text(text: str, expected: list[str]) -> None:
    for term in terms(text):
        assert 0 <= term.start < term.end <= len(text)
        assert index_text(text[term.start:term.end]).replace(" ", "") != ""


BAD = ["", "   ", "x" * (MAX_QUERY_CHARS + 1), "x " * 10_000, '"unclosed', 'a "b c',
       "-only", "-a -b", "+ - * : ( )", '""', " ".join(f"w{i}" for i in range(40))]


@pytest.mark.parametrize("text", BAD)
def test_bad_queries_raise_query_error(text: str) -> None:
    with pytest.raises(QueryError):
        parse(text)


def test_clauses() -> None:
    query = parse('报销 -"foo bar" Hello e-mail')
    assert [(c.terms, c.exclude) for c in query.clauses] == [
        (("报销",), False), (("foo", "bar"), True), (("hello",), False), (("e", "mail"), False)]


def test_operators_are_words() -> None:
    assert [c.terms for c in parse("cats AND dogs").clauses] == [("cats",), ("and",), ("dogs",)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    try:
        query = parse(text)
    except QueryError:
        return
    query.tantivy()  # building the tantivy query never raises either


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from('ab 报销"-:*()+\u3000ｶ🚀'), max_size=60))
def test_operator_soup_parses_or_raises_query_error(text: str) -> None:
    try:
        parse(text).tantivy()
    except QueryError:
        pass


def test_snippet_marks_matches_in_character_offsets() -> None:
    text = "我明天提交报销单, then 报销 again"
    found = snippet(text, parse("报销").wanted)
    assert [found.text[a:b] for a, b in found.ranges] == ["报销", "报销"]


def test_snippet_of_a_long_text_is_cut_around_the_match() -> None:
    text = "filler " * 100 + "the needle is here" + " tail" * 100
    found = snippet(text, parse('"needle is"').wanted)
    assert len(found.text) <= 160
    assert [found.text[a:b] for a, b in found.ranges] == ["needle is"]


def test_snippet_of_a_normalised_match_marks_the_original() -> None:
    found = snippet("ｆｕｌｌ width", parse("FULL").wanted)
    assert [found.text[a:b] for a, b in found.ranges] == ["ｆｕｌｌ"]


def test_single_cjk_character_is_marked() -> None:
    found = snippet("提交报销单", parse("报").wanted)
    assert [found.text[a:b] for a, b in found.ranges] == ["报"]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80) | st.text(alphabet=st.sampled_from("aZ9_ 报销ｶﾀ한🚀é\u0301İ-"),
                                      max_size=40))
def test_index_text_holds_the_same_terms_as_terms(text: str) -> None:
    assert index_text(text) == " ".join(term.text for term in terms(text))
