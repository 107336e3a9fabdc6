"""The edge of docker/compose.yaml, run for real on loopback: Debian's nginx with
docker/nginx/teller.conf in front of fake workers, and Debian's turnserver with
docker/coturn/turnserver.conf checked with real TURN allocations.

nginx: the config is used as it is except for three kinds of lines, rewritten in a copy:
``listen 80``/``listen 443`` (free loopback ports instead) and ``resolver 127.0.0.11``
(Docker's DNS, absent here) pointed at ``FakeDns``, which answers the teller names with
loopback addresses 127.x.y.1 and .2 where the ``FakeWorker``s listen on the real worker
ports 8100 and 8101. Everything else (the /w/ regex, the upstream URL template, headers,
TLS, HSTS, cookie flags, the redirect) is the production file.

coturn: the config file as it is, with listening/relay addresses and ports and the secret
given on the command line (as compose does for the secret), which override the file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aioice import stun

from tests.docker.fakes import FakeDns, FakeWorker, websocket_accept
from tests.docker.nginx_setup import NGINX_CONF, TURN_CONF, nginx_command, nginx_prefix

pytestmark = pytest.mark.cluster

HOST = "teller.test"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_and_tcp_port() -> int:
    """A port free for both: coturn listens on its port with UDP *and* TCP (a UDP-only check
    once gave a port whose TCP side was taken, and coturn retried binding it for ever)."""
    for _ in range(100):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text(errors='replace') if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --- nginx ---------------------------------------------------------------------------------


@dataclass
class Edge:
    http_port: int
    https_port: int
    workers: dict[str, FakeWorker]
    dns: FakeDns
    error_log: Path

    def request(
        self, path: str, *, tls: bool = True, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection: http.client.HTTPConnection
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, context=context, timeout=10
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": HOST, **(headers or {})})
            response = connection.getresponse()
            # Several Set-Cookie headers would collapse in a dict; the fakes send one.
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def worker_reply(self, path: str) -> dict[str, Any]:
        status, _headers, body = self.request(path)
        assert status == 200, (path, status, body[:200])
        reply: dict[str, Any] = json.loads(body)
        return reply


def edge_config(http_port: int, https_port: int, dns_port: int) -> str:
    """teller.conf with only its listen and resolver lines rewritten (see the module doc)."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    rewritten, listens80 = re.subn(r"(?m)^(\s*)listen 80 ", rf"\g<1>listen 127.0.0.1:{http_port} ", text)
    rewritten, listens443 = re.subn(
        r"(?m)^(\s*)listen 443 ", rf"\g<1>listen 127.0.0.1:{https_port} ", rewritten
    )
    rewritten, resolvers = re.subn(
        r"(?m)^(\s*)resolver 127\.0\.0\.11 ", rf"\g<1>resolver 127.0.0.1:{dns_port} ", rewritten
    )
    assert (listens80, listens443) == (1, 1) and resolvers >= 1
    changed = [(a, b) for a, b in zip(text.splitlines(), rewritten.splitlines(), strict=True) if a != b]
    assert all(re.match(r"\s*(listen|resolver) ", a) for a, _ in changed)
    return rewritten


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx (Debian) is not installed: make system-packages")
    prefix = tmp_path_factory.mktemp("nginx")
    subnet = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
    addresses = {"teller-a": f"{subnet}.1", "teller-b": f"{subnet}.2"}
    workers: dict[str, FakeWorker] = {}
    try:
        for host, ip in addresses.items():
            for index in (0, 1):
                worker = FakeWorker(ip, host, index)
                workers[worker.worker_id] = worker
    except OSError as exc:
        for worker in workers.values():
            worker.close()
        pytest.skip(f"worker ports 8100/8101 are taken on this machine: {exc}")
    # Docker's DNS as compose sets it up: service names, and the aliases on the edge network.
    dns = FakeDns(
        {
            "teller-a": [addresses["teller-a"]],
            "teller-b": [addresses["teller-b"]],
            "teller": [addresses["teller-a"], addresses["teller-b"]],
            "teller-admin": [addresses["teller-a"]],
            "postgres": [f"{subnet}.3"],
        }
    )
    http_port, https_port = free_port(), free_port()
    conf = prefix / "teller.conf"
    conf.write_text(edge_config(http_port, https_port, dns.port), encoding="utf-8")
    wrapper = nginx_prefix(prefix, conf)
    error_log = prefix / "error.log"
    proc = subprocess.Popen(
        nginx_command(wrapper, "-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(https_port, proc, error_log)
        wait_for_port(http_port, proc, error_log)
        yield Edge(http_port, https_port, workers, dns, error_log)
    finally:
        stop(proc)
        dns.close()
        for worker in workers.values():
            worker.close()


def test_worker_prefix_reaches_that_worker(edge: Edge) -> None:
    for worker_id in ("teller-a-00", "teller-a-01", "teller-b-00", "teller-b-01"):
        reply = edge.worker_reply(f"/w/{worker_id}/api/v1/rtc/offer?token=abc&x=1")
        assert reply["worker"] == worker_id
        assert reply["path"] == "/api/v1/rtc/offer?token=abc&x=1"
        headers = {k.lower(): v for k, v in reply["headers"].items()}
        assert headers["x-forwarded-proto"] == "https"
        assert headers["x-forwarded-prefix"] == f"/w/{worker_id}"
        assert headers["host"] == HOST
        assert headers["x-forwarded-for"] == "127.0.0.1"


def test_worker_prefix_refuses_other_hosts(edge: Edge) -> None:
    before = sum(len(w.requests) for w in edge.workers.values())
    status, headers, _ = edge.request("/w/postgres-00/x")
    assert status == 404
    assert "strict-transport-security" in headers
    assert sum(len(w.requests) for w in edge.workers.values()) == before
    assert "postgres" not in edge.dns.queries
    # Not a worker prefix (one digit): an ordinary path for the pages' route.
    reply = edge.worker_reply("/w/teller-a-0/x")
    assert reply["path"] == "/w/teller-a-0/x" and str(reply["worker"]).endswith("-00")
    assert "x-forwarded-prefix" not in {k.lower() for k in reply["headers"]}


def test_pages_and_dispatch_reach_worker_00_of_every_container(edge: Edge) -> None:
    seen = {str(edge.worker_reply("/api/v1/session")["worker"]) for _ in range(24)}
    assert seen == {"teller-a-00", "teller-b-00"}, "round-robin over the containers' worker 00"
    for path in ("/", "/kiosk", "/operator", "/static/app.js", "/healthz"):
        reply = edge.worker_reply(path)
        assert reply["path"] == path and str(reply["worker"]).endswith("-00")


def test_admin_goes_to_the_admin_container(edge: Edge) -> None:
    assert {str(edge.worker_reply("/admin/gradio_api/info")["worker"]) for _ in range(8)} == {"teller-a-00"}


def test_https_responses_carry_hsts_and_secure_cookies(edge: Edge) -> None:
    status, headers, _ = edge.request("/w/teller-b-00/")
    assert status == 200
    hsts = headers["strict-transport-security"]
    max_age = re.search(r"max-age=(\d+)", hsts)
    assert max_age and int(max_age.group(1)) >= 31536000 and "includeSubDomains" in hsts
    cookie = headers["set-cookie"]
    assert cookie.startswith("fake_session=1") and "secure" in cookie.lower()


def test_http_redirects_to_https_except_health(edge: Edge) -> None:
    status, headers, _ = edge.request("/kiosk?lang=en", tls=False)
    assert status == 301
    assert headers["location"] == f"https://{HOST}/kiosk?lang=en"
    status, _, body = edge.request("/healthz", tls=False)
    assert status == 200 and json.loads(body)["worker"] in {"teller-a-00", "teller-b-00"}
    status, _, body = edge.request("/nginx-healthz", tls=False)
    assert (status, body) == (200, b"ok\n")


def test_websocket_upgrade_is_tunnelled_to_the_worker(edge: Edge) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    key = base64.b64encode(os.urandom(16)).decode()
    raw = socket.create_connection(("127.0.0.1", edge.https_port), timeout=10)
    with context.wrap_socket(raw, server_hostname=HOST) as sock:
        sock.sendall(
            (
                "GET /w/teller-b-01/api/v1/ws?token=t HTTP/1.1\r\n"
                f"Host: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        status_line, *lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        assert status_line.startswith("HTTP/1.1 101")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        assert headers["upgrade"].lower() == "websocket"
        assert headers["connection"].lower() == "upgrade"
        assert headers["sec-websocket-accept"] == websocket_accept(key)
        assert headers["x-worker"] == "teller-b-01"
        sock.sendall(b"hello")
        echoed = b""
        while not echoed.endswith(b"hello"):
            chunk = sock.recv(4096)
            assert chunk, echoed
            echoed += chunk
        assert echoed == b"teller-b-01:hello"
    path, got = edge.workers["teller-b-01"].requests[-1]
    got = {k.lower(): v for k, v in got.items()}
    assert path == "/api/v1/ws?token=t"
    assert got["upgrade"] == "websocket" and got["connection"].lower() == "upgrade"


def test_nginx_logged_no_errors(edge: Edge) -> None:
    log = edge.error_log.read_text(errors="replace") if edge.error_log.exists() else ""
    assert not re.search(r"\[(emerg|alert|crit|error)\]", log), log


# --- coturn --------------------------------------------------------------------------------

REQUESTED_UDP = {"REQUESTED-TRANSPORT": 17 << 24}  # UDP


@dataclass
class Turn:
    port: int
    secret: str
    relay_ports: range
    log: Path


def request(method: stun.Method, **attributes: object) -> stun.Message:
    message = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
    message.attributes.update(attributes)
    return message


def error_code(reply: stun.Message) -> int | None:
    return None if reply.message_class == stun.Class.RESPONSE else int(reply.attributes["ERROR-CODE"][0])


class TurnClient:
    """One UDP socket (coturn binds nonces and allocations to the 5-tuple) speaking STUN with
    long-term credentials: an unsigned request is answered 401 with realm and nonce, then
    every request is signed with MD5(username:realm:password)."""

    def __init__(self, turn: Turn, username: str, password: str) -> None:
        self.turn = turn
        self.username = username
        self.password = password
        self.realm = ""
        self.nonce = b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2)

    def __enter__(self) -> TurnClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, message: stun.Message) -> stun.Message:
        self.sock.sendto(bytes(message), ("127.0.0.1", self.turn.port))
        reply = stun.parse_message(self.sock.recvfrom(2048)[0])
        assert reply.transaction_id == message.transaction_id
        return reply

    def signed(self, method: stun.Method, **attributes: object) -> stun.Message:
        if not self.nonce:
            challenge = self.send(request(method, **attributes))
            assert error_code(challenge) == 401
            self.realm, self.nonce = challenge.attributes["REALM"], challenge.attributes["NONCE"]
        message = request(method, USERNAME=self.username, REALM=self.realm, NONCE=self.nonce, **attributes)
        message.add_message_integrity(
            hashlib.md5(f"{self.username}:{self.realm}:{self.password}".encode()).digest()
        )
        message.add_fingerprint()
        return self.send(message)


def rest_credentials(secret: str, session_id: str, expires_in_s: int) -> tuple[str, str]:
    """What a teller worker mints: username "<expiry>:<session>", HMAC-SHA1 password."""
    username = f"{int(time.time()) + expires_in_s}:{session_id}"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    if shutil.which("turnserver") is None:
        pytest.skip("coturn (Debian) is not installed: make system-packages")
    workdir = tmp_path_factory.mktemp("coturn")
    port = free_udp_and_tcp_port()
    low = random.randrange(40000, 48000, 20)
    secret = secrets.token_hex(16)
    log = workdir / "turnserver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "turnserver", "-c", str(TURN_CONF),
                "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
                f"--min-port={low}", f"--max-port={low + 19}",
                f"--static-auth-secret={secret}",
                f"--pidfile={workdir / 'turnserver.pid'}", f"--userdb={workdir / 'turndb'}",
            ],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Turn(port, secret, range(low, low + 20), log)
    try:
        deadline = time.monotonic() + 15
        with TurnClient(server, "", "") as probe:
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")
                try:
                    probe.send(request(stun.Method.BINDING))
                    break
                except OSError:  # not listening yet: a timeout, or ICMP port unreachable
                    assert time.monotonic() < deadline, "turnserver never answered"
                    time.sleep(0.1)
        yield server
    finally:
        stop(proc)


def test_turnserver_reads_the_config_cleanly(turn: Turn) -> None:
    log = turn.log.read_text(errors="replace")
    assert "White listing: 172.30.0.0-172.30.0.255" in log
    assert "Black listing: 10.0.0.0-10.255.255.255" in log
    assert not re.search(r"(?i)bad configuration|unknown option|unrecognized|cannot", log), log


def test_fresh_rest_credentials_get_a_relay(turn: Turn) -> None:
    with TurnClient(turn, *rest_credentials(turn.secret, "teller-a-00.s1", 600)) as client:
        reply = client.signed(stun.Method.ALLOCATE, **REQUESTED_UDP)
    assert error_code(reply) is None, reply.attributes.get("ERROR-CODE")
    relay_ip, relay_port = reply.attributes["XOR-RELAYED-ADDRESS"]
    assert relay_ip == "127.0.0.1" and relay_port in turn.relay_ports


def test_expired_or_forged_credentials_are_refused(turn: Turn) -> None:
    expired = rest_credentials(turn.secret, "teller-a-00.s2", -60)
    forged = rest_credentials("not-the-secret", "teller-a-00.s3", 600)
    for username, password in (expired, forged):
        with TurnClient(turn, username, password) as client:
            assert error_code(client.signed(stun.Method.ALLOCATE, **REQUESTED_UDP)) == 401


def test_relay_reaches_the_media_network_but_no_other_private_peer(turn: Turn) -> None:
    outcomes: dict[str, int | None] = {}
    with TurnClient(turn, *rest_credentials(turn.secret, "teller-b-01.s4", 600)) as client:
        assert error_code(client.signed(stun.Method.ALLOCATE, **REQUESTED_UDP)) is None
        for peer in ("172.30.0.9", "8.8.8.8", "10.1.2.3", "192.168.1.20", "127.0.0.1", "172.17.0.2"):
            reply = client.signed(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": (peer, 40000)})
            outcomes[peer] = error_code(reply)
    assert outcomes == {
        "172.30.0.9": None,  # the tellers' media network (compose "edge")
        "8.8.8.8": None,  # a public address (a permission sends nothing)
        "10.1.2.3": 403,
        "192.168.1.20": 403,
        "127.0.0.1": 403,
        "172.17.0.2": 403,  # another Docker network
    }
