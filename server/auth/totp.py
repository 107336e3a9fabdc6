"""TOTP second factor (RFC 6238, pyotp): secrets, enrolment URIs, and codes checked once only."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DIGITS = 6
INTERVAL_S = 30
DRIFT_STEPS = 1  # a code from the step before or after is accepted (clock drift)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, name: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S).provisioning_uri(
        name=name, issuer_name=issuer
    )


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (within the drift), unless it is not newer than
    ``last_step`` (a code is good once); None when it matches nothing."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S)
    now_step = totp.timecode(at)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if last_step is None or step > last_step else None
    return None
