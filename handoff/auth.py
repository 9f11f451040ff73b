"""Lawyer accounts: scrypt password hashes, the password policy, constant-time checks, linked Telegram accounts."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from functools import cache
from pathlib import Path

from sqlmodel import select

from bot.store import AuditEntry, Lawyer, Store, utcnow
from bot.taxonomy import CHAT_ROLES, Role
from handoff.sessions import end_sessions

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected))
    return hmac.compare_digest(digest, expected)


class AccountError(ValueError):
    pass


MIN_PASSWORD = 12
MAX_PASSWORD = 256  # what the console's login form accepts
COMMON_PASSWORDS = Path(__file__).resolve().parent / "common_passwords.txt"


@cache
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_password(password: str, username: str) -> None:
    """Refuse a password that is short or easy to guess, with the reason (AccountError)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password must be at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise AccountError("password must not be only spaces")
    if len(set(password)) < 5:
        raise AccountError("password repeats too few characters; use at least 5 different ones")
    if password.isdigit():
        raise AccountError("password must not be only digits (phone, ID and birth date numbers are guessed first)")
    if password.strip().lower() in _common_passwords():
        raise AccountError("password is on the list of common passwords; choose another")
    name = username.strip().lower()
    if len(name) >= 3 and name in password.lower():
        raise AccountError("password must not contain the username")


ROLES = tuple(r.value for r in Role)


def create_lawyer(store: Store, username: str, password: str, display_name: str | None = None,
                  role: str = "lawyer", topics: list[str] | None = None, office: str | None = None) -> Lawyer:
    """A console account. Role ``office`` is a back office's staff (services/applications.py): it handles
    the applications of one office of the city file, ``office`` (the caller checks the id against the
    file), and never sees the lawyers' queue."""
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("username must be 1-64 characters")
    check_password(password, username)
    if role not in ROLES:
        raise AccountError("role must be lawyer, admin, office or manager")
    office = (office or "").strip() or None
    if role == "office" and office is None:
        raise AccountError("an office account needs the id of its office in the city file (--office)")
    if role != "office" and office is not None:
        raise AccountError(f"only office accounts belong to an office; a {role} account does not")
    if office is not None and len(office) > 64:
        raise AccountError("office id must be at most 64 characters")
    with store.session() as session:
        if session.exec(select(Lawyer).where(Lawyer.username == username)).first():
            raise AccountError(f"a lawyer named {username!r} already exists")
        lawyer = Lawyer(username=username, display_name=display_name or username, role=role,
                        password_hash=hash_password(password), topics=topics or [], office=office)
        session.add(lawyer)
        session.commit()
        return lawyer


def lawyer_named(store: Store, username: str) -> Lawyer:
    with store.session() as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.username == username)).first()
    if lawyer is None:
        raise AccountError(f"no lawyer named {username!r}")
    return lawyer


def change_password(store: Store, username: str, password: str) -> Lawyer:
    """Set a new password and end the lawyer's console sessions (whoever knew the old one is logged out)."""
    lawyer = lawyer_named(store, username)
    check_password(password, lawyer.username)
    with store.session() as session:
        stored = session.get(Lawyer, lawyer.id)
        assert stored is not None
        stored.password_hash = hash_password(password)
        session.add(stored)
        session.add(AuditEntry(lawyer_id=stored.id, action="password_changed", detail={}))
        session.commit()
    assert lawyer.id is not None
    end_sessions(store, lawyer.id, reason="password_changed")
    return lawyer


def set_active(store: Store, username: str, active: bool) -> Lawyer:
    """Deactivate (or reactivate) an account; deactivating ends its console sessions at once. The lawyer's
    claimed chats go back to the queue once they count as offline, like any absent lawyer's."""
    lawyer = lawyer_named(store, username)
    with store.session() as session:
        stored = session.get(Lawyer, lawyer.id)
        assert stored is not None
        stored.active = active
        session.add(stored)
        session.add(AuditEntry(lawyer_id=stored.id, action="activated" if active else "deactivated", detail={}))
        session.commit()
    if not active:
        assert lawyer.id is not None
        end_sessions(store, lawyer.id, reason="deactivated")
    return lawyer


