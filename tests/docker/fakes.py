"""Stand-ins for the live routing test of docker/nginx/teller.conf.

``FakeWorker`` plays one teller worker (an HTTP server answering with its own id, the path and
headers it got, and a websocket handshake followed by an echo); ``FakeDns`` plays Docker's
embedded DNS (A records for the teller names only). Neither is a teller: they exist so a
real nginx can be driven with the production config.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


class _WorkerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _WorkerServer

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        body = json.dumps(
            {"worker": self.server.worker_id, "path": self.path, "headers": dict(self.headers.items())}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "fake_session=1; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(body)

    def _websocket(self) -> None:
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(self.headers["Sec-WebSocket-Key"]))
        self.send_header("X-Worker", self.server.worker_id)
        self.end_headers()
        self.wfile.flush()
        # After the upgrade the connection is a raw tunnel: echo one message with our id.
        data = self.rfile.read1(4096)  # rfile is a BufferedReader
        self.wfile.write(self.server.worker_id.encode() + b":" + data)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _WorkerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], worker_id: str) -> None:
        self.worker_id = worker_id
        self.requests: list[tuple[str, dict[str, str]]] = []
        super().__init__(address, _WorkerHandler)


class FakeWorker:
    """A fake teller worker ``<host>-<ii>`` listening on ``ip:81ii``."""

    def __init__(self, ip: str, host: str, index: int) -> None:
        self.worker_id = f"{host}-{index:02d}"
        self._server = _WorkerServer((ip, 8100 + index), self.worker_id)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self._server.requests

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class FakeDns:
    """A UDP DNS server answering A queries for known names (NXDOMAIN for the rest)."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.queries: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.answer(packet)
            if reply:
                self._sock.sendto(reply, peer)

    def answer(self, packet: bytes) -> bytes | None:
        if len(packet) < 12:
            return None
        ident, _flags, qdcount = struct.unpack("!HHH", packet[:6])
        if qdcount != 1:
            return None
        labels, offset = [], 12
        while offset < len(packet) and packet[offset] != 0:
            length = packet[offset]
            labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
            offset += 1 + length
        question_end = offset + 5  # zero label + QTYPE + QCLASS
        qtype, _qclass = struct.unpack("!HH", packet[offset + 1 : question_end])
        name = ".".join(labels).lower()
        self.queries.append(name)
        addresses = self.records.get(name) if qtype == 1 else None
        rcode = 0 if name in self.records else 3
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(ip) for ip in addresses or []
        )
        header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(addresses or []), 0, 0)
        return header + packet[12:question_end] + answers

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(5)
