"""Logs that never carry PII: structured JSON, or plain text masked the same way."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from server.brain.pii import mask_pii, mask_values

_PLAIN = (str, int, float, bool, dict, list, tuple, type(None))  # masked where they are strings
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the message and every extra field are PII-masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_pii(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = mask_values(value) if isinstance(value, _PLAIN) else mask_pii(str(value))
        if record.exc_info:
            entry["error"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class MaskedTextFormatter(logging.Formatter):
    """Plain-text lines (``logging.json: false``), masked like the JSON ones: the whole line,
    message and traceback included."""

    def __init__(self, fmt: str = "%(levelname)s %(name)s %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        return str(mask_pii(super().format(record)))


def _route_loguru(level: str) -> None:
    """pipecat logs through loguru: send it through the same masked JSON handler."""
    from loguru import logger

    def sink(message: Any) -> None:
        record = message.record
        logging.getLogger(record["name"] or "pipecat").log(record["level"].no, record["message"])

    logger.remove()
    logger.add(sink, level=level.upper(), format="{message}")


def configure_logging(level: str = "INFO", json_format: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else MaskedTextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "chromadb", "sentence_transformers", "urllib3", "aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _route_loguru(level)
