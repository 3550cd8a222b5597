"""The user's search text, parsed into clauses and built into a tantivy query.

The syntax is what people type into a chat's search box:

- words: every word must occur (`报销 march`); a word the analyzer cuts into
  several terms (a CJK word, "e-mail") must occur as written, as a phrase;
- `"quoted phrases"`: the words in this order, next to each other;
- `-word` or `-"a phrase"`: messages holding it are left out.

Everything else is text: `AND`, `OR`, `+`, `*`, `:` or parentheses carry no
meaning and are searched as (or dropped like) any other punctuation. A
query that is empty, longer than `MAX_QUERY_CHARS`, has an unclosed quote,
holds more than `MAX_CLAUSES` clauses or only exclusions raises
`QueryError` — the one exception this module raises for any input (the
server answers it with `bad_request`); the tantivy query is built from our
own clauses, never from the user's text, so tantivy's parser and its
errors are never involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

from .analyzer import Term, is_cjk, terms
from .index import SCHEMA

__all__ = ["MAX_CLAUSES", "MAX_QUERY_CHARS", "Clause", "ParsedQuery", "QueryError", "parse"]

MAX_QUERY_CHARS = 500
MAX_CLAUSES = 16
MAX_PHRASE_TERMS = 64


class QueryError(ValueError):
    """The search text cannot be searched; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class Clause:
    """A run of terms that must occur together (one term: anywhere)."""

    terms: tuple[str, ...]
    exclude: bool = False

    def single_cjk(self) -> bool:
        """One CJK character, which the index holds only inside bigrams."""
        return len(self.terms) == 1 and len(self.terms[0]) == 1 and is_cjk(self.terms[0])


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    clauses: tuple[Clause, ...]

    @property
    def wanted(self) -> tuple[Clause, ...]:
        return tuple(clause for clause in self.clauses if not clause.exclude)

    def tantivy(self) -> tantivy.Query:
        """The query over the body field: every wanted clause, no excluded one."""
        occur = tantivy.Occur
        parts = [(occur.MustNot if clause.exclude else occur.Must, _clause_query(clause))
                 for clause in self.clauses]
        return tantivy.Query.boolean_query(parts)


def parse(text: str) -> ParsedQuery:
    """The clauses of the user's search text (see the module's docstring)."""
    if not isinstance(text, str):
        raise QueryError("the query must be text")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    clauses = [clause for clause in _clauses(text) if clause.terms]
    if not clauses:
        raise QueryError("the query has no word to search for")
    if len(clauses) > MAX_CLAUSES:
        raise QueryError(f"the query has more than {MAX_CLAUSES} words or phrases")
    if all(clause.exclude for clause in clauses):
        raise QueryError("the query only excludes words: say what to find")
    return ParsedQuery(tuple(dict.fromkeys(clauses)))


def _clauses(text: str) -> list[Clause]:
    out: list[Clause] = []
    rest = text
    while rest:
        rest = rest.lstrip()
        exclude = rest.startswith("-") and len(rest) > 1 and not rest[1].isspace()
        if exclude:
            rest = rest[1:]
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise QueryError("a quote is not closed")
            out.append(_clause(terms(rest[1:end]), exclude))
            rest = rest[end + 1:]
            continue
        word, _, rest = _split_word(rest)
        out.append(_clause(terms(word), exclude))
    return out


def _split_word(text: str) -> tuple[str, str, str]:
    """The first word (up to whitespace or a quote) and what follows it."""
    for i, char in enumerate(text):
        if char.isspace() or (char == '"' and i > 0):
            return text[:i], "", text[i:]
    return text, "", ""


def _clause(found: list[Term], exclude: bool) -> Clause:
    if len(found) > MAX_PHRASE_TERMS:
        raise QueryError(f"a phrase has more than {MAX_PHRASE_TERMS} words")
    return Clause(tuple(term.text for term in found), exclude)


def _clause_query(clause: Clause) -> tantivy.Query:
    if clause.single_cjk():
        # The character alone (a one-character run) or inside a bigram, either side.
        char = clause.terms[0]
        return tantivy.Query.regex_query(SCHEMA, "body", f"{char}.?|.{char}")
    if len(clause.terms) == 1:
        return tantivy.Query.term_query(SCHEMA, "body", clause.terms[0])
    return tantivy.Query.phrase_query(SCHEMA, "body", list(clause.terms))
