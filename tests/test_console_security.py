"""The lawyer console's accounts and sessions (issue 13): login throttling, constant-time refusals, the
password policy, server-side sessions that end on logout, password change and deactivation, cookie flags,
CSRF and origin checks, the audit of ticket views, and the account commands."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner, Result

from bot.app import create_app
from bot.cli import app as cli_app
from bot.runtime import Runtime
from bot.settings import get_settings
from bot.store import AuditEntry, ConsoleSession, Lawyer, Message, Store, utcnow
from handoff import throttle
from handoff.auth import (
    AccountError,
    authenticate,
    change_password,
    check_password,
    create_lawyer,
    set_active,
)
from handoff.sessions import COOKIE, CSRF_HEADER
from tests.test_handoff import make_tickets

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

PASSWORD = "correct horse"
QUEUE = "/api/console/queue"


def console(runtime: Runtime, base_url: str = "http://testserver", **settings: Any) -> TestClient:
    if settings:
        runtime = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update=settings))
    return TestClient(create_app(runtime, run_sweeper=False, channels=[]), base_url=base_url)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    create_lawyer(runtime.store, "zhang", PASSWORD, display_name="张律师")
    with console(runtime) as c:
        yield c


def log_in(client: TestClient, username: str = "zhang", password: str = PASSWORD) -> Any:
    """Log in as the console page does: keep the cookie, send the CSRF token from then on."""
    response = client.post("/api/console/login", json={"username": username, "password": password})
    if response.status_code == 200:
        client.headers[CSRF_HEADER] = response.json()["csrf_token"]
    return response


def later(monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    """Move the throttle's clock forward."""
    now = utcnow() + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(throttle, "utcnow", lambda: now)


# ---- throttling ------------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_account_even_against_the_right_one(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [log_in(client, password=f"guess-{i}") for i in range(100)]
    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert {a.status_code for a in answers[4:]} == {429}
    assert "15 分钟后再试" in answers[4].json()["detail"] and answers[4].headers["retry-after"] == "900"
    assert log_in(client).status_code == 429  # the right password too, while the lock lasts
    later(monkeypatch, 14)
    assert log_in(client).status_code == 429
    later(monkeypatch, 16)
    assert log_in(client).status_code == 200


def test_a_successful_login_clears_the_accounts_failures(client: TestClient) -> None:
    assert [log_in(client, password="wrong-guess").status_code for _ in range(4)] == [401] * 4
    assert log_in(client).status_code == 200
    assert [log_in(client, password="wrong-guess").status_code for _ in range(4)] == [401] * 4
    assert log_in(client).status_code == 200


def test_unknown_names_are_locked_like_known_ones(client: TestClient) -> None:
    known = [log_in(client, "zhang", "wrong-guess") for _ in range(6)]
    unknown = [log_in(client, "ghost", "wrong-guess") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 4 + [429] * 2
    assert [r.json() for r in known] == [r.json() for r in unknown]


def test_one_address_is_locked_after_many_names(runtime: Runtime, client: TestClient) -> None:
    answers = [log_in(client, f"name{i}", "wrong-guess").status_code for i in range(20)]
    assert answers == [401] * 19 + [429]
    assert log_in(client).status_code == 429  # from this address, even the right name and password
    with TestClient(create_app(runtime, run_sweeper=False, channels=[]), client=("203.0.113.7", 5000)) as other:
        assert log_in(other).status_code == 200  # another address is not locked


def test_throttle_counts_attempts_still_being_checked(runtime: Runtime) -> None:
    """Parallel guesses: each attempt is counted when admitted, so the sixth waits for the window."""
    key = throttle.Key("account", "zhang", throttle.Limit(5, dt.timedelta(minutes=15), dt.timedelta(minutes=15)))
    for _ in range(5):
        throttle.admit(runtime.store, [key])
    with pytest.raises(throttle.Throttled):
        throttle.admit(runtime.store, [key])


def test_refusals_cost_one_scrypt_whether_the_name_exists_or_not(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    create_lawyer(runtime.store, "zhang", PASSWORD)
    create_lawyer(runtime.store, "gone", PASSWORD)
    set_active(runtime.store, "gone", False)
    runs: list[int] = []
    real = hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    for name in ("zhang", "nobody", "gone"):
        runs.clear()
        assert authenticate(runtime.store, name, "wrong-guess") is None
        assert len(runs) == 1, name
    runs.clear()
    assert authenticate(runtime.store, "zhang", PASSWORD) is not None and len(runs) == 1


# ---- password policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "reason"), [
    ("12345678", "at least 12"),
    (" " * 12, "only spaces"),
    ("aaaaaaaaaaaa", "different"),
    ("abababababab", "different"),
    ("139120458761", "only digits"),
    ("Password1234", "common passwords"),
    ("1q2w3e4r5t6y", "common passwords"),
    ("woaini1314520", "common passwords"),
    ("my-zhang-secret", "username"),
    ("x" * 257, "at most 256"),
])
def test_weak_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(AccountError, match=reason):
        check_password(password, "zhang")


