"""Pattern-based PII for ``server.brain.pii``: e-mail, IBAN, NINO, sort code + account,
keyword-anchored ID and account numbers, and (``server.brain.pii_keywords``) security
code, expiry date, PIN and date of birth."""

from __future__ import annotations

import re
from collections.abc import Iterator

from server.brain.pii_keywords import keyword_spans
from server.brain.pii_kinds import PiiKind

__all__ = ["regex_spans"]

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


def _iban_ok(s: str) -> bool:
    s = s.replace(" ", "")
    return 15 <= len(s) <= 34 and int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def regex_spans(text: str, low: str, runs: list[tuple[int, int]]) -> Iterator[tuple[PiiKind, int, int]]:
    """Pattern-based PII, in priority order (earlier wins on overlap); ``runs`` are the digit runs."""
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
    yield from keyword_spans(low)
