"""Staff login: passwords, signed cookies, CSRF, throttling, roles, and the /admin guard."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr

from server.auth import CSRF_HEADER, SESSION_COOKIE, Role, StaffUser, require_role
from server.auth.service import store_engine
from server.auth.throttle import LoginThrottle
from server.auth.users import UserDirectory, UserError
from server.cli import main as cli_main
from server.config import Settings
from server.runtime import Runtime, open_runtime

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-for-staff-sessions-0123456789"


@pytest.fixture()
def staff_runtime(demo_settings: Settings, embedder: object) -> Iterator[Runtime]:
    demo_settings.secret_key = SecretStr(SECRET)
    rt = open_runtime(demo_settings, embedder=embedder)  # type: ignore[arg-type]
    users = UserDirectory(store_engine(rt.store))
    users.add("eddie", Role.EDITOR, PASSWORD)
    users.add("otto", Role.OPERATOR, PASSWORD)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture()
def client(staff_runtime: Runtime) -> Iterator[TestClient]:
    from server.app import create_app

    app = create_app(runtime=staff_runtime)

    @app.post("/api/v1/staff/supervise")
    def supervise(
        user: Annotated[StaffUser, Depends(require_role(Role.SUPERVISOR, Role.OPERATOR))],
    ) -> dict[str, str]:
        return {"ok": user.name}

    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def login(client: TestClient, name: str, password: str = PASSWORD, *, csrf: str | None = None) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    form = {
        "username": name,
        "password": password,
        "csrf_token": csrf if csrf is not None else token.group(1),
    }
    return client.post("/login", data=form).status_code


def test_passwords_are_hashed_and_checked(staff_runtime: Runtime) -> None:
    users = UserDirectory(store_engine(staff_runtime.store))
    assert users.authenticate("eddie", PASSWORD) == StaffUser("eddie", Role.EDITOR)
    assert users.authenticate("eddie", "wrong password!") is None
    assert users.authenticate("nobody", PASSWORD) is None
    with pytest.raises(UserError):
        users.add("eddie", Role.ADMIN, PASSWORD)
    with pytest.raises(UserError):
        users.add("shorty", Role.ADMIN, "short")


def test_login_sets_a_signed_cookie_and_logout_clears_it(client: TestClient) -> None:
    assert client.get("/api/v1/staff/me").status_code == 401
    assert login(client, "eddie") == 303
    assert client.get("/api/v1/staff/me").json() == {"name": "eddie", "role": "editor"}
    logout = client.get("/logout")
    token = re.search(r'name="csrf_token" value="([^"]+)"', logout.text)
    assert token and client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": token.group(1)}).status_code == 303
    assert client.get("/api/v1/staff/me").status_code == 401


def test_login_needs_the_csrf_token_and_is_throttled(client: TestClient) -> None:
    assert login(client, "eddie", csrf="forged") == 403
    for _ in range(5):
        assert login(client, "eddie", "wrong password!") == 401
    assert login(client, "eddie") == 429


def test_roles_csrf_and_customer_tokens_on_staff_endpoints(
    client: TestClient, staff_runtime: Runtime
) -> None:
    customer = client.post("/api/v1/ask", json={"text": "hello"}).json()["session_id"]
    other_salt = URLSafeTimedSerializer(SECRET, salt="customer").dumps({"u": "eddie", "r": "admin", "c": "x"})
    # The old stateless cookie (name and role, signed with the right key) names no session now
    stateless = URLSafeTimedSerializer(SECRET, salt="teller.staff-session.v1").dumps(
        {"u": "eddie", "r": "admin", "c": "x"}
    )
    for cookie in (customer, other_salt, stateless):
        client.cookies.set(SESSION_COOKIE, cookie)
        assert (
            client.get("/api/v1/staff/me", headers={"Authorization": f"Bearer {cookie}"}).status_code == 401
        )
    client.cookies.clear()
    assert login(client, "eddie") == 303
    assert client.post("/api/v1/staff/supervise").status_code == 403
    client.cookies.clear()
    assert login(client, "otto") == 303
    assert client.post("/api/v1/staff/supervise").status_code == 403  # no CSRF token
    session = client.cookies.get(SESSION_COOKIE)
    auth = client.app.state.services.staff  # type: ignore[attr-defined]
    csrf = auth.session_of(session).csrf
    assert client.post("/api/v1/staff/supervise", headers={CSRF_HEADER: csrf}).json() == {"ok": "otto"}


def test_admin_requires_an_editor_login(client: TestClient) -> None:
    response = client.get("/admin/")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.post("/admin/gradio_api/queue/join").status_code == 401
    assert login(client, "otto") == 303
    assert client.get("/admin/").status_code == 403


def test_throttle_unlocks_after_the_lockout() -> None:
    now = [0.0]
    throttle = LoginThrottle(2, 60, 30, clock=lambda: now[0])
    throttle.failed("k")
    throttle.failed("k")
    assert throttle.retry_after("k") == 30
    now[0] = 31
    assert throttle.retry_after("k") <= 0


def test_cli_user_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLER_STORE__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TELLER_NEW_PASSWORD", PASSWORD)
    assert cli_main(["user", "add", "sue", "--role", "supervisor"]) == 0
    assert cli_main(["user", "add", "sue", "--role", "supervisor"]) == 2