def test_a_good_password_is_accepted() -> None:
    check_password("correct horse", "zhang")
    check_password("两只老虎跑得快 2026", "zhang")


# ---- sessions ---------------------------------------------------------------------------------------


def test_a_copied_cookie_is_refused_after_logout(runtime: Runtime, client: TestClient) -> None:
    log_in(client)
    copied = client.cookies[COOKIE]
    assert client.post("/api/console/logout").status_code == 200
    with console(runtime) as thief:
        thief.cookies.set(COOKIE, copied)
        assert thief.get(QUEUE).status_code == 401
    with runtime.store.session() as session:
        assert session.exec(select(ConsoleSession)).one().revoked_at is not None
        assert copied not in str(session.exec(select(ConsoleSession)).one().model_dump())  # only the hash


def test_every_login_gets_a_new_token(runtime: Runtime, client: TestClient) -> None:
    log_in(client)
    first = client.cookies[COOKIE]
    log_in(client)
    assert client.cookies[COOKIE] != first
    with console(runtime) as old:
        old.cookies.set(COOKIE, first)
        assert old.get(QUEUE).status_code == 401


@pytest.mark.parametrize("end", ["password", "deactivate", "revoke"])
def test_account_changes_end_sessions_at_once(runtime: Runtime, client: TestClient, end: str) -> None:
    log_in(client)
    assert client.get(QUEUE).status_code == 200
    if end == "password":
        change_password(runtime.store, "zhang", "a new long secret")
    elif end == "deactivate":
        set_active(runtime.store, "zhang", False)
    else:
        from handoff.sessions import end_sessions

        with runtime.store.session() as session:
            lawyer_id = session.exec(select(Lawyer.id).where(Lawyer.username == "zhang")).one()
        assert end_sessions(runtime.store, lawyer_id) == 1
    assert client.get(QUEUE).status_code == 401
    if end == "password":
        assert log_in(client, password=PASSWORD).status_code == 401
        assert log_in(client, password="a new long secret").status_code == 200


def test_idle_and_absolute_timeouts(runtime: Runtime) -> None:
    create_lawyer(runtime.store, "zhang", PASSWORD)
    with console(runtime, console_idle_minutes=30, console_session_hours=2) as c:
        log_in(c)
        assert c.get(QUEUE).status_code == 200
        with runtime.store.session() as session:
            row = session.exec(select(ConsoleSession)).one()
            assert row.expires_at - row.created_at == dt.timedelta(hours=2)
            row.last_seen_at = utcnow() - dt.timedelta(minutes=31)
            session.add(row)
            session.commit()
        assert c.get(QUEUE).status_code == 401
        log_in(c)
        with runtime.store.session() as session:
            row = session.exec(select(ConsoleSession).where(ConsoleSession.revoked_at == None)).one()  # noqa: E711
            row.expires_at = utcnow() - dt.timedelta(seconds=1)
            session.add(row)
            session.commit()
        assert c.get(QUEUE).status_code == 401


# ---- cookies ----------------------------------------------------------------------------------------


def _cookie(response: Any) -> str:
    [header] = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE)]
    return header.lower()


@pytest.mark.parametrize(("base_url", "setting", "headers", "secure"), [
    ("http://testserver", "auto", {}, False),
    ("https://testserver", "auto", {}, True),
    ("http://testserver", "true", {}, True),
    ("https://testserver", "false", {}, False),
    ("http://testserver", "auto", {"X-Forwarded-Proto": "https"}, False),  # testclient is no trusted proxy
])
def test_cookie_flags(runtime: Runtime, base_url: str, setting: str, headers: dict[str, str], secure: bool) -> None:
    create_lawyer(runtime.store, "zhang", PASSWORD)
    with console(runtime, base_url, cookie_secure=setting) as c:
        cookie = _cookie(c.post("/api/console/login", json={"username": "zhang", "password": PASSWORD}, headers=headers))
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert ("; secure" in cookie) is secure


