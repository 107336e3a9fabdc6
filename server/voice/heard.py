"""What the customer actually heard of each spoken reply, recorded as the turn's ``spoken_text``.

A reply is stored before it is spoken. Once its last audio has played (the avatar's
``ReplyPlayedFrame``, not the bot merely going quiet), all of it was heard; when it is cut (a
barge-in, typed text, an operator's takeover) the avatar is asked how much of it played
(``PlaybackPositionRequestFrame``) and its answer (``PlaybackPositionFrame``) settles the cut
reply, word-aligned (``heard_part``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from server.store.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


def heard_part(text: str, fraction: float) -> str:
    """The words of ``text`` heard when ``fraction`` of its audio played (cut at a word)."""
    if fraction >= 0.999:
        return text
    cut = int(len(text) * max(fraction, 0.0))
    if cut <= 0:
        return ""
    space = text.rfind(" ", 0, cut + 1)
    return text[: space if space > 0 else cut].rstrip(" ,;:")


@dataclass(frozen=True)
class _Utterance:
    seq: int
    text: str
    started: float


class HeardLog:
    """The reply being spoken, the cut ones waiting for their playback position, and their records."""

    def __init__(self, store: Store, session_id: str) -> None:
        self._store = store
        self._session_id = session_id
        self._speaking: _Utterance | None = None
        self._cut: deque[_Utterance] = deque()

    def speaking(self, seq: int, text: str, started: float | None = None) -> None:
        """Turn ``seq`` (``text``) is being spoken now (or since ``started``, monotonic)."""
        self._speaking = _Utterance(seq, text, time.monotonic() if started is None else started)

    @property
    def speaking_since(self) -> float | None:
        """When the reply being spoken started (monotonic), None while nothing is."""
        return None if self._speaking is None else self._speaking.started

    def cut(self) -> bool:
        """The reply being spoken was cut: True if one was, and its playback position is awaited."""
        if self._speaking is None:
            return False
        self._cut.append(self._speaking)
        self._speaking = None
        return True

    async def finished(self, seq: int | None = None) -> None:
        """The reply being spoken (if it is turn ``seq``, when given) played to its end, or will
        never play: all of it counts."""
        if self._speaking is not None and seq in (None, self._speaking.seq):
            utterance, self._speaking = self._speaking, None
            await self._record(utterance, 1.0)

    async def played(self, fraction: float) -> None:
        """The playback position of the oldest cut reply arrived: record what was heard of it."""
        if self._cut:
            await self._record(self._cut.popleft(), fraction)

    async def _record(self, utterance: _Utterance, fraction: float) -> None:
        heard = heard_part(utterance.text, fraction)
        try:
            await asyncio.to_thread(self._store.set_spoken, self._session_id, utterance.seq, heard)
        except StoreUnavailable:  # the line itself is stored; only how much of it was heard is not
            log.error("what the customer heard could not be saved", extra={"seq": utterance.seq})
