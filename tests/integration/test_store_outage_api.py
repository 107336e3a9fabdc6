"""The text API when the store stays unreachable: 503, retryable, and nothing acknowledged."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from server.app import create_app
from server.runtime import Runtime
from server.store.retry import RetryPolicy
from server.store.store import Store, open_store_engine
from tests.store.pg import free_port


def test_a_question_the_store_cannot_record_gets_a_retryable_503(runtime: Runtime) -> None:
    # A real database that is not there: every write is refused, retried, then given up.
    url = f"postgresql+psycopg://teller@127.0.0.1:{free_port()}/none"
    dead = Store(open_store_engine(url), RetryPolicy(attempts=2, first_delay_s=0.01, max_delay_s=0.01))
    try:
        with TestClient(create_app(runtime=dataclasses.replace(runtime, store=dead))) as client:
            response = client.post("/api/v1/ask", json={"text": "My card has still not arrived"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["retryable"] is True and "nothing was saved" in body["error"]
        assert "text" not in body  # no answer is given for a question that was not recorded
    finally:
        dead.close()