def test_a_trusted_proxy_tells_the_scheme_and_the_address(runtime: Runtime) -> None:
    create_lawyer(runtime.store, "zhang", PASSWORD)
    with console(runtime, trusted_proxies="testclient") as c:
        response = c.post("/api/console/login", json={"username": "zhang", "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.9"})
        assert "; secure" in _cookie(response)
        for i in range(20):
            log_in(c, f"name{i}", "wrong-guess")
        assert c.post("/api/console/login", json={"username": "zhang", "password": PASSWORD},
                      headers={"X-Forwarded-For": "198.51.100.10"}).status_code == 200


# ---- CSRF and origin --------------------------------------------------------------------------------


def test_a_cross_origin_post_is_refused(runtime: Runtime, client: TestClient) -> None:
    evil = {"Origin": "https://evil.example"}
    refused = client.post("/api/console/login", json={"username": "zhang", "password": PASSWORD}, headers=evil)
    assert refused.status_code == 403 and "其他网站" in refused.json()["detail"]
    assert client.post("/api/console/login", json={"username": "zhang", "password": PASSWORD},
                       headers={"Origin": "http://testserver"}).status_code == 200
    client.headers[CSRF_HEADER] = client.get("/api/console/me").json()["csrf_token"]
    [ticket] = make_tickets(runtime, 1)
    assert client.post(f"/api/console/tickets/{ticket}/claim", headers=evil).status_code == 403
    assert client.post(f"/api/console/tickets/{ticket}/claim", headers={"Origin": "null"}).status_code == 403
    assert client.post(f"/api/console/tickets/{ticket}/claim", headers={"Origin": "http://testserver"}).status_code == 200


def test_a_post_without_the_csrf_token_is_refused(runtime: Runtime, client: TestClient) -> None:
    token = log_in(client).json()["csrf_token"]
    assert client.get("/api/console/me").json()["csrf_token"] == token  # a reloaded page gets it again
    del client.headers[CSRF_HEADER]
    [ticket] = make_tickets(runtime, 1)
    refused = client.post(f"/api/console/tickets/{ticket}/claim")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.post(f"/api/console/tickets/{ticket}/claim", headers={CSRF_HEADER: "forged"}).status_code == 403
    assert client.post("/api/console/logout").status_code == 403  # not even logged out by another site
    assert client.get(QUEUE).status_code == 200
    assert client.post(f"/api/console/tickets/{ticket}/claim", headers={CSRF_HEADER: token}).status_code == 200


