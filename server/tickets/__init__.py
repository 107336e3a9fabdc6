"""Structured tickets for sessions that close or go to a human colleague."""

from server.tickets.extract import build_ticket
from server.tickets.generate import write_ticket
from server.tickets.model import Resolution, Ticket, TicketSource, TranscriptRow
from server.tickets.validate import numerically_consistent, repair, unsupported_fields

__all__ = [
    "Resolution",
    "Ticket",
    "TicketSource",
    "TranscriptRow",
    "build_ticket",
    "numerically_consistent",
    "repair",
    "unsupported_fields",
    "write_ticket",
]
