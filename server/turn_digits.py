"""Numbers spoken across consecutive customer turns: "my card is 4111 1111" … "1111 1111".

A customer who pauses mid-number ends a turn (0.3 s of silence, see the README's
turn-taking); each half alone is too short to be a card, together they are one. Each
session keeps its last customer turns in memory while they end in a number
(``PendingDigits``; the raw text never leaves memory, only masked text is stored or
logged). A turn that starts with a number is masked together with them: its own stored
text, and the earlier turns' stored rows, which are rewritten (``Amend``) in the same
transaction that stores the new turn (``Store.record_turns(amend=...)``).

Why rewrite instead of holding the earlier turn back: every turn is committed before the
Brain answers it ("written before acknowledged"), and holding a turn until the next one
(or a timeout) would delay every answer that ends in a number. The earlier half is stored
for at most one turn with under 12 digits of the number in it, never the whole number.

A turn that repeats the previous one and goes on (the conversation merges a turn that
continued while the reply was still being worked out) is masked as a whole, and the
previous row is rewritten the same way.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from server.brain import pii
from server.brain.pii import PLACEHOLDERS, MaskedText, mask_pii
from server.brain.pii_words import WORD_RE

__all__ = ["HOLD_S", "Amend", "CustomerLine", "PendingDigits", "SessionDigits"]

HOLD_S = 60.0  # a number continued later than this is not joined
MAX_TURNS = 4  # a number spread over more turns than this is not joined
_PUNCT = " \t\r\n.,;:!?…-–"
_WORD = WORD_RE.pattern.removesuffix("(?![a-z])")
_P = re.escape(_PUNCT)
_TAIL_RE = re.compile(rf"(?:\d|(?<![a-z])(?:{_WORD}))[{_P}]*$")
_HEAD_RE = re.compile(rf"[{_P}]*(?:\d|(?:{_WORD})(?![a-z]))")


@dataclass(frozen=True)
class Amend:
    """An earlier customer turn's stored text, masked again with the turn that continues it."""

    seq: int
    was: str  # the row is rewritten only while it still holds this text
    text: MaskedText


@dataclass(frozen=True)
class CustomerLine:
    """A customer's line masked with the turns before it; ``amends`` rewrite those turns' rows."""

    text: MaskedText
    amends: tuple[Amend, ...]
    raw: str
    joined: tuple[_Turn, ...]  # the earlier turns of the number (memory only)
    repeats_last: bool  # ``raw`` began with the last of them


@dataclass(frozen=True)
class _Turn:
    seq: int
    raw: str
    stored: str
    at: float


def _core(raw: str) -> tuple[str, str, str]:
    """``raw`` as (leading punctuation, the rest, trailing punctuation)."""
    core = raw.strip(_PUNCT)
    if not core:
        return raw, "", ""
    lead = raw.index(core)
    return raw[:lead], core, raw[lead + len(core) :]


def _masked_range(combined: str, spans: list[tuple[pii.PiiSpan, str]], a: int, b: int) -> str:
    """``combined[a:b]`` with every span that touches it replaced by its placeholder."""
    out: list[str] = []
    pos = a
    for sp, digits in spans:
        if sp.end <= a or sp.start >= b:
            continue
        out += [combined[pos : max(sp.start, a)], PLACEHOLDERS[sp.kind].format(last4=digits[-4:])]
        pos = min(sp.end, b)
    return "".join(out) + combined[pos:b]


class PendingDigits:
    """One session's customer turns that end in a number, kept in memory for the next turn."""

    def __init__(self, *, hold_s: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold_s = hold_s
        self._clock = clock
        self._turns: tuple[_Turn, ...] = ()

    def mask(self, raw: str, *, repeats_last: bool = False) -> CustomerLine:
        """Mask a new customer line with the pending turns it continues (nothing changes until
        ``stored``). ``repeats_last``: ``raw`` is the previous line and what followed it."""
        now = self._clock()
        turns = self._turns if self._turns and now - self._turns[-1].at <= self._hold_s else ()
        merged = repeats_last and bool(turns) and raw.startswith(turns[-1].raw)
        if not turns or not (
            merged or (_TAIL_RE.search(turns[-1].raw.lower()) and _HEAD_RE.match(raw.lower()))
        ):
            return CustomerLine(mask_pii(raw), (), raw, (), False)
        parts = [*(t.raw for t in (turns[:-1] if merged else turns)), raw]
        cores = [_core(p) for p in parts]
        combined, ranges, pos = "", [], 0
        for _lead, core, _trail in cores:
            ranges.append((pos, pos + len(core)))
            combined += core + " "
            pos += len(core) + 1
        spans = pii._find(combined)
        crossing = any(sp.start < a < sp.end for sp, _ in spans for a, _b in ranges[1:])
        if merged:  # the last pending turn is the start of this one
            crossing = crossing or any(
                sp.start < ranges[-1][0] + len(_core(turns[-1].raw)[1]) < sp.end for sp, _ in spans
            )
        if not crossing:
            return CustomerLine(mask_pii(raw), (), raw, turns, merged)
        lead, _, trail = cores[-1]
        text = MaskedText(lead + _masked_range(combined, spans, *ranges[-1]) + trail)
        amends = []
        for n, turn in enumerate(turns):
            a = ranges[n][0]
            lead, core, trail = _core(turn.raw)
            again = lead + _masked_range(combined, spans, a, a + len(core)) + trail
            if again != turn.stored:
                amends.append(Amend(turn.seq, turn.stored, MaskedText(again)))
        return CustomerLine(text, tuple(amends), raw, turns, merged)

    def stored(self, line: CustomerLine, seq: int) -> None:
        """``line`` is committed as turn ``seq`` (with its amends): it may continue in the next turn."""
        amended = {a.seq: a.text for a in line.amends}
        earlier = line.joined[:-1] if line.repeats_last else line.joined
        kept = [_Turn(t.seq, t.raw, amended.get(t.seq, t.stored), t.at) for t in earlier]
        if _TAIL_RE.search(line.raw.lower()):
            kept.append(_Turn(seq, line.raw, line.text, self._clock()))
            self._turns = tuple(kept[-MAX_TURNS:])
        else:
            self._turns = ()

    def forget(self) -> None:
        self._turns = ()


class SessionDigits:
    """``PendingDigits`` of many sessions (text turns: ``/api/v1/ask``, ``teller ask``), bounded."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._max = max_sessions
        self._sessions: OrderedDict[str, PendingDigits] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> PendingDigits:
        with self._lock:
            pending = self._sessions.pop(session_id, None) or PendingDigits()
            self._sessions[session_id] = pending
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
            return pending