#: What an unknown name's password is checked against, so that refusing it costs one scrypt run, the same
#: as refusing a known name's wrong password: the time taken does not tell which names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def authenticate(store: Store, username: str, password: str) -> Lawyer | None:
    with store.session() as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.username == username, Lawyer.active == True)).first()  # noqa: E712
    if lawyer is None:
        verify_password(password, _DUMMY_HASH)
        return None
    return lawyer if verify_password(password, lawyer.password_hash) else None


def has_lawyers(store: Store) -> bool:
    with store.session() as session:
        return session.exec(select(Lawyer.id)).first() is not None


# ---- Telegram accounts (Telegram lawyer mode) ------------------------------------------------------

TELEGRAM_LINK_TTL = dt.timedelta(minutes=15)
_LINK_CODE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue_telegram_link(store: Store, lawyer_id: int) -> str:
    """A one-time code, valid for 15 minutes, that links the Telegram account sending it to this lawyer.

    Only its hash is kept; a new code replaces an unused one."""
    code = secrets.token_urlsafe(12)
    with store.session() as session:
        lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None or not lawyer.active:
            raise AccountError("no such active lawyer")
        if lawyer.role not in CHAT_ROLES:
            raise AccountError(f"{lawyer.role} accounts do not use Telegram lawyer mode (it is for citizens' chats)")
        lawyer.telegram_link_hash = _code_hash(code)
        lawyer.telegram_link_expires_at = utcnow() + TELEGRAM_LINK_TTL
        session.add(lawyer)
        session.commit()
    return code


def redeem_telegram_link(store: Store, code: str, telegram_user_id: int) -> Lawyer | None:
    """Link ``telegram_user_id`` to the lawyer whose unexpired code this is, once; None for a bad code.

    A Telegram account linked to another lawyer before moves to this one."""
    code = code.strip()
    if not _LINK_CODE.match(code):
        return None
    with store.session() as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.telegram_link_hash == _code_hash(code),
                                                   Lawyer.active == True)).first()  # noqa: E712
        if lawyer is None or lawyer.telegram_link_expires_at is None or lawyer.telegram_link_expires_at < utcnow():
            return None
        for other in session.exec(select(Lawyer).where(Lawyer.telegram_user_id == telegram_user_id,
                                                       Lawyer.id != lawyer.id)).all():
            other.telegram_user_id = None
            other.telegram_ticket_id = None
            session.add(other)
            session.add(AuditEntry(lawyer_id=other.id, action="telegram_unlinked", detail={"moved": True}))
        session.flush()  # the unique account id is free before it is given to this lawyer
        lawyer.telegram_user_id = telegram_user_id
        lawyer.telegram_link_hash = None
        lawyer.telegram_link_expires_at = None
        session.add(lawyer)
        session.add(AuditEntry(lawyer_id=lawyer.id, action="telegram_linked", detail={}))
        session.commit()
        return lawyer


def unlink_telegram(store: Store, lawyer_id: int) -> bool:
    """Forget a lawyer's Telegram account; their claimed chats stay theirs in the console."""
    with store.session() as session:
        lawyer = session.get(Lawyer, lawyer_id)
        if lawyer is None or lawyer.telegram_user_id is None:
            return False
        lawyer.telegram_user_id = None
        lawyer.telegram_ticket_id = None
        session.add(lawyer)
        session.add(AuditEntry(lawyer_id=lawyer.id, action="telegram_unlinked", detail={}))
        session.commit()
        return True


def lawyer_by_telegram(store: Store, telegram_user_id: int) -> Lawyer | None:
    with store.session() as session:
        return session.exec(select(Lawyer).where(Lawyer.telegram_user_id == telegram_user_id,
                                                 Lawyer.active == True)).first()  # noqa: E712
