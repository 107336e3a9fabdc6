"""Server-side staff sessions against the real app: revocation at once (disable, password reset,
role change, logout), the console websocket closing, expiry, replayed and forged cookies, TOTP,
and the audit of logins and user administration."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from server.auth import SESSION_COOKIE, Role
from server.auth.service import store_engine
from server.auth.sessions import StaffSessions
from server.auth.users import StaffUser, UserDirectory
from server.cli import main as cli_main
from server.config import Settings
from server.runtime import Runtime, open_runtime
from server.store.audit import verify_chain

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse battery"
SECRET = "test-secret-key-for-staff-sessions-0123456789"
ORIGIN = {"origin": "http://testserver"}


@pytest.fixture()
def staff_runtime(demo_settings: Settings, embedder: object) -> Iterator[Runtime]:
    demo_settings.secret_key = SecretStr(SECRET)
    demo_settings.auth.session_recheck_s = 0.2
    demo_settings.auth.totp_required_roles = ["admin"]
    rt = open_runtime(demo_settings, embedder=embedder)  # type: ignore[arg-type]
    users = _admin(rt)
    users.add("otto", Role.OPERATOR, PASSWORD)
    users.add("ada", Role.ADMIN, PASSWORD)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture()
def client(staff_runtime: Runtime) -> Iterator[TestClient]:
    from server.app import create_app

    with TestClient(create_app(runtime=staff_runtime), follow_redirects=False) as test_client:
        yield test_client


def _admin(rt: Runtime) -> UserDirectory:
    """Administration as ``teller user …`` does it: another UserDirectory on the same database."""
    return UserDirectory(store_engine(rt.store), audit_key=rt.store.audit_key)


def login(client: TestClient, name: str, password: str = PASSWORD, code: str = "") -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    form = {"username": name, "password": password, "csrf_token": token.group(1), "code": code}
    return client.post("/login", data=form).status_code


def logout(client: TestClient) -> int:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/logout").text)
    assert token
    return client.post("/logout", data={"csrf_token": token.group(1)}).status_code


def me(client: TestClient) -> Any:
    response = client.get("/api/v1/staff/me")
    return response.json() if response.status_code == 200 else response.status_code


def close_code(ws: WebSocketTestSession, within_s: float = 10.0) -> int | None:
    """Read the console's events until the server closes it; its close code."""
    result: dict[str, int | None] = {}
    done = threading.Event()

    def drain() -> None:
        try:
            while (message := ws.receive())["type"] != "websocket.close":
                pass
            result["code"] = message.get("code")
        except WebSocketDisconnect as exc:
            result["code"] = exc.code
        finally:
            done.set()

    threading.Thread(target=drain, daemon=True).start()
    assert done.wait(within_s), "the console stayed open"
    return result.get("code")


def test_disable_reset_and_role_change_end_sessions_at_once(
    client: TestClient, staff_runtime: Runtime
) -> None:
    users = _admin(staff_runtime)
    assert login(client, "otto") == 303 and me(client) == {"name": "otto", "role": "operator"}
    assert users.disable("otto", actor="cli:test") == 1
    assert me(client) == 401  # the open session is refused on its next request
    assert login(client, "otto") == 401  # and a disabled user cannot log in
    users.enable("otto", actor="cli:test")

    assert login(client, "otto") == 303 and me(client)["name"] == "otto"
    assert users.set_password("otto", NEW_PASSWORD, actor="cli:test") == 1
    assert me(client) == 401
    assert login(client, "otto") == 401 and login(client, "otto", NEW_PASSWORD) == 303

    assert users.set_role("otto", Role.EDITOR, actor="cli:test") == 1
    assert me(client) == 401  # the operator's session ends with the role
    assert login(client, "otto", NEW_PASSWORD) == 303 and me(client) == {"name": "otto", "role": "editor"}

    actions = [(r.action, r.outcome, r.actor) for r in staff_runtime.store.audit_log()]
    for expected in (("user.disable", "ok", "cli:test"), ("user.enable", "ok", "cli:test"),
                     ("user.reset_password", "ok", "cli:test"), ("user.role_change", "ok", "cli:test"),
                     ("auth.login", "ok", "otto"), ("auth.login", "failed", "otto")):  # fmt: skip
        assert expected in actions
    assert verify_chain(staff_runtime.store.engine, staff_runtime.store.audit_key).ok