def test_failed_logins_are_in_the_audit_log_without_the_typed_name(runtime: Runtime, client: TestClient) -> None:
    for _ in range(2):
        assert log_in(client, password="wrong password!").status_code == 401
    assert log_in(client, username="ghost-admin", password="wrong password!").status_code == 401
    with runtime.store.session() as session:
        zhang = session.exec(select(Lawyer).where(Lawyer.username == "zhang")).one()
        failed = session.exec(select(AuditEntry).where(AuditEntry.action == "login_failed")
                              .order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    assert [(e.lawyer_id, e.detail["known"]) for e in failed] == [(zhang.id, True), (zhang.id, True), (None, False)]
    assert not any("ghost" in str(e.detail) for e in failed)
    for _ in range(3):
        log_in(client, password="wrong password!")
    with runtime.store.session() as session:
        locked = session.exec(select(AuditEntry).where(AuditEntry.action == "login_locked")).all()
    assert [e.lawyer_id for e in locked] == [zhang.id]


def test_a_lawyer_cannot_act_on_a_colleagues_claimed_chat(runtime: Runtime, client: TestClient) -> None:
    """Ticket ids are small integers anyone can count: the id alone must not let one lawyer reply to,
    resolve, transfer or claim a chat another lawyer holds."""
    create_lawyer(runtime.store, "li", "another long secret", display_name="李律师")
    [ticket] = make_tickets(runtime, 1)
    log_in(client)
    assert client.post(f"/api/console/tickets/{ticket}/claim").status_code == 200
    with console(runtime) as other:
        log_in(other, "li", "another long secret")
        base = f"/api/console/tickets/{ticket}"
        assert other.post(f"{base}/claim").status_code == 409
        assert other.post(f"{base}/reply", json={"text": "我来回复"}).status_code == 409
        assert other.post(f"{base}/resolve", json={"outcome": "resolved_by_lawyer", "summary": "已解答其问题"}).status_code == 409
        assert other.post(f"{base}/transfer", json={"to": "li"}).status_code == 409
    with runtime.store.session() as session:
        texts = [m.text for m in session.exec(select(Message)).all()]
    assert "我来回复" not in texts
    view = client.get(f"/api/console/tickets/{ticket}").json()["ticket"]
    assert view["lawyer"] == "zhang" and view["status"] == "claimed"


# ---- audit ------------------------------------------------------------------------------------------


def test_viewing_a_ticket_is_audited(runtime: Runtime, client: TestClient) -> None:
    log_in(client)
    [ticket] = make_tickets(runtime, 1)
    for _ in range(3):  # the console re-reads an open ticket every few seconds: one entry, not three
        assert client.get(f"/api/console/tickets/{ticket}").status_code == 200
    with runtime.store.session() as session:
        views = session.exec(select(AuditEntry).where(AuditEntry.action == "ticket_viewed")).all()
        zhang = session.exec(select(Lawyer).where(Lawyer.username == "zhang")).one()
    assert [(v.lawyer_id, v.ticket_id) for v in views] == [(zhang.id, ticket)]


# ---- commands ---------------------------------------------------------------------------------------


@pytest.fixture
def cli(built_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(built_dir))
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def refused(result: Result, error: str) -> bool:
    """A clear error line and exit code 1, no exception escaping the command."""
    return result.exit_code == 1 and isinstance(result.exception, SystemExit) and error in result.output


def test_lawyer_commands(cli: CliRunner, database_url: str) -> None:
    assert cli.invoke(cli_app, ["lawyer", "add", "wang", "--password", PASSWORD]).exit_code == 0
    store = Store(database_url)
    try:
        def sessions() -> list[ConsoleSession]:
            with store.session() as session:
                return list(session.exec(select(ConsoleSession).where(ConsoleSession.revoked_at == None)).all())  # noqa: E711

        weak = cli.invoke(cli_app, ["lawyer", "passwd", "wang"], input="12345678\n12345678\n")
        assert refused(weak, "error: password must be at least 12 characters")
        lawyer = authenticate(store, "wang", PASSWORD)
        assert lawyer is not None and lawyer.id is not None
        from handoff.sessions import Timeouts, start_session

        def login() -> None:
            start_session(store, lawyer.id, Timeouts(dt.timedelta(hours=1), dt.timedelta(hours=1)))  # type: ignore[arg-type]

        login()
        changed = cli.invoke(cli_app, ["lawyer", "passwd", "wang"], input="a new long secret\na new long secret\n")
        assert changed.exit_code == 0, changed.output
        assert authenticate(store, "wang", "a new long secret") is not None and sessions() == []

        login()
        login()
        revoked = cli.invoke(cli_app, ["lawyer", "sessions", "revoke", "wang"])
        assert revoked.exit_code == 0 and "ended 2" in revoked.output and sessions() == []
        login()
        assert cli.invoke(cli_app, ["lawyer", "sessions", "revoke", "--all"]).exit_code == 0 and sessions() == []
        assert refused(cli.invoke(cli_app, ["lawyer", "sessions", "revoke"]), "error: give a USERNAME or --all")

        login()
        assert cli.invoke(cli_app, ["lawyer", "deactivate", "wang"]).exit_code == 0
        assert sessions() == [] and authenticate(store, "wang", "a new long secret") is None
        assert cli.invoke(cli_app, ["lawyer", "activate", "wang"]).exit_code == 0
        assert authenticate(store, "wang", "a new long secret") is not None

        for command in (["passwd", "nobody"], ["deactivate", "nobody"], ["sessions", "revoke", "nobody"]):
            missing = cli.invoke(cli_app, ["lawyer", *command], input="a new long secret\na new long secret\n")
            assert refused(missing, "error: no lawyer named 'nobody'"), command
    finally:
        store.dispose()
