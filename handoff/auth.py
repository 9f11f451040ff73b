"""Lawyer accounts: scrypt password hashes, constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlmodel import select

from bot.store import Lawyer, Store

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


def create_lawyer(store: Store, username: str, password: str, display_name: str | None = None,
                  role: str = "lawyer", topics: list[str] | None = None) -> Lawyer:
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("username must be 1-64 characters")
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    if role not in ("lawyer", "admin"):
        raise AccountError("role must be lawyer or admin")
    with store.session() as session:
        if session.exec(select(Lawyer).where(Lawyer.username == username)).first():
            raise AccountError(f"a lawyer named {username!r} already exists")
        lawyer = Lawyer(username=username, display_name=display_name or username, role=role,
                        password_hash=hash_password(password), topics=topics or [])
        session.add(lawyer)
        session.commit()
        return lawyer


def authenticate(store: Store, username: str, password: str) -> Lawyer | None:
    with store.session() as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.username == username, Lawyer.active == True)).first()  # noqa: E712
    if lawyer is None:
        verify_password(password, hash_password("timing-equaliser"))
        return None
    return lawyer if verify_password(password, lawyer.password_hash) else None


def has_lawyers(store: Store) -> bool:
    with store.session() as session:
        return session.exec(select(Lawyer.id)).first() is not None
