"""BM25 ranking and lexicon matching."""

from __future__ import annotations

import numpy as np

from knowledge.lexical import LexicalIndex
from knowledge.lexicon import LexiconMatcher, generic_products, named_products
from knowledge.schema import Lexicon, LexiconWord, WordKind
from knowledge.text import terms, words


def test_words_and_terms() -> None:
    assert words("Where's my CARD?") == ["where's", "my", "card"]
    assert "card_arrived" in terms("card arrived") and "the" not in terms("the card")


def test_bm25_prefers_the_matching_document() -> None:
    index = LexicalIndex(["my card has not arrived", "exchange rate for euros", "top up failed"])
    scores = index.scores("why did my top up fail? top up failed")
    assert scores.argmax() == 2
    assert index.scores("zebra giraffe").max() == 0


def test_bm25_top_is_the_best_positive_scores_ties_by_lower_id() -> None:
    scores = np.array([0.0, 2.0, 5.0, 2.0, 0.0, 2.0, 7.0], dtype=np.float32)
    assert LexicalIndex.top(scores, 3) == [6, 2, 1]
    assert LexicalIndex.top(scores, 4) == [6, 2, 1, 3]
    assert LexicalIndex.top(scores, 10) == [6, 2, 1, 3, 5]  # never a document that matched nothing
    assert LexicalIndex.top(scores, 0) == []
    assert LexicalIndex.top(np.zeros(4, dtype=np.float32), 2) == []
    rng = np.random.default_rng(5)
    for _ in range(200):
        many = (rng.integers(0, 4, 300) * 1.5).astype(np.float32)
        expected = [int(d) for d in np.lexsort((np.arange(many.size), -many)) if many[d] > 0][:5]
        assert LexicalIndex.top(many, 5) == expected


def test_lexicon_finds_longest_phrase_and_synonyms() -> None:
    lexicon = Lexicon(
        entity_words=[
            LexiconWord(
                word="credit card", synonyms=["amex card"], entity_type="product", product="credit_card"
            ),
            LexiconWord(word="card", entity_type="product"),
        ],
        attribute_words=[LexiconWord(word="fee", synonyms=["charge", "cost"])],
    )
    matcher = LexiconMatcher(lexicon)
    mentions = matcher.mentions("What does my Credit  Card cost?")
    assert [(m.kind, m.word.word) for m in mentions] == [
        (WordKind.ENTITY, "credit card"),
        (WordKind.ATTRIBUTE, "fee"),
    ]
    assert matcher.products("the amex card one") == {"credit_card"}
    assert matcher.products("discard this") == set()
    assert matcher.hotwords()[0] == "credit card"


def test_products_are_read_from_one_pass_of_mentions() -> None:
    lexicon = Lexicon(
        entity_words=[
            LexiconWord(word="credit card", entity_type="product", product="credit_card"),
            LexiconWord(word="card", entity_type="product", ambiguous_products=["debit_card", "credit_card"]),
        ]
    )
    matcher = LexiconMatcher(lexicon)
    for text in ("I lost my card", "my credit card and my card", "nothing here"):
        mentions = matcher.mentions(text)
        assert named_products(mentions) == matcher.products(text)
        assert generic_products(mentions) == matcher.generic_products(text)
    assert generic_products(matcher.mentions("I lost my card")) == {"debit_card", "credit_card"}
