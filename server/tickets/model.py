"""The hand-off / close ticket: what a human colleague needs to pick a session up."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Resolution(StrEnum):
    ANSWERED = "answered"
    HANDED_OFF = "handed_off"
    CLARIFYING = "clarifying"
    UNRESOLVED = "unresolved"


class TicketSource(StrEnum):
    EXTRACTOR = "extractor"
    LLM = "llm"
    LLM_REPAIRED = "llm_repaired"  # the LLM wrote it; fields that failed validation were replaced


class TranscriptRow(Protocol):
    """What a ticket reads of a transcript row (``server.store.tables.TurnRow`` fits)."""

    @property
    def speaker(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def decision(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def citations(self) -> list[dict[str, object]]: ...


class Ticket(BaseModel):
    """A structured summary of one session. Every number in it appears in the transcript."""

    model_config = ConfigDict(extra="forbid")

    session_id: str | None = None
    product: str | None = None  # product id of the cited knowledge
    scenario: str | None = None  # scenario id
    problem: str | None = None  # problem id
    knowledge_version: int | None = None
    customer_goal: str = ""
    summary: str = ""
    actions_taken: list[str] = Field(default_factory=list)
    amounts: list[str] = Field(default_factory=list)  # as the customer said them
    dates: list[str] = Field(default_factory=list)
    resolution: Resolution = Resolution.UNRESOLVED
    follow_up: str = ""
    source: TicketSource = TicketSource.EXTRACTOR

    def narrative_fields(self) -> dict[str, str | list[str]]:
        """The free-text fields (checked for numeric consistency)."""
        return {
            "customer_goal": self.customer_goal,
            "summary": self.summary,
            "actions_taken": self.actions_taken,
            "amounts": self.amounts,
            "dates": self.dates,
            "follow_up": self.follow_up,
        }
