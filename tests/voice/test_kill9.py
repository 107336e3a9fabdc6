"""Durability: a ``kill -9`` of the server loses no line that was acknowledged.

A customer's line is acknowledged by its ``transcript`` event, an operator's by the
console's ``ack``; both are sent only after the line is committed to the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness.operator_probe import ConsoleProbe, CustomerProbe, staff_login
from server.auth.users import Role, UserDirectory
from server.store.store import Store
from tests.servers import REPO, teller_process

pytestmark = pytest.mark.slow
PASSWORD = "durable password 1"


@pytest.fixture()
def server(demo_index_dir: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], str]]:
    url = f"sqlite:///{tmp_path / 'teller.db'}"
    store = Store.from_url(url)
    UserDirectory(store.engine).add("kim", Role.OPERATOR, PASSWORD)
    store.close()
    env = {
        "TELLER_KNOWLEDGE__INDEX_DIR": str(demo_index_dir),
        "TELLER_STORE__URL": url,
        "TELLER_VOICE__MODEL_CACHE_DIR": str(REPO / "var" / "models"),
        "TELLER_SECRET_KEY": "kill-nine-test-secret-0123456789",
        "TELLER_LOG__LEVEL": "WARNING",
    }
    with teller_process(env, tmp_path / "server.log") as (proc, base):
        yield base, proc, url


async def test_kill_9_loses_no_acknowledged_line(server: tuple[str, subprocess.Popen[bytes], str]) -> None:
    base, proc, url = server
    customer_lines = [f"Question {n}: how do I freeze my card?" for n in range(3)]
    operator_lines = [f"Operator line number {n}." for n in range(10)]
    async with CustomerProbe(base) as customer:
        sid = customer.session_id
        for line in customer_lines:
            since = time.monotonic()
            await customer.say(line)
            await customer.heard.event(
                lambda e, t=line: e["type"] == "transcript" and e["text"] == t, 60, since
            )
        async with ConsoleProbe(base, await staff_login(base, "kim", PASSWORD)) as console:
            assert (await console.command({"type": "take_over", "session_id": sid}))["type"] == "ack"
            ids = [await console.send({"type": "say", "session_id": sid, "text": t}) for t in operator_lines]
            await console.inbox.event(lambda e: e["type"] == "ack" and e["client_msg_id"] == ids[3], 60)
            os.kill(proc.pid, signal.SIGKILL)
            acked = {e["client_msg_id"] for _, e in console.inbox.events if e["type"] == "ack"}
    proc.wait(timeout=30)
    store = Store.from_url(url)
    try:
        stored = [(row.speaker, row.text) for row in store.transcript(sid)]
        modes = [a.detail.get("mode") for a in store.audit_log(sid) if a.action == "mode_change"]
    finally:
        store.close()
    for line in customer_lines:
        assert ("customer", line) in stored
    spoken = [t for msg_id, t in zip(ids, operator_lines, strict=True) if msg_id in acked]
    assert len(spoken) >= 4
    for line in spoken:
        assert ("operator", line) in stored
    assert modes[0] == "human"
