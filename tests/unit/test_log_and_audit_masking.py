"""Plain-text logs are masked like JSON logs, and audit details are masked before they are stored
(issue #18)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from server import logs
from server.logs import JsonFormatter, MaskedTextFormatter, configure_logging
from server.store.audit import verify_chain
from server.store.store import Store

LINE = "customer said 4111 1111 1111 1112, cvv 123, call 07700 900123"
MASKED = "customer said [card ending 1112], cvv [security code], call [phone]"


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("teller.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_plain_text_lines_are_masked_like_json_lines() -> None:
    plain = MaskedTextFormatter().format(_record("%s", LINE))
    assert plain == f"WARNING teller.test {MASKED}"
    entry = json.loads(JsonFormatter().format(_record("%s", LINE, detail={"said": [LINE]}, n=3)))
    assert entry["msg"] == MASKED and entry["detail"] == {"said": [MASKED]} and entry["n"] == 3


def test_a_traceback_in_a_plain_text_line_is_masked() -> None:
    try:
        raise ValueError(f"bad card 4111-1111-1111-1112 ({LINE})")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = MaskedTextFormatter().format(record)
    assert "ValueError: bad card [card ending 1112]" in text and "4111" not in text


def test_configure_logging_plain_text_uses_the_masking_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_route_loguru", lambda _level: None)  # leave loguru as the session has it
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", json_format=False)
        assert isinstance(root.handlers[0].formatter, MaskedTextFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_audit_details_are_masked_before_they_are_stored(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'a.db'}", audit_key=b"test-key")
    store.audit("alice", "session.note", "s1", note=LINE, lines=[LINE], count=2)
    row = store.audit_log("s1")[0]
    assert row.detail == {"note": MASKED, "lines": [MASKED], "count": 2}
    assert verify_chain(store.engine, b"test-key").ok  # the hash covers what is stored
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert b"4111" not in raw and b"900123" not in raw
    store.close()