def test_the_console_websocket_closes_when_its_session_ends(
    client: TestClient, staff_runtime: Runtime
) -> None:
    assert login(client, "otto") == 303
    with client.websocket_connect("/api/v1/operator/ws", headers=ORIGIN) as ws:
        assert ws.receive_json()["type"] == "session_list"
        _admin(staff_runtime).disable("otto", actor="cli:test")  # another process: found by the re-check
        assert close_code(ws) == 4401
    _admin(staff_runtime).enable("otto", actor="cli:test")

    services = client.app.state.services  # type: ignore[attr-defined]
    services.staff.recheck_s = 3600.0  # a logout in this process closes it by notice, not by the re-check
    assert login(client, "otto") == 303
    with client.websocket_connect("/api/v1/operator/ws", headers=ORIGIN) as ws:
        assert ws.receive_json()["type"] == "session_list"
        cookie = client.cookies.get(SESSION_COOKIE)
        assert logout(client) == 303
        assert close_code(ws) == 4401
    client.cookies.set(SESSION_COOKIE, cookie or "")  # the cookie replayed after logout
    assert me(client) == 401
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/api/v1/operator/ws", headers=ORIGIN) as ws,
    ):
        ws.receive_json()


def test_replayed_forged_and_expired_sessions_are_refused(client: TestClient, staff_runtime: Runtime) -> None:
    assert login(client, "otto") == 303
    cookie = client.cookies.get(SESSION_COOKIE) or ""
    assert logout(client) == 303
    client.cookies.set(SESSION_COOKIE, cookie)
    assert me(client) == 401  # replayed after logout
    for forged in (
        URLSafeTimedSerializer("another key", salt="teller.staff-session.v2").dumps({"s": "x"}),
        URLSafeTimedSerializer(SECRET, salt="teller.staff-session.v2").dumps({"s": "a guessed token"}),
        cookie + "x",
    ):
        client.cookies.set(SESSION_COOKIE, forged)
        assert me(client) == 401

    now = [datetime.now(UTC)]
    sessions = StaffSessions(
        store_engine(staff_runtime.store), idle_s=60, max_age_s=300, clock=lambda: now[0]
    )
    otto = StaffUser("otto", Role.OPERATOR)
    idle, _ = sessions.open(otto)
    busy, _ = sessions.open(otto)
    for _ in range(6):  # one stays in use, the other is left
        now[0] += timedelta(seconds=50)
        assert sessions.check(busy) is not None
    assert sessions.check(idle) is None  # idle timeout
    now[0] += timedelta(seconds=10)
    assert sessions.check(busy) is None  # absolute timeout, however busy
    left, _ = sessions.open(otto)
    now[0] += timedelta(seconds=61)
    assert sessions.purge() == 1 and sessions.check(left) is None


def test_totp_is_required_for_configured_roles_and_good_once(
    client: TestClient, staff_runtime: Runtime
) -> None:
    assert login(client, "ada") == 401  # admin needs a second factor, and has none yet
    uri = _admin(staff_runtime).enrol_totp("ada", actor="cli:test", issuer="Digital Teller")
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    assert login(client, "ada") == 401
    assert login(client, "ada", code="000000" if totp.now() != "000000" else "111111") == 401
    code = totp.now()
    assert login(client, "ada", code=code) == 303 and me(client)["role"] == "admin"
    client.cookies.clear()
    assert login(client, "ada", code=code) == 401  # the same code again
    reasons = [r.detail.get("reason") for r in staff_runtime.store.audit_log() if r.outcome == "failed"]
    assert {"second_factor_not_enrolled", "bad_code"} <= set(reasons)
    assert all("password" not in str(r.detail) for r in staff_runtime.store.audit_log())


def test_cli_user_administration_and_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELLER_STORE__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TELLER_AUDIT_KEY", "cli-test-audit-key")
    monkeypatch.setenv("TELLER_NEW_PASSWORD", PASSWORD)
    assert cli_main(["user", "add", "sue", "--role", "supervisor"]) == 0
    assert cli_main(["user", "disable", "sue"]) == 0 and cli_main(["user", "enable", "sue"]) == 0
    monkeypatch.setenv("TELLER_NEW_PASSWORD", NEW_PASSWORD)
    assert cli_main(["user", "reset-password", "sue"]) == 0
    assert cli_main(["user", "set-role", "sue", "--role", "admin"]) == 0
    assert cli_main(["user", "totp-enroll", "sue"]) == 0
    assert cli_main(["user", "sessions", "sue"]) == 0 and cli_main(["user", "sessions", "sue", "--end"]) == 0
    assert cli_main(["user", "disable", "nobody"]) == 2
    assert cli_main(["audit", "verify"]) == 0
    out = tmp_path / "audit.jsonl"
    assert cli_main(["audit", "export", "--out", str(out)]) == 0
    actions = [line.split('"action":"')[1].split('"')[0] for line in out.read_text().splitlines()]
    assert actions == ["user.add", "user.disable", "user.enable", "user.reset_password", "user.role_change",
                       "user.totp_enroll", "user.sessions_end"]  # fmt: skip
    monkeypatch.setenv("TELLER_AUDIT_KEY", "a different key")
    assert cli_main(["audit", "verify"]) == 1
