"""Cut a stream of text chunks into whole sentences as soon as each one ends."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (or a newline) followed by whitespace, unless the dot is part
# of a number ("2.5"), a common abbreviation ("e.g."), or a single initial.
_END_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|approx|mr|mrs|ms|dr|no|vs|st)|\b[A-Za-z])\.$", re.IGNORECASE)
MAX_SENTENCE_CHARS = 400


class SentenceSplitter:
    """Feed chunks, get back the sentences they complete; ``flush`` returns the rest."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, chunk: str) -> list[str]:
        self._buffer += chunk
        out: list[str] = []
        start = 0
        for m in _END_RE.finditer(self._buffer):
            candidate = self._buffer[start : m.start()].strip()
            if not candidate:
                start = m.end()
                continue
            if m.group().strip() == "" and "\n" not in m.group() and _ABBREV.search(candidate):
                continue
            out.append(candidate)
            start = m.end()
        self._buffer = self._buffer[start:]
        if len(self._buffer) > MAX_SENTENCE_CHARS:  # a run-on "sentence": cut it at a space
            cut = self._buffer.rfind(" ", 0, MAX_SENTENCE_CHARS) + 1 or MAX_SENTENCE_CHARS
            out.append(self._buffer[:cut].strip())
            self._buffer = self._buffer[cut:]
        return out

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []
