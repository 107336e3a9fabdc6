"""The grounding guard: a generated sentence is spoken only if the cited knowledge backs it.

A sentence passes when
* every number, amount, percentage, date and duration in it is in the knowledge (``numbers``);
* it cites: by ``[problem_id]`` tags naming knowledge in the prompt (the tags are stripped),
  or, without tags, by lexical overlap with one of the knowledge answers; short courtesy
  sentences ("I'm sorry to hear that.") need no citation;
* it does not echo the system rules (word 5-grams shared with the rules but not with the
  knowledge) nor talk about its instructions;
* it carries no PII and no masking placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from server.brain.llm.numbers import Fact, facts, supported
from server.brain.llm.prompt import KnowledgeItem
from server.brain.pii import contains_pii


class GuardFailure(StrEnum):
    NUMBER = "unsupported_number"
    UNCITED = "uncited"
    BAD_CITATION = "bad_citation"
    LEAK = "system_prompt_leak"
    PII = "pii"


@dataclass(frozen=True)
class GuardCheck:
    text: str  # the sentence with citation tags stripped
    cites: tuple[str, ...]
    failure: GuardFailure | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


_TAG_RE = re.compile(r"\s*\[([a-z][a-z0-9_ ,]{1,200})\]")
_PLACEHOLDER_RE = re.compile(
    r"\[(?:card ending [0-9]{4}|phone|id number|email|account|security code|expiry date|pin|date of birth"
    r"|encoded text removed)\]"
)
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_META_RE = re.compile(
    r"\b(?:system\s+(?:prompt|message|instructions?)|my\s+(?:instructions|rules|prompt|guidelines)"
    r"|(?:these|the)\s+rules\s+(?:i|you)|i\s+(?:was|am|have\s+been)\s+(?:told|instructed|programmed)"
    r"|knowledge\s+section|previous\s+instructions|other\s+(?:customers?|conversations?|sessions?))\b",
    re.IGNORECASE,
)
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "us",
        "i",
        "me",
        "my",
        "he",
        "she",
        "they",
        "them",
        "their",
        "there",
        "here",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "please",
        "just",
        "also",
        "very",
        "too",
        "any",
        "some",
        "all",
        "more",
        "most",
        "than",
        "what",
        "which",
        "who",
        "when",
        "where",
        "why",
        "how",
        "about",
        "into",
        "out",
        "up",
        "down",
        "over",
        "again",
        "once",
        "only",
        "own",
        "same",
        "such",
        "both",
        "each",
        "few",
        "other",
        "off",
        "while",
        "because",
        "until",
        "get",
        "got",
        "let",
        "make",
        "sure",
        "okay",
        "ok",
        "sorry",
        "hear",
        "happy",
        "help",
        "glad",
        "thank",
        "thanks",
        "hello",
        "hi",
        "welcome",
        "im",
        "i'm",
        "you're",
        "we're",
        "it's",
        "that's",
        "don't",
        "can't",
        "won't",
        "i'll",
        "we'll",
        "you'll",
        "i've",
        "you've",
        "course",
        "certainly",
        "understand",
        "know",
        "need",
        "want",
        "like",
        "well",
        "see",
        "look",
        "able",
        "assist",
        "today",
        "anything",
        "else",
    ]
)
_SUFFIXES = ("ing", "ed", "es", "s")
NGRAM = 5


def _stem(word: str) -> str:
    """A crude stem, shared by sentence and knowledge: arrive/arrived, fee/fees, delivery/deliveries."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower().replace("’", "'"))


def _content(text: str) -> set[str]:
    return {_stem(w) for w in _words(text) if w not in _STOP and len(w) > 2 and not w.isdigit()}


def _ngrams(words: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class GroundingGuard:
    """Checks sentences against one answer's knowledge and the system rules."""

    def __init__(
        self,
        knowledge: Sequence[KnowledgeItem],
        system_rules: str,
        *,
        min_overlap: float = 0.5,
        min_overlap_tagged: float = 0.34,
        courtesy_max_words: int = 2,
    ) -> None:
        self._ids = {k.problem_id for k in knowledge}
        self._source_text = "\n".join(f"{k.title}. {k.answer} {k.conditions or ''}" for k in knowledge)
        self._facts: set[Fact] = set(facts(self._source_text))
        self._content = {
            k.problem_id: _content(f"{k.title} {k.answer} {k.conditions or ''}") for k in knowledge
        }
        self._all_content = set().union(*self._content.values()) if self._content else set()
        self._leak_ngrams = _ngrams(_words(system_rules)) - _ngrams(_words(self._source_text))
        self._min_overlap = min_overlap
        self._min_overlap_tagged = min_overlap_tagged
        self._courtesy_max = courtesy_max_words

    def check(self, sentence: str) -> GuardCheck:
        tags = [t.strip() for m in _TAG_RE.finditer(sentence) for t in m.group(1).split(",")]
        text = " ".join(_TAG_RE.sub(" ", sentence).split())
        text = re.sub(r"\s+([.,!?;:])", r"\1", text)
        tagged = tuple(dict.fromkeys(t for t in tags if t in self._ids))
        if _PLACEHOLDER_RE.search(sentence) or contains_pii(text):
            return GuardCheck(text, tagged, GuardFailure.PII)
        unknown = [t for t in tags if t not in self._ids and not _PLACEHOLDER_RE.fullmatch(f"[{t}]")]
        if unknown:
            return GuardCheck(text, tagged, GuardFailure.BAD_CITATION, ",".join(unknown[:3]))
        if _META_RE.search(text) or _ngrams(_words(text)) & self._leak_ngrams:
            return GuardCheck(text, tagged, GuardFailure.LEAK)
        missing = [f for f in facts(text) if not supported(f, self._facts)]
        if missing:
            return GuardCheck(text, tagged, GuardFailure.NUMBER, " ".join(map(str, missing[:5])))
        return self._attribute(text, tagged)

    def _attribute(self, text: str, tagged: tuple[str, ...]) -> GuardCheck:
        words = _content(text)
        if len(words) <= self._courtesy_max and not tagged:
            return GuardCheck(text, ())
        overlap = {pid: len(words & c) / max(len(words), 1) for pid, c in self._content.items()}
        union = len(words & self._all_content) / max(len(words), 1)
        if tagged and union >= self._min_overlap_tagged:
            return GuardCheck(text, tagged)
        best = max(overlap, key=lambda pid: overlap[pid], default=None)
        if best is not None and union >= self._min_overlap and len(words & self._all_content) >= 2:
            return GuardCheck(text, (best,))
        return GuardCheck(text, tagged, GuardFailure.UNCITED, f"overlap={union:.2f}")
