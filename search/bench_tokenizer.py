"""Benchmark: CJK bigrams (analyzer.py) against rjieba word segmentation.

    python -m corpchat.search.bench_tokenizer [--messages 50000]

On the seeded corpus (corpus.py) it measures, for each way of cutting text:
recall — of the (query, message) pairs where the message contains the query
as written (after NFKC and lower-casing), the share the index finds —, index
size on disk relative to the messages' UTF-8 bytes, and analysis time per
message. Queries are dictionary words, fragments of two or three characters
cut from random messages (what a person remembers of a message), Japanese
and Korean fragments. jieba is searched leniently (every query word present,
in any order); bigrams as a phrase. rjieba is needed only here: it is not a
dependency of the server.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable

import tantivy

from .analyzer import is_cjk, terms
from .corpus import JA, KO, ZH_WORDS, messages
from .index import index_bytes


def _jieba_terms() -> Callable[[str], list[str]]:
    import rjieba

    def cut(text: str) -> list[str]:
        out: list[str] = []
        for term in _runs(text):
            out.extend(rjieba.cut_for_search(term) if is_cjk(term) else [term])
        return [t for t in out if t.strip()]
    return cut


_RUN = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+|\\w+")


def _runs(text: str) -> list[str]:
    """CJK runs whole and other words, normalised as the analyzer does."""
    return _RUN.findall(unicodedata.normalize("NFKC", text).lower())


def _bigram_terms(text: str) -> list[str]:
    return [term.text for term in terms(text)]


def _queries(corpus: list[str], rng: random.Random) -> list[str]:
    words = rng.sample(ZH_WORDS, 60)
    chinese = [m for m in corpus if any(is_cjk(c) for c in m) and len(m) > 6]
    fragments: list[str] = []
    while len(fragments) < 100:
        text = rng.choice(chinese)
        size = rng.choice((2, 3))
        at = rng.randrange(len(text) - size)
        piece = text[at:at + size]
        if all(is_cjk(c) for c in piece):
            fragments.append(piece)
    others = [text[i:i + 3] for text in JA + KO for i in range(0, len(text) - 3, 2)]
    return words + fragments + others


def _recall(corpus: list[str], queries: list[str], cut: Callable[[str], list[str]],
            phrase: bool) -> float:
    indexed = [cut(text) for text in corpus]
    expected = found = 0
    for query in queries:
        wanted = cut(query)
        for text, held in zip(corpus, indexed, strict=True):
            if query.lower() not in text.lower():
                continue
            expected += 1
            found += _contains(held, wanted) if phrase else set(wanted) <= set(held)
    return found / expected if expected else 1.0


def _contains(held: list[str], wanted: list[str]) -> bool:
    width = len(wanted)
    return any(held[i:i + width] == wanted for i in range(len(held) - width + 1))


def _size(corpus: list[str], cut: Callable[[str], list[str]]) -> tuple[int, float]:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="position")
    schema = builder.build()
    with tempfile.TemporaryDirectory() as path:
        index = tantivy.Index(schema, path=path)
        writer = index.writer(128_000_000, 1)
        started = time.perf_counter()
        bodies = [" ".join(cut(text)) for text in corpus]
        seconds = time.perf_counter() - started
        for body in bodies:
            writer.add_document(tantivy.Document(body=body))
        writer.commit()
        writer.wait_merging_threads()
        return index_bytes(path), seconds / len(corpus) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--recall-messages", type=int, default=5_000)
    args = parser.parse_args()
    corpus = messages(args.messages)
    text_bytes = sum(len(m.encode()) for m in corpus)
    queries = _queries(corpus, random.Random(7))
    sample = corpus[:args.recall_messages]
    print(f"{len(corpus)} messages, {text_bytes} text bytes, {len(queries)} queries, "
          f"recall over {len(sample)} messages; cpus={os.cpu_count()}")
    for name, cut, phrase in (("bigrams", _bigram_terms, True),
                              ("rjieba", _jieba_terms(), False)):
        size, micros = _size(corpus, cut)
        recall = _recall(sample, queries, cut, phrase)
        print(f"{name:8} recall {recall:.3f}  index {size} bytes ({size / text_bytes:.2f}x text)"
              f"  analysis {micros:.1f} us/message")


if __name__ == "__main__":
    main()
