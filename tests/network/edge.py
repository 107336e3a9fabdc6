"""The edge of the relay test, on this host: Debian's coturn (TURN REST shared secret) and
Debian's nginx proxying signalling to the worker. Each runs from a throw-away directory and
is stopped when its block ends."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TURN_PORT = 3478  # on an address of the test's own, so no other server has it
START_TIMEOUT_S = 60  # coturn and nginx start in well under a second; this only ends a hang


class Turn:
    """A running coturn: its URL, secret and log, and a way to wait for a line in that log."""

    def __init__(self, url: str, secret: str, log: Path) -> None:
        self.url = url  # turn:<customer-side address>:<port>
        self.secret = secret
        self.log = log
        self._lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()

    def add_line(self, line: str) -> None:
        with self._changed:
            self._lines.append(line)
            self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout_s: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first log line matching ``pattern``, waiting for coturn to write it."""
        seen = 0
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if found := re.search(pattern, line):
                        return found
                seen = len(self._lines)
                assert not self._ended, f"coturn exited without logging {pattern!r}"
                assert self._changed.wait(timeout_s), f"coturn did not log {pattern!r}"


def stop(proc: subprocess.Popen[bytes], grace_s: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace_s``."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def coturn(workdir: Path, listen_ip: str, relay_ip: str, secret: str) -> Iterator[Turn]:
    """coturn listening on ``listen_ip`` and relaying from ``relay_ip``, with REST credentials."""
    if shutil.which("turnserver") is None:
        pytest.skip("coturn (Debian) is not installed: make system-packages")
    workdir.mkdir(parents=True, exist_ok=True)
    turn = Turn(f"turn:{listen_ip}:{TURN_PORT}", secret, workdir / "turnserver.log")
    proc = subprocess.Popen(
        [
            "turnserver", "-n", "--verbose",
            f"--listening-ip={listen_ip}", f"--listening-port={TURN_PORT}", f"--relay-ip={relay_ip}",
            "--use-auth-secret", f"--static-auth-secret={secret}", "--realm=teller.test",
            "--no-tls", "--no-dtls", "--no-cli", "--fingerprint",
            f"--pidfile={workdir / 'turnserver.pid'}", f"--userdb={workdir / 'turndb'}",
            "--log-file=stdout", "--simple-log",  # read below, copied to turn.log
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def copy_log() -> None:
        assert proc.stdout is not None
        with turn.log.open("wb") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                turn.add_line(line.decode(errors="replace"))
        turn.end()

    reader = threading.Thread(target=copy_log, name="coturn-log", daemon=True)
    reader.start()
    try:
        turn.wait_for_line(re.escape(f"UDP listener opened on: {listen_ip}:{TURN_PORT}"))
        yield turn
    finally:
        stop(proc)
        reader.join(START_TIMEOUT_S)


NGINX_CONF = """\
worker_processes 1;
user root;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen {listen};
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 600s;
        }}
    }}
}}
"""


@contextmanager
def nginx_proxy(workdir: Path, listen: str, upstream: str) -> Iterator[str]:
    """nginx on ``listen`` (ip:port) in front of ``upstream``; yields its base URL."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx (Debian) is not installed: make system-packages")
    (workdir / "tmp").mkdir(parents=True)
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=workdir, listen=listen, upstream=upstream), encoding="utf-8")
    command = ["nginx", "-p", f"{workdir}/", "-c", str(conf), "-e", str(workdir / "error.log")]
    # nginx binds its listening socket before it daemonises: once this returns, it accepts
    started = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
    assert started.returncode == 0, started.stderr
    try:
        yield f"http://{listen}"
    finally:
        pid_file = workdir / "nginx.pid"
        stopped = subprocess.run(
            [*command, "-s", "stop"], capture_output=True, timeout=START_TIMEOUT_S, check=False
        )
        if stopped.returncode != 0 and pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
