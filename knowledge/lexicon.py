"""Lexicon matching: which intent, entity and attribute words a text mentions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.schema import Lexicon, LexiconWord, WordKind


@dataclass(frozen=True)
class Mention:
    kind: WordKind
    word: LexiconWord
    surface: str


def named_products(mentions: Iterable[Mention]) -> set[str]:
    """Products named by the entity words among ``mentions``."""
    return {m.word.product for m in mentions if m.kind is WordKind.ENTITY and m.word.product is not None}


def generic_products(mentions: Iterable[Mention]) -> set[str]:
    """Products the generic entity words among ``mentions`` may mean ("card": debit or credit)."""
    return {product for m in mentions if m.kind is WordKind.ENTITY for product in m.word.ambiguous_products}


class LexiconMatcher:
    """Finds lexicon words (and their synonyms) in text, longest phrase first."""

    def __init__(self, lexicon: Lexicon) -> None:
        self._by_form: dict[str, tuple[WordKind, LexiconWord]] = {}
        for kind, word in lexicon.words():
            for form in word.forms:
                key = " ".join(form.lower().split())
                if key:
                    self._by_form.setdefault(key, (kind, word))
        forms = sorted(self._by_form, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<![\w])(" + "|".join(re.escape(f) for f in forms) + r")(?![\w])")
            if forms
            else None
        )

    def mentions(self, text: str) -> list[Mention]:
        if self._pattern is None:
            return []
        normalised = " ".join(text.lower().split())
        found: list[Mention] = []
        for match in self._pattern.finditer(normalised):
            kind, word = self._by_form[match.group(1)]
            found.append(Mention(kind=kind, word=word, surface=match.group(1)))
        return found

    def products(self, text: str) -> set[str]:
        """Products named by entity words in ``text``."""
        return named_products(self.mentions(text))

    def generic_products(self, text: str) -> set[str]:
        """Products a generic word in ``text`` may mean ("card": debit or credit)."""
        return generic_products(self.mentions(text))

    def hotwords(self, limit: int = 200) -> list[str]:
        """Distinct entity words, for ASR biasing; most specific (longest) first."""
        entity_words = [w for k, w in self._by_form.values() if k is WordKind.ENTITY]
        unique = {w.word: None for w in entity_words}
        return sorted(unique, key=len, reverse=True)[:limit]
