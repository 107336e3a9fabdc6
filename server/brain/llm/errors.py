"""Typed errors of the generative path; every one degrades to the approved answer."""

from __future__ import annotations


class LlmError(Exception):
    """Base of every LLM failure. ``retryable``: a later request may succeed."""

    retryable: bool = False
    kind: str = "error"


class LlmUnavailable(LlmError):
    """The server could not be reached or answered with an HTTP error."""

    retryable = True
    kind = "unavailable"


class LlmTimeout(LlmError):
    """No first token within the budget, or the whole answer took too long."""

    retryable = True
    kind = "timeout"


class LlmMalformed(LlmError):
    """The server answered, but not with a valid OpenAI-compatible stream."""

    retryable = False
    kind = "malformed"
