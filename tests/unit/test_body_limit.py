"""Request bodies over the limit are refused with 413 before a route reads them."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from server.body_limit import BodyLimit

LIMIT = 100


def _client() -> TestClient:
    app = FastAPI()
    app.add_middleware(BodyLimit, limit=LIMIT, exempt="/admin")

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/admin/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    return TestClient(app)


def _chunks(size: int, piece: int = 30) -> Iterator[bytes]:
    for start in range(0, size, piece):
        yield b"x" * min(piece, size - start)


def test_declared_length_over_the_limit_or_malformed_is_refused() -> None:
    client = _client()
    response = client.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == {"error": f"request body over {LIMIT} bytes"}
    assert client.post("/echo", content=b"x" * LIMIT).json() == {"received": LIMIT}
    assert client.post("/echo", content=b"{}", headers={"content-length": "2x"}).status_code == 413


def test_a_body_without_a_length_is_counted_then_replayed() -> None:
    client = _client()
    assert client.post("/echo", content=_chunks(LIMIT)).json() == {"received": LIMIT}
    assert client.post("/echo", content=_chunks(LIMIT + 1)).status_code == 413


def test_the_exempt_prefix_and_bodiless_requests_pass() -> None:
    client = _client()
    assert client.post("/admin/upload", content=b"x" * (LIMIT * 5)).json() == {"received": LIMIT * 5}
    assert client.get("/ping").json() == {"status": "ok"}
