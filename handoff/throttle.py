"""Login throttling for the console, per account name and per client address, in the database so that
every worker process sees the same counts.

An attempt is admitted and counted as a failure *before* its password is checked, and the count is taken
back when it succeeds: so a burst of parallel guesses gets no more tries than guesses one after another.
Names that do not exist are counted and locked the same way, so a lockout tells nothing about which exist."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from bot.store import LoginThrottle, Store, utcnow


@dataclass(frozen=True)
class Limit:
    """``failures`` within ``window`` lock the key for ``lockout``."""

    failures: int
    window: dt.timedelta
    lockout: dt.timedelta


@dataclass(frozen=True)
class Key:
    scope: str  # account | address
    value: str
    limit: Limit

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.scope}\x00{self.value}".encode()).hexdigest()


class Throttled(Exception):
    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


def _row(session: Session, key: Key) -> LoginThrottle:
    """The key's row, locked until the transaction ends (PostgreSQL; SQLite transactions already are)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(LoginThrottle).values(key=key.digest, failures=0, window_started_at=utcnow())
                    .on_conflict_do_nothing())
    return session.exec(select(LoginThrottle).where(LoginThrottle.key == key.digest).with_for_update()).one()


def admit(store: Store, keys: Iterable[Key]) -> None:
    """Count an attempt against every key, or raise Throttled (counting nothing) if any is locked or full."""
    now = utcnow()
    with store.session() as session:
        rows = [(key, _row(session, key)) for key in keys]
        refused: list[dt.datetime] = []
        for key, row in rows:
            if row.locked_until is not None and row.locked_until > now:
                refused.append(row.locked_until)
                continue
            if row.locked_until is not None or row.window_started_at + key.limit.window <= now:
                row.failures, row.window_started_at, row.locked_until = 0, now, None
            if row.failures >= key.limit.failures:  # attempts still being checked fill the window
                refused.append(row.window_started_at + key.limit.window)
        if refused:
            session.rollback()
            raise Throttled(max(refused))
        for _, row in rows:
            row.failures += 1
            session.add(row)
        session.commit()


def failed(store: Store, keys: Iterable[Key]) -> dt.datetime | None:
    """The admitted attempt failed: lock the keys that reached their limit; until when, if any did."""
    now = utcnow()
    locked: list[dt.datetime] = []
    with store.session() as session:
        for key in keys:
            row = _row(session, key)
            if row.failures >= key.limit.failures and row.locked_until is None:
                row.locked_until = now + key.limit.lockout
                session.add(row)
            if row.locked_until is not None and row.locked_until > now:
                locked.append(row.locked_until)
        session.commit()
    return max(locked) if locked else None


def succeeded(store: Store, account: Key, others: Iterable[Key]) -> None:
    """The admitted attempt succeeded: the account starts afresh; the other keys take back its count."""
    with store.session() as session:
        session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == account.digest))
        for key in others:
            row = _row(session, key)
            row.failures = max(0, row.failures - 1)
            session.add(row)
        session.commit()


def purge(store: Store, longest: dt.timedelta, now: dt.datetime | None = None) -> None:
    """Forget keys whose window and lockout are both over (``longest``: the longest window + lockout)."""
    before = (now or utcnow()) - longest
    with store.session() as session:
        session.execute(delete(LoginThrottle).where(col(LoginThrottle.window_started_at) < before))
        session.commit()
