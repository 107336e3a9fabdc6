"""PII detection and masking, applied before text is stored, logged or sent to a model.

Placeholders (``PLACEHOLDERS``): card -> ``[card ending 1234]`` (only the last four
digits survive, so operators can tell cards apart), phone -> ``[phone]``, national
id -> ``[id number]``, e-mail -> ``[email]``, account -> ``[account]``.

Decisions:
* Digit sequences are read from numerals and spoken digit words (zero/oh/o/nought/nil,
  one..nine, double/triple, plus) joined by spaces, dashes, ", ", brackets or dots.
* CARD: 13-19 digits, Luhn-valid, not starting with 0. A Luhn-invalid 13-19 digit
  sequence is NOT masked (there is deliberately no generic "long number" kind).
* PHONE: "+"/"plus"/"00" prefix with 7-15 digits; 10-11 digits starting with 0 (UK);
  NANP 10 digits (3-3-4 or unbroken) or 11 starting with 1; any 10-15 digit
  sequence spoken entirely in words.
* NATIONAL_ID: UK NINO, US SSN (3-2-4), or a value after "passport/ID/... number".
* EMAIL: written, or spoken "john dot smith at gmail dot com".
* ACCOUNT: IBAN (mod-97 checked), "12-34-56 12345678", "sort code ...", "account number ...".
* Never masked: amounts (currency sign, thousands commas, decimals), dates, times,
  percentages, ordinals, short counts and letter+digit codes such as "REF-2024-0012".
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import product
from typing import NamedTuple

__all__ = ["PLACEHOLDERS", "MaskedText", "PiiKind", "PiiSpan", "contains_pii", "find_pii", "mask_pii"]


class PiiKind(StrEnum):
    CARD = "card"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    EMAIL = "email"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class PiiSpan:
    kind: PiiKind
    start: int
    end: int


class MaskedText(str):
    """Text ``mask_pii`` has masked: stored, logged and remembered as it is.

    Only ``mask_pii`` makes one. Any new string made from it (a slice, a join) is a plain
    ``str`` again, and is masked again by the next layer that needs it masked.
    """

    __slots__ = ()


PLACEHOLDERS: dict[PiiKind, str] = {
    PiiKind.CARD: "[card ending {last4}]",
    PiiKind.PHONE: "[phone]",
    PiiKind.NATIONAL_ID: "[id number]",
    PiiKind.EMAIL: "[email]",
    PiiKind.ACCOUNT: "[account]",
}

_DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_WORD_DIGITS = {w: str(i) for i, w in enumerate(_DIGIT_NAMES)} | dict.fromkeys(
    ["oh", "o", "nought", "nil"], "0"
)
_MULT = {"double": 2, "triple": 3}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_WORD_RE = re.compile(  # run on lower-cased text; trie order lets sre skip on the first char
    r"(?:z(?:ero)|o(?:h|ne)?|n(?:ought|il|ine)|t(?:wo|hree|riple)|f(?:our|ive)|s(?:ix|even)"
    r"|eight|double|plus)(?![a-z])"
)
_NUM_RE = re.compile(r"[0-9]+")
# Every gap allowed between two digit groups, mapped to its kind (dict lookup is fast).
_GAPS: dict[str, str] = {" " * i: "space" for i in (1, 2, 3)} | {"\t": "space", ".": "dot"}
_GAPS |= {a + d + b: "dash" for a, d, b in product(("", " "), "-–", ("", " "))}
_GAPS |= {a + p + b: "paren" for a, p, b in product(("", " "), "()", ("", " "))}
_GAPS |= {",": "comma", ", ": "comma", ",  ": "comma"}
_GLUE_RE = re.compile(r"[A-Za-z][-/_][0-9]")
_CODE_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[-/_][A-Za-z0-9]+)+")
_PLACEHOLDER_RE = re.compile(r"\[(?:card ending [0-9]{4}|phone|id number|email|account)\]")
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+[ ]?@[ ]?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_DOM, _DOT = r"[a-z0-9]+(?:-[a-z0-9]+)*", r"(?:\s+dot\s+|\.)"
_TLD = r"(?:com|net|org|co|uk|io|ie|de|fr|es|it|nl|eu|info|biz|gov|edu|ac|me|us|ca|au|in|ai|app|dev)"
_SPOKEN_DOMAIN_RE = re.compile(rf"\sat\s+{_DOM}(?:{_DOT}{_DOM})*{_DOT}{_TLD}(?![a-z0-9])")
_SPOKEN_LOCAL_RE = re.compile(
    r"(?<![a-z0-9._+-])[a-z0-9]+(?:(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._+-])[a-z0-9]+)*$"
)
_STOP_RE = re.compile(  # words before "at" that start a sentence, not an address
    r"(?:us|me|you|him|her|them|it|we|i|look|looking|home|online|here|there|is|am|are|was|be|been"
    r"|visit|website|site|out|meet|call|email|mail|write|contact|find|stay|arrive|at)"
)
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_NINO_RE = re.compile(
    r"(?!bg|gb|nk|kn|tn|nt|zz)[a-ceghj-pr-tw-z][a-ceghj-npr-tw-z]"
    r" ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[a-d](?![a-z0-9])"
)
_SORT_ACCOUNT_RE = re.compile(r"[0-9]{2}-[0-9]{2}-[0-9]{2},?[ ]{1,2}[0-9]{8}(?![\w-])")
_CONN, _NUMBER = r"(?:\s*[:#]\s*|\s+is\s+|\s+)", r"(?:\s+(?:number|no\.?|num))?"
_ID_HINTS = ("passport", "id", "insurance", "ni number", "security", "ssn", "licen")
_KW_ID_RE = re.compile(
    r"(?<![a-z])(?:passport|id|identity|identification|national\s+insurance|ni\s+number"
    r"|social\s+security|ssn|tax\s+id|driving\s+licen[cs]e|driver'?s\s+licen[cs]e)"
    rf"(?:\s+(?:card|document))?{_NUMBER}{_CONN}"
    r"(?P<v>(?<![a-z0-9])[a-z]{0,3}[0-9]+(?:[ -][0-9]+)*[a-z]?)(?![a-z0-9])"
)
_ACCOUNT_HINTS = ("account", "acct", "a/c", "sort")
_KW_ACCOUNT_RE = re.compile(
    rf"(?<![a-z])(?:account|acct|a/c){_NUMBER}{_CONN}(?P<v>[0-9]{{6,10}}|[0-9]{{4}}[ -][0-9]{{4}})"
    rf"(?![0-9])|(?<![a-z])sort\s*code{_CONN}(?P<s>[0-9]{{2}}[- ]?[0-9]{{2}}[- ]?[0-9]{{2}})(?![0-9])"
)
_NANP_SHAPES = ([10], [3, 3, 4], [11], [1, 3, 3, 4])
_Item = tuple[int, int, str]  # (start, end, digit word or "" for a numeral)


class _Tok(NamedTuple):
    start: int
    end: int
    digits: str
    spelled: bool
    plus: bool = False


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = ord(ch) - 48
        total += (v * 2 - 9 if v > 4 else v * 2) if i % 2 else v
    return total % 10 == 0


def _iban_ok(s: str) -> bool:
    s = s.replace(" ", "")
    return 15 <= len(s) <= 34 and int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def _card_ok(d: str) -> bool:
    return 13 <= len(d) <= 19 and d[0] != "0" and _luhn(d)


def _regex_spans(text: str, low: str, runs: list[tuple[int, int]]) -> Iterator[tuple[PiiKind, int, int]]:
    """Pattern-based PII, in priority order (earlier wins on overlap)."""
    if "@" in text:
        for m in _EMAIL_RE.finditer(text):
            yield PiiKind.EMAIL, m.start(), m.end()
    if "at" in low:
        for m in _SPOKEN_DOMAIN_RE.finditer(low):
            local = _SPOKEN_LOCAL_RE.search(low, max(0, m.start() - 120), m.start())
            if local and not _STOP_RE.fullmatch(local.group()):
                yield PiiKind.EMAIL, local.start(), m.end()
    for s, _e in runs:
        if s < 2 or not (text[s - 1].isalpha() or text[s - 2].isalpha()):
            continue
        if text[s - 2 : s].isupper() and (s == 2 or not text[s - 3].isalnum()):
            im = _IBAN_RE.match(text, s - 2)
            iban = im.group() if im else ""
            while len(iban) >= 15 and not _iban_ok(iban):
                iban = iban.rsplit(" ", 1)[0] if " " in iban else ""
            if len(iban) >= 15:
                yield PiiKind.ACCOUNT, s - 2, s - 2 + len(iban)
        for st in (s - 2, s - 3):
            ok = st >= 0 and low[st : st + 2].isalpha() and (st == 0 or not low[st - 1].isalnum())
            if ok and (nm := _NINO_RE.match(low, st)):
                yield PiiKind.NATIONAL_ID, st, nm.end()
    for s, e in runs:
        glued = s > 0 and (text[s - 1].isalnum() or text[s - 1] in "-_")
        if e - s == 2 and text[e : e + 1] == "-" and not glued and (sm := _SORT_ACCOUNT_RE.match(text, s)):
            yield PiiKind.ACCOUNT, s, sm.end()
    if any(h in low for h in _ID_HINTS):
        for m in _KW_ID_RE.finditer(low):
            if sum(c.isdigit() for c in m.group("v")) >= 5:
                yield PiiKind.NATIONAL_ID, m.start("v"), m.end("v")
    if any(h in low for h in _ACCOUNT_HINTS):
        for m in _KW_ACCOUNT_RE.finditer(low):
            yield PiiKind.ACCOUNT, m.start(m.lastgroup or "v"), m.end(m.lastgroup or "v")


def _groups(
    text: str, low: str, runs: list[tuple[int, int]], free: Callable[[int, int], bool]
) -> Iterator[list[_Item]]:
    """Cheap first pass: gap-joined numerals/digit words that could hold >= 7 digits."""
    items: list[_Item] = []
    n = len(text)
    for s, e in runs:
        p, q = text[s - 1] if s else " ", text[e] if e < n else " "
        if not (p.isalnum() or p in "_£$€" or q.isalnum() or q in "_%") and free(s, e):
            items.append((s, e, ""))
    for m in _WORD_RE.finditer(low):
        if not (m.start() and low[m.start() - 1].isalpha()) and free(m.start(), m.end()):
            items.append((m.start(), m.end(), m.group()))
    items.sort()
    group: list[_Item] = []
    weight = 0
    for it in items:
        if group and text[group[-1][1] : it[0]] not in _GAPS:
            if weight >= 7:
                yield group
            group, weight = [], 0
        group.append(it)
        weight += it[1] - it[0] if not it[2] else 2 if it[2] in _MULT else 1
    if weight >= 7:
        yield group


def _tokens(text: str, group: list[_Item]) -> list[_Tok]:
    """Fold "double"/"triple"/"plus" and "+" prefixes into digit tokens."""
    out: list[_Tok] = []
    plus_at: int | None = None
    mult: tuple[int, int] | None = None  # (start, factor)
    last_end = -1
    for s, e, word in group:
        if (plus_at is not None or mult is not None) and _GAPS.get(text[last_end:s]) != "space":
            plus_at, mult = None, None
        last_end = e
        if word == "plus" or word in _MULT:
            plus_at, mult = (s, None) if word == "plus" else (plus_at, (s, _MULT[word]))
            continue
        if word:
            tok = _Tok(s, e, _WORD_DIGITS[word], True)
        else:
            c = text[s - 1 : s]
            start = s - 1 if c == "+" else s - 2 if c == " " and text[s - 2 : s - 1] == "+" else s
            tok = _Tok(start, e, text[s:e], False, start < s)
        if mult is not None and len(tok.digits) == 1:
            tok = _Tok(mult[0], e, tok.digits * mult[1], True)
        if plus_at is not None:
            tok = _Tok(plus_at, tok.end, tok.digits, tok.spelled, True)
        plus_at, mult = None, None
        out.append(tok)
    return out


def _chains(text: str, toks: list[_Tok]) -> Iterator[tuple[list[_Tok], list[str]]]:
    """Split tokens into chains of (tokens, separator kinds between them)."""
    cur: list[_Tok] = []
    seps: list[str] = []
    for tok in toks:
        kind = _GAPS.get(text[cur[-1].end : tok.start]) if cur and not tok.plus else None
        spelled = bool(cur) and (cur[-1].spelled or tok.spelled)
        if kind is None or (kind == "dot" and spelled) or (kind == "comma" and not spelled):
            if cur:
                yield cur, seps
            cur, seps = [tok], []
        else:
            cur.append(tok)
            seps.append(kind)
    if cur:
        yield cur, seps


def _classify(toks: list[_Tok], seps: list[str]) -> PiiKind | None:
    if len(toks) > 19:  # every token holds at least one digit; nothing here is that long
        return None
    d = "".join(t.digits for t in toks)
    n = len(d)
    if n < 7:
        return None
    spelled = any(t.spelled for t in toks)
    shape = None if spelled else [len(t.digits) for t in toks]
    kinds = set(seps)
    if toks[0].plus or (d.startswith("00") and n >= 10):
        return PiiKind.PHONE if 7 <= n <= 15 else None
    if not kinds & {"paren", "dot"} and _card_ok(d):
        return PiiKind.CARD
    if "dot" in kinds and shape not in _NANP_SHAPES:
        return None
    if d[0] == "0" and 10 <= n <= 11 and (spelled or len(toks) <= 4):
        return PiiKind.PHONE
    if (
        (n == 10 or (n == 11 and d[0] == "1"))
        and (spelled or shape in _NANP_SHAPES)
        and (d[-7] in "23456789" and d[-10] in "23456789")
    ):
        return PiiKind.PHONE
    if all(t.spelled for t in toks) and 10 <= n <= 15:
        return PiiKind.PHONE
    ssn_ok = d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"
    if shape == [3, 2, 4] and len(kinds) == 1 and kinds <= {"dash", "space"} and ssn_ok:
        return PiiKind.NATIONAL_ID
    return None


def _emit(text: str, toks: list[_Tok], seps: list[str], out: list[tuple[PiiSpan, str]]) -> bool:
    """Append the whole chain as one span if it classifies as PII."""
    kind = _classify(toks, seps) if toks else None
    if kind is not None:
        start = toks[0].start
        start -= 1 if start and text[start - 1] == "(" and "paren" in seps else 0
        out.append((PiiSpan(kind, start, toks[-1].end), "".join(t.digits for t in toks)))
    return kind is not None


def _scan(text: str, toks: list[_Tok], seps: list[str], out: list[tuple[PiiSpan, str]]) -> None:
    """Classify a whole chain; failing that, cut out cards (leftmost, then longest run of whole
    digit groups) and classify what lies between them."""
    if _emit(text, toks, seps, out):
        return
    cuts = [
        i
        for i in range(1, len(toks))
        if not (toks[i - 1].spelled and toks[i].spelled and seps[i - 1] == "space")
    ]
    bounds = [0, *cuts, len(toks)]
    done = x = 0  # tokens before `done` are already reported; bounds[x] is the next card start
    while x < len(bounds) - 1:
        a, best = bounds[x], 0
        for y in range(x + 1, len(bounds)):
            d = "".join(t.digits for t in toks[a : bounds[y]])
            if len(d) > 19:
                break
            iin = d[0] in "13456" or (d[0] == "2" and 2221 <= int(d[:4]) <= 2720)
            if iin and _card_ok(d) and not {"paren", "dot"} & set(seps[a : bounds[y] - 1]):
                best = y
        if not best:
            x += 1
            continue
        b = bounds[best]
        _emit(text, toks[done:a], seps[done : max(a - 1, done)], out)
        out.append(
            (PiiSpan(PiiKind.CARD, toks[a].start, toks[b - 1].end), "".join(t.digits for t in toks[a:b]))
        )
        done, x = b, best
    if done:
        _emit(text, toks[done:], seps[done:], out)


def _find(text: str) -> list[tuple[PiiSpan, str]]:
    """Spans ordered by start, each with its digits (only needed for card placeholders)."""
    low = text.lower()
    if len(low) != len(text):  # rare non-ASCII case mappings that change length
        low = text.translate(_ASCII_LOWER)
    runs = [m.span() for m in _NUM_RE.finditer(text)]
    taken = [m.span() for m in _PLACEHOLDER_RE.finditer(text)] if "[" in text else []

    def free(s: int, e: int) -> bool:
        return all(e <= ts or s >= te for ts, te in taken)

    found: list[tuple[PiiSpan, str]] = []
    for kind, s, e in _regex_spans(text, low, runs):
        if free(s, e):
            taken.append((s, e))
            found.append((PiiSpan(kind, s, e), ""))
    if _GLUE_RE.search(text):  # reference codes such as "REF-2024-0012" are never PII
        taken += [m.span() for m in _CODE_RE.finditer(text) if 0 < sum(map(str.isdigit, m.group())) < 13]
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
