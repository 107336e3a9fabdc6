"""Reachable from real networks: a customer who can reach only the TURN server and the
signalling proxy still talks to the teller, through coturn's relay.

    customer netns ── veth ── host: coturn (listens on the customer link, relays from the
                                    worker link), nginx (signalling → worker)
    worker netns   ── veth ──┘

No namespace has a default route: the customer has no path to the worker's address at all.
The worker runs the whole app and mints per-session TURN credentials (turn.*); the customer is
bench's aiortc probe, which takes the ICE servers from its session grant, says one real spoken
question and must hear the reply, over a relayed candidate pair.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.harness.chromium import question_wav
from tests.network.edge import Turn, coturn, nginx_proxy, stop
from tests.network.topology import Topology, customer_and_worker, netns_unavailable

_NO_NETNS = netns_unavailable()
pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.skipif(_NO_NETNS is not None, reason=_NO_NETNS or ""),  # before the index is built
]

REPO = Path(__file__).resolve().parents[2]
QUESTION = "My card still has not arrived. What should I do?"
WORKER_PORT = 8100
PROXY_PORT = 8080
READY_TIMEOUT_S = 900  # loading the speech models on a busy machine; only ends a hang
CUSTOMER_TIMEOUT_S = 900


@contextmanager
def teller_worker(net: Topology, turn: Turn, index_dir: Path, workdir: Path) -> Iterator[str]:
    """The app inside the worker's namespace, its voice models loaded; yields its URL."""
    workdir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELLER_")} | {
        "TELLER_KNOWLEDGE__INDEX_DIR": str(index_dir),
        "TELLER_STORE__URL": f"sqlite:///{workdir / 'teller.db'}",
        "TELLER_VOICE__MODEL_CACHE_DIR": str(REPO / "var" / "models"),
        "TELLER_VOICE__SPEECH_CACHE_DIR": str(workdir / "speech_cache"),
        "TELLER_SECRET_KEY": secrets.token_hex(16),
        "TELLER_ADMIN__ENABLED": "false",
        "TELLER_LOG__JSON_FORMAT": "false",
        "TELLER_TURN__URLS": json.dumps([f"{turn.url}?transport=udp", f"{turn.url}?transport=tcp"]),
        "TELLER_TURN__SECRET": turn.secret,
    }
    log = workdir / "worker.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            net.exec_in(
                net.worker, sys.executable, "-m", "tests.network.worker",
                "--host", net.worker.inner_ip, "--port", str(WORKER_PORT),
            ),
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:  # wait for its "ready" line (or its exit)
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(READY_TIMEOUT_S), "the worker did not get ready"
        line = proc.stdout.readline()
        assert line.strip() == b"ready", log.read_text(errors="replace")[-3000:]
        yield f"http://{net.worker.inner_ip}:{WORKER_PORT}"
    finally:
        stop(proc, grace_s=60)


def _customer(net: Topology, base_url: str, question: Path, log: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.harness.relay_customer", base_url, str(question)]
    with log.open("wb") as err:
        done = subprocess.run(
            net.exec_in(net.customer, *argv),
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, timeout=CUSTOMER_TIMEOUT_S, check=False,
        )  # fmt: skip
    assert done.returncode == 0, log.read_text(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def test_a_customer_who_reaches_only_turn_talks_through_the_relay(
    tmp_path: Path, demo_index_dir: Path
) -> None:
    question = question_wav(tmp_path / "question.wav", QUESTION, tail_s=0)
    secret = secrets.token_hex(16)
    with customer_and_worker() as net:
        # The premise: the customer's namespace has no route to the worker at all.
        direct = subprocess.run(
            ["ip", "-n", net.customer.netns, "route", "get", net.worker.inner_ip],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert direct.returncode != 0 and "unreachable" in direct.stderr.lower(), direct
        with (
            coturn(tmp_path / "coturn", net.customer.host_ip, net.worker.host_ip, secret) as turn,
            teller_worker(net, turn, demo_index_dir, tmp_path / "worker") as worker,
            nginx_proxy(tmp_path / "nginx", f"{net.customer.host_ip}:{PROXY_PORT}", worker) as url,
        ):
            result = _customer(net, url, question, tmp_path / "customer.log")
            assert "arrived" in str(result["transcript"]).lower(), result
            assert result["decision"] == "answer", result
            assert result["reply_loud_frames"] >= 50, result  # a second of the spoken reply came back
            local, _remote = result["candidates"]
            assert local == "relay", result  # the customer's media went through its TURN allocation
            assert "relay" in result["worker_candidates"], result  # the worker's own allocation
            # coturn: this session's credentials (minted by the worker) got the customer a relay
            # that carried the reply to it; logged once the customer released it on leaving
            session = re.escape(result["session_id"])
            turn.wait_for_line(rf"peer usage: realm=<[^>]*>, username=<\d+:{session}>, rp=\d+, rb=\d{{5,}},")
