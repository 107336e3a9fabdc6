"""The kinds of PII ``server.brain.pii`` masks, their placeholders and spans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["PLACEHOLDERS", "PLACEHOLDER_RE", "PiiKind", "PiiSpan"]


class PiiKind(StrEnum):
    CARD = "card"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    EMAIL = "email"
    ACCOUNT = "account"
    SECURITY_CODE = "security_code"
    EXPIRY = "expiry"
    PIN = "pin"
    DATE_OF_BIRTH = "date_of_birth"


@dataclass(frozen=True, slots=True)
class PiiSpan:
    kind: PiiKind
    start: int
    end: int


PLACEHOLDERS: dict[PiiKind, str] = {
    PiiKind.CARD: "[card ending {last4}]",
    PiiKind.PHONE: "[phone]",
    PiiKind.NATIONAL_ID: "[id number]",
    PiiKind.EMAIL: "[email]",
    PiiKind.ACCOUNT: "[account]",
    PiiKind.SECURITY_CODE: "[security code]",
    PiiKind.EXPIRY: "[expiry date]",
    PiiKind.PIN: "[pin]",
    PiiKind.DATE_OF_BIRTH: "[date of birth]",
}

#: Any placeholder (masked text is never masked again).
PLACEHOLDER_RE = re.compile(
    r"\[(?:card ending [0-9]{4}|phone|id number|email|account|security code|expiry date|pin"
    r"|date of birth)\]"
)
