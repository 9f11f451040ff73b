"""Console sessions kept in the database: a random token in the cookie, its SHA-256 in ``console_session``.

Any worker can end a session at once (logout, password change, deactivation, ``legalbot lawyer sessions
revoke``), which a signed cookie cannot offer. Each session also has a CSRF token, derived from its token,
that the console page sends back in a header with every request that changes something."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, delete, select

from bot.store import AuditEntry, ConsoleSession, Lawyer, Store, utcnow

COOKIE = "legalbot_console"
CSRF_HEADER = "X-CSRF-Token"
#: ``last_seen_at`` is written at most this often (the console polls every few seconds).
SEEN_EVERY = dt.timedelta(minutes=1)
#: Ended sessions are kept this long for the record, then purged.
KEEP_ENDED = dt.timedelta(days=30)


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta
    absolute: dt.timedelta


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The session's CSRF token: readable by the console page (it gets it from /login and /me), unlike the
    HttpOnly cookie, so a page on another site can send the cookie but never the token."""
    return hmac.new(token.encode(), b"legalbot console csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(token), sent)


def start_session(store: Store, lawyer_id: int, timeouts: Timeouts, user_agent: str | None = None) -> str:
    """A new session and its token: a fresh one at every login, so a token planted before login is useless."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with store.session() as session:
        session.add(ConsoleSession(token_hash=_hash(token), lawyer_id=lawyer_id, created_at=now, last_seen_at=now,
                                   expires_at=now + timeouts.absolute, user_agent=(user_agent or "")[:256] or None))
        session.commit()
    return token


def resolve_session(store: Store, token: str | None, timeouts: Timeouts) -> Lawyer | None:
    """The active lawyer whose live session this token is, else None; notes the session as used."""
    if not token or len(token) > 128:
        return None
    now = utcnow()
    with store.session() as session:
        row = session.exec(select(ConsoleSession).where(ConsoleSession.token_hash == _hash(token))).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now or row.last_seen_at + timeouts.idle <= now:
            return None
        lawyer = session.get(Lawyer, row.lawyer_id)
        if lawyer is None or not lawyer.active:
            return None
        if now - row.last_seen_at >= SEEN_EVERY:
            row.last_seen_at = now
            session.add(row)
            session.commit()
        return lawyer


def end_session(store: Store, token: str | None) -> None:
    if not token:
        return
    with store.session() as session:
        session.execute(update(ConsoleSession).where(col(ConsoleSession.token_hash) == _hash(token),
                                                     col(ConsoleSession.revoked_at).is_(None)).values(revoked_at=utcnow()))
        session.commit()


def end_sessions(store: Store, lawyer_id: int | None = None, reason: str = "revoked") -> int:
    """End every live session of one lawyer (or of all lawyers); how many there were. Audited."""
    now = utcnow()
    live = (col(ConsoleSession.revoked_at).is_(None), col(ConsoleSession.expires_at) > now)
    mine = (col(ConsoleSession.lawyer_id) == lawyer_id,) if lawyer_id is not None else ()
    with store.session() as session:
        result = session.execute(update(ConsoleSession).where(*live, *mine).values(revoked_at=now))
        ended = int(result.rowcount or 0)  # type: ignore[attr-defined]
        session.add(AuditEntry(lawyer_id=lawyer_id, action="sessions_ended", detail={"reason": reason, "count": ended}))
        session.commit()
    return ended


def purge_sessions(store: Store, now: dt.datetime | None = None) -> None:
    """Forget sessions that ended (expired or revoked) more than ``KEEP_ENDED`` ago."""
    before = (now or utcnow()) - KEEP_ENDED
    with store.session() as session:
        session.execute(delete(ConsoleSession).where(col(ConsoleSession.expires_at) < before))
        session.execute(delete(ConsoleSession).where(col(ConsoleSession.revoked_at) < before))
        session.commit()
