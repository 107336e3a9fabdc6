"""PII detection and masking, applied before text is stored, logged or sent to a model.

Placeholders (``PLACEHOLDERS``): card -> ``[card ending 1234]`` (only the last four
digits survive, so operators can tell cards apart), phone -> ``[phone]``, national
id -> ``[id number]``, e-mail -> ``[email]``, account -> ``[account]``, security code
-> ``[security code]``, expiry -> ``[expiry date]``, PIN -> ``[pin]``, date of birth ->
``[date of birth]``.

Decisions:
* Digit sequences are read from numerals and spoken numbers (``server.brain.pii_words``:
  zero/oh/o/nought/nil, one..nine, ten..nineteen, twenty..ninety with a following unit
  ("forty one eleven" = 4111), double/triple, plus) joined by spaces, newlines, dashes,
  slashes, commas, dots or brackets. Full-width and other Unicode digits count as digits;
  a number run into letters ("card4111…") still counts.
* CARD: any sequence of 12-19 digits, Luhn-valid or not (one misheard digit must not
  leave a card in clear), unless it is a phone number written with "+"/"00". Dates
  (``dd/mm/yyyy``) and amounts (thousands commas with a currency sign, a currency word or
  decimals) are cut out of a sequence first; a list of long numbers is cut at ", " when
  every part has 7+ digits ("07700 900123, 4111 …"). What is left with more than 19 digits
  is masked whole, as one card.
* PHONE: "+"/"plus"/"00" prefix with 7-15 digits; 10-11 digits starting with 0 (UK);
  NANP 10 digits (3-3-4 or unbroken) or 11 starting with 1; any 10-11 digit
  sequence spoken entirely in words.
* NATIONAL_ID: UK NINO, US SSN (3-2-4), or a value after "passport/ID/... number".
* EMAIL: written, or spoken "john dot smith at gmail dot com".
* ACCOUNT: IBAN (mod-97 checked), "12-34-56 12345678", "sort code ...", "account number ...".
* SECURITY_CODE, EXPIRY, PIN, DATE_OF_BIRTH: only next to their keyword
  (``server.brain.pii_keywords``).
* Never masked: amounts (currency sign, thousands commas, decimals), dates, times,
  percentages, ordinals, short counts and letter+digit codes of up to 12 digits such as
  "REF-2024-0012", hex identifiers (24+ hex characters, UUIDs).
* Existing placeholders are skipped, so ``mask_pii`` is idempotent.

Masked once: ``mask_pii`` returns a ``MaskedText`` (a ``str`` that went through it) and
returns a ``MaskedText`` as it is, so text is masked where it enters (a customer's
transcript or typed line, an operator's line, a ``/api/v1/ask`` or ``teller ask`` question)
and the layers after it (the Brain, its memory, the store) trust it instead of masking it
again. Text that reaches them unmarked (a bot reply, a derived string) is still masked there.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from itertools import pairwise, product
from typing import Any, NamedTuple

from server.brain.pii_kinds import PLACEHOLDER_RE, PLACEHOLDERS, PiiKind, PiiSpan
from server.brain.pii_patterns import regex_spans
from server.brain.pii_words import MULT, TENS, WORD_DIGITS, WORD_RE

__all__ = [
    "PLACEHOLDERS", "MaskedText", "PiiKind", "PiiSpan", "contains_pii", "find_pii", "mask_pii", "mask_values"
]  # fmt: skip


class MaskedText(str):
    """Text ``mask_pii`` has masked: stored, logged and remembered as it is.

    Only ``mask_pii`` makes one. Any new string made from it (a slice, a join) is a plain
    ``str`` again, and is masked again by the next layer that needs it masked.
    """

    __slots__ = ()


def _normal_table() -> dict[int, int]:
    """Unicode digits -> ASCII digits; full-width and typographic separators -> ASCII (1:1)."""
    table = {cp: 48 + d for cp in range(0x80, 0x10000) if (d := unicodedata.decimal(chr(cp), -1)) >= 0}
    table |= dict.fromkeys([0x00A0, 0x2007, 0x2009, 0x202F, 0x3000], 32)
    table |= dict.fromkeys([0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212, 0xFF0D, 0xFE63], ord("-"))
    table |= {0xFF0C: ord(","), 0x3001: ord(","), 0xFF0E: ord("."), 0x3002: ord("."), 0xFF0F: ord("/")}
    return table | {0xFF0B: ord("+"), 0xFF08: ord("("), 0xFF09: ord(")")}


_NORMAL = _normal_table()
_UNUSUAL_RE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_NORMAL)) + "]")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NUM_RE = re.compile(r"[0-9]+")
# Every gap allowed between two digit groups, mapped to its kind (dict lookup is fast).
_SPACES = (" ", "  ", "   ", "\t", "\n", "\r\n", " \n", "\n ", "\n\n", " \r\n")
_GAPS: dict[str, str] = dict.fromkeys(_SPACES, "space") | {".": "dot", ". ": "dot", ".\n": "dot"}
_GAPS |= {a + d + b: "dash" for a, d, b in product(("", " "), "-–", ("", " "))}
_GAPS |= {a + p + b: "paren" for a, p, b in product(("", " "), "()", ("", " "))}
_GAPS |= {a + "/" + b: "slash" for a, b in product(("", " "), ("", " "))}
_GAPS |= {",": "tcomma", ", ": "comma", ",  ": "comma", ",\n": "comma", " , ": "comma"}
_DATE_SEPS = frozenset({"slash", "dot", "dash"})
_GLUE_RE = re.compile(r"[A-Za-z][-/_][0-9]")
_CODE_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[-/_][A-Za-z0-9]+)+")
_HEX_RE = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{24,}(?![0-9A-Za-z])")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_NANP_SHAPES = ([10], [3, 3, 4], [11], [1, 3, 3, 4])
_Item = tuple[int, int, str, str]  # (start, end, number word or "" for a numeral, "glued"/"money"/"")
_CURRENCY_RE = re.compile(r"\s?(?:pounds?|quid|euros?|dollars?|gbp|eur|usd|k\b|m\b|bn\b|million|billion)")


class _Tok(NamedTuple):
    start: int
    end: int
    digits: str
    spelled: bool
    plus: bool = False
    glued: bool = False
    tens: bool = False
    money: bool = False  # after a currency sign


def _groups(
    text: str, low: str, runs: list[tuple[int, int]], free: Callable[[int, int], bool]
) -> Iterator[list[_Item]]:
    """Cheap first pass: gap-joined numerals/number words that could hold >= 7 digits."""
    items: list[_Item] = []
    n = len(text)
    hexes: list[tuple[int, int]] | None = None
    for s, e in runs:
        p, q = text[s - 1] if s else " ", text[e] if e < n else " "
        if q == "%" or not free(s, e):
            continue
        glued = p.isalpha() or q.isalpha() or p == "_" or q == "_"
        if glued:
            if hexes is None:
                hexes = [m.span() for m in _HEX_RE.finditer(text)]
            if any(a <= s and e <= b for a, b in hexes):
                continue
        items.append((s, e, "", "glued" if glued else "money" if p in "£$€" else ""))
    for m in WORD_RE.finditer(low):
        if not (m.start() and low[m.start() - 1].isalpha()) and free(m.start(), m.end()):
            items.append((m.start(), m.end(), m.group(), ""))
    items.sort()
    group: list[_Item] = []
    weight = 0
    for it in items:
        if group and text[group[-1][1] : it[0]] not in _GAPS:
            if weight >= 7:
                yield group
            group, weight = [], 0
        group.append(it)
        weight += (
            it[1] - it[0] if not it[2] else 2 if it[2] in MULT or len(WORD_DIGITS.get(it[2], "")) == 2 else 1
        )
    if weight >= 7:
        yield group


def _tokens(text: str, group: list[_Item]) -> list[_Tok]:
    """Fold "double"/"triple"/"plus", "+" prefixes and "forty one" into digit tokens."""
    out: list[_Tok] = []
    plus_at: int | None = None
    mult: tuple[int, int] | None = None  # (start, factor)
    last_end = -1
    for s, e, word, flag in group:
        gap = _GAPS.get(text[last_end:s])
        if (plus_at is not None or mult is not None) and gap != "space":
            plus_at, mult = None, None
        last_end = e
        if word == "plus" or word in MULT:
            plus_at, mult = (s, None) if word == "plus" else (plus_at, (s, MULT[word]))
            continue
        if word:
            digits = WORD_DIGITS[word]
            prev = out[-1] if out else None
            if prev and prev.tens and len(digits) == 1 and digits != "0" and gap in ("space", "dash"):
                out[-1] = prev._replace(end=e, digits=prev.digits[0] + digits, tens=False)
                plus_at, mult = None, None
                continue
            tok = _Tok(s, e, digits, True, tens=word in TENS)
        else:
            c = text[s - 1 : s]
            start = s - 1 if c == "+" else s - 2 if c == " " and text[s - 2 : s - 1] == "+" else s
            tok = _Tok(start, e, text[s:e], False, start < s, flag == "glued", money=flag == "money")
        if mult is not None and len(tok.digits) == 1:
            tok = _Tok(mult[0], e, tok.digits * mult[1], True)
        if plus_at is not None:
            tok = tok._replace(start=plus_at, plus=True)
        plus_at, mult = None, None
        out.append(tok)
    return out


def _chains(text: str, toks: list[_Tok]) -> Iterator[tuple[list[_Tok], list[str]]]:
    """Split tokens into chains of (tokens, separator kinds between them)."""
    cur: list[_Tok] = []
    seps: list[str] = []
    for tok in toks:
        kind = _GAPS.get(text[cur[-1].end : tok.start]) if cur and not tok.plus else None
        if kind is None:
            if cur:
                yield cur, seps
            cur, seps = [tok], []
        else:
            cur.append(tok)
            seps.append(kind)
    if cur:
        yield cur, seps


def _is_date(toks: list[_Tok], seps: list[str], i: int) -> bool:
    """toks[i:i+3] is d/m/y, m/d/y or y-m-d with one separator."""
    a, b, c = (t.digits for t in toks[i : i + 3])
    if seps[i] != seps[i + 1] or seps[i] not in _DATE_SEPS or any(t.spelled for t in toks[i : i + 3]):
        return False
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        a, c = c, a
    if len(a) > 2 or len(b) > 2 or len(c) not in (2, 4):
        return False
    x, y = int(a), int(b)
    return 1 <= x <= 31 and 1 <= y <= 31 and min(x, y) <= 12


def _amount_end(text: str, toks: list[_Tok], seps: list[str], i: int) -> int:
    """End of the amount (1,234,567 or 1,234.56) starting at toks[i], or i when there is none.
    Twelve digits or more in thousands commas are an amount only with a currency or decimals."""
    j = i + 1
    if len(toks[i].digits) > 3 or toks[i].spelled or (i and seps[i - 1] == "tcomma"):
        return i
    while j < len(toks) and seps[j - 1] == "tcomma" and len(toks[j].digits) == 3 and not toks[j].spelled:
        j += 1
    if j == i + 1 or (j < len(toks) and seps[j - 1] == "tcomma"):
        return i
    cents = j < len(toks) and seps[j - 1] == "dot" and len(toks[j].digits) == 2
    j += cents
    if toks[i].money or cents or sum(len(t.digits) for t in toks[i:j]) < 12:
        return j
    return j if _CURRENCY_RE.match(text, toks[j - 1].end) else i


def _without_dates(text: str, toks: list[_Tok], seps: list[str]) -> list[tuple[list[_Tok], list[str]]]:
    """The chain cut around the dates and amounts in it (they are not part of a card next to them)."""
    parts: list[tuple[list[_Tok], list[str]]] = []
    start = i = 0
    while i < len(toks):
        end = _amount_end(text, toks, seps, i)
        if end == i and i + 2 < len(toks):
            edges = (i == 0 or seps[i - 1] != seps[i]) and (i + 3 == len(toks) or seps[i + 2] != seps[i])
            end = i + 3 if edges and _is_date(toks, seps, i) else i
        if end > i:
            if i > start:
                parts.append((toks[start:i], seps[start : i - 1]))
            start = i = end
        else:
            i += 1
    if start and start < len(toks):
        parts.append((toks[start:], seps[start:]))
    return parts if start else [(toks, seps)]


def _classify(toks: list[_Tok], seps: list[str]) -> PiiKind | None:
    d = "".join(t.digits for t in toks)
    n = len(d)
    if n >= 12:
        if (toks[0].plus or d.startswith("00")) and n <= 15:
            return PiiKind.PHONE
        return PiiKind.CARD
    if n < 7 or toks[0].glued or toks[-1].glued:
        return None
    spelled = any(t.spelled for t in toks)
    shape = None if spelled else [len(t.digits) for t in toks]
    kinds = set(seps)
    if toks[0].plus or (d.startswith("00") and n >= 10):
        return PiiKind.PHONE
    if kinds & {"dot", "slash"} and shape not in _NANP_SHAPES:
        return None
    if d[0] == "0" and 10 <= n <= 11 and (spelled or len(toks) <= 4):
        return PiiKind.PHONE
    if (
        (n == 10 or (n == 11 and d[0] == "1"))
        and (spelled or shape in _NANP_SHAPES)
        and (d[-7] in "23456789" and d[-10] in "23456789")
    ):
        return PiiKind.PHONE
    if all(t.spelled for t in toks) and n >= 10:
        return PiiKind.PHONE
    ssn_ok = d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"
    if shape == [3, 2, 4] and len(kinds) == 1 and kinds <= {"dash", "space"} and ssn_ok:
        return PiiKind.NATIONAL_ID
    return None


def _emit(text: str, toks: list[_Tok], seps: list[str], out: list[tuple[PiiSpan, str]]) -> None:
    """Append the whole chain as one span if it classifies as PII."""
    kind = _classify(toks, seps) if toks else None
    if kind is not None:
        start = toks[0].start
        start -= 1 if start and text[start - 1] == "(" and "paren" in seps else 0
        out.append((PiiSpan(kind, start, toks[-1].end), "".join(t.digits for t in toks)))


def _scan(text: str, toks: list[_Tok], seps: list[str], out: list[tuple[PiiSpan, str]]) -> None:
    """Classify a chain; one of 12+ digits is first cut around its dates and, when it is a list
    of long numbers ("07700 900123, 4111 1111 1111 1111"), at its commas."""
    n = sum(len(t.digits) for t in toks)
    if n >= 12:
        parts = _without_dates(text, toks, seps)
        if len(parts) != 1 or len(parts[0][0]) < len(toks):
            for part in parts:
                _scan(text, *part, out)
            return
        commas = [i + 1 for i, k in enumerate(seps) if k == "comma"]
        bounds = [0, *commas, len(toks)]
        pieces = [(toks[a:b], seps[a : b - 1]) for a, b in pairwise(bounds)]
        if commas and all(sum(len(t.digits) for t in p) >= 7 for p, _ in pieces):
            for piece in pieces:
                _scan(text, *piece, out)
            return
    elif toks[0].glued or toks[0].money or toks[-1].glued:  # "AB12 3456 7890", "£12 …": not part of it
        a, b = int(toks[0].glued or toks[0].money), len(toks) - int(toks[-1].glued)
        toks, seps = toks[a:b], seps[a : b - 1]
    _emit(text, toks, seps, out)


def _normal(text: str) -> str:
    return text if text.isascii() or not _UNUSUAL_RE.search(text) else text.translate(_NORMAL)


def _find(text: str) -> list[tuple[PiiSpan, str]]:
    """Spans ordered by start, each with its digits (only needed for card placeholders)."""
    text = _normal(text)  # same length: offsets hold for the original
    low = text.lower()
    if len(low) != len(text):  # rare non-ASCII case mappings that change length
        low = text.translate(_ASCII_LOWER)
    runs = [m.span() for m in _NUM_RE.finditer(text)]
    taken = [m.span() for m in PLACEHOLDER_RE.finditer(text)] if "[" in text else []

    def free(s: int, e: int) -> bool:
        return all(e <= ts or s >= te for ts, te in taken)

    found: list[tuple[PiiSpan, str]] = []
    for kind, s, e in regex_spans(text, low, runs):
        if free(s, e):
            taken.append((s, e))
            found.append((PiiSpan(kind, s, e), ""))
    if _GLUE_RE.search(text):  # reference codes such as "REF-2024-0012" are never PII
        taken += [m.span() for m in _CODE_RE.finditer(text) if 0 < sum(map(str.isdigit, m.group())) < 13]
    if text.count("-") >= 4:
        taken += [m.span() for m in _UUID_RE.finditer(text)]
    for group in _groups(text, low, runs, free):
        for toks, seps in _chains(text, _tokens(text, group)):
            _scan(text, toks, seps, found)
    found.sort(key=lambda f: f[0].start)
    return found


def find_pii(text: str) -> list[PiiSpan]:
    """Return non-overlapping PII spans in ``text``, ordered by start offset."""
    return [sp for sp, _ in _find(text)]


def mask_pii(text: str) -> MaskedText:
    """Replace every PII span with its placeholder (see module docstring); idempotent.

    ``MaskedText`` was masked already and is returned as it is.
    """
    if isinstance(text, MaskedText):
        return text
    parts: list[str] = []
    pos = 0
    for sp, digits in _find(text):
        parts += [text[pos : sp.start], PLACEHOLDERS[sp.kind].format(last4=digits[-4:])]
        pos = sp.end
    return MaskedText("".join(parts) + text[pos:] if parts else text)


def contains_pii(text: str) -> bool:
    return bool(find_pii(text))


def mask_values(value: Any) -> Any:
    """``value`` with every string in it masked, through dicts, lists and tuples (not dict keys):
    for audit details and structured log fields."""
    if isinstance(value, str):
        return str(mask_pii(value))
    if isinstance(value, dict):
        return {k: mask_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_values(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_values(v) for v in value)
    return value
