"""Generative answers through an OpenAI-compatible LLM server, held to the knowledge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.brain.llm.client import ChatClient, LlmConfig
from server.brain.llm.errors import LlmError, LlmMalformed, LlmTimeout, LlmUnavailable
from server.brain.llm.guard import GroundingGuard, GuardCheck, GuardFailure
from server.brain.llm.writer import AnswerOutcome, GenerativeStats, GenerativeWriter, GuardedSentence, Source

if TYPE_CHECKING:
    from server.config import Settings


def llm_config(settings: Settings) -> LlmConfig:
    """The client configuration from the ``llm`` settings section (api key from env only)."""
    s = settings.llm
    return LlmConfig(
        base_url=s.base_url,
        model=s.model,
        api_key=s.api_key.get_secret_value() if s.api_key else None,
        connect_timeout_s=s.connect_timeout_s,
        timeout_s=s.timeout_s,
        first_token_budget_ms=s.first_token_budget_ms,
        max_tokens=s.max_tokens,
        temperature=s.temperature,
    )


__all__ = [
    "AnswerOutcome",
    "ChatClient",
    "GenerativeStats",
    "GenerativeWriter",
    "GroundingGuard",
    "GuardCheck",
    "GuardFailure",
    "GuardedSentence",
    "LlmConfig",
    "LlmError",
    "LlmMalformed",
    "LlmTimeout",
    "LlmUnavailable",
    "Source",
    "llm_config",
]
