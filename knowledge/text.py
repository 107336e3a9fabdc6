"""Text normalisation shared by lexical retrieval and lexicon matching."""

from __future__ import annotations

import re
from itertools import pairwise

_WORD = re.compile(r"[a-z0-9£$€]+(?:'[a-z]+)?")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "is",
        "am",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "but",
        "so",
        "if",
        "then",
        "than",
        "that",
        "this",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "just",
        "please",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "im",
        "i'm",
        "ive",
        "i've",
        "id",
        "i'd",
        "dont",
        "don't",
    ]
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens, apostrophes kept inside words."""
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """Unigrams without stopwords plus bigrams of the full word sequence (for BM25)."""
    tokens = words(text)
    unigrams = [t for t in tokens if t not in STOPWORDS]
    bigrams = [f"{a}_{b}" for a, b in pairwise(tokens)]
    return unigrams + bigrams
