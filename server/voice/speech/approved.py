"""Which texts the speech cache may keep: only approved knowledge text.

The cache (``server.voice.speech.cache``) lives on disk and outlives sessions, so it must
never hold what a customer's session said that was not approved in advance: operator
lines, generated (LLM-worded) sentences, replies that echo anything the customer said.
``ApprovedSpeech`` answers "may this text be cached?" with the fixed texts of the knowledge
version the Brain serves (``fixed_texts``: approved answers, greeting, hand-off, out of scope,
say-again), the same texts the warmer speaks into the cache; everything else is synthesised
each time and kept nowhere.
"""

from __future__ import annotations

from server.brain.brain import Brain
from server.voice.speech.warm import fixed_texts

__all__ = ["ApprovedSpeech"]


class ApprovedSpeech:
    """``text in fixed_texts(served knowledge base)``, recomputed when the served version changes."""

    def __init__(self, brain: Brain) -> None:
        self._brain = brain
        self._version: int | None = None
        self._texts: frozenset[str] = frozenset()

    def __call__(self, text: str) -> bool:
        retriever = self._brain.retriever
        if retriever.version != self._version:
            self._texts, self._version = frozenset(fixed_texts(retriever.kb)), retriever.version
        return text in self._texts
