"""BM25 ranking and lexicon matching."""

from __future__ import annotations

from knowledge.lexical import LexicalIndex
from knowledge.lexicon import LexiconMatcher
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
