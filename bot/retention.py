"""Retention: what citizens wrote is kept only as long as the service needs it.

PIPL (个人信息保护法) art. 19: personal information is kept no longer than its purpose needs. A closed
conversation's purpose is over; after ``LEGALBOT_RETENTION_DAYS`` its texts are erased (messages, the
question awaiting clarification, the handoff packet and summary, lawyers' notes, feedback comments), the
photos and files sent for applications that ended before then are deleted (rows and files), and
a citizen silent that long loses their channel id (openid, chat id, web client id) as in
``actions.delete_citizen_data``. Every row stays, with its service, topic, outcome, rating and times,
so the bureau's statistics still add up. Idempotent and batched; the sweeper calls it once an hour.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, or_, update
from sqlmodel import Session, col, select

from bot.settings import get_settings
from bot.store import (
    AuditEntry,
    Citizen,
    Conversation,
    Feedback,
    HandoffTicket,
    Message,
    Store,
    TicketNote,
    WebChat,
    utcnow,
)
from bot.taxonomy import ConversationStatus
from services import attachments
from services.applications import FINAL, erase_closed

log = logging.getLogger(__name__)

#: How a citizen's channel id reads once retention has anonymised it (deletion on request uses "erased:").
EXPIRED_PREFIX = "expired:"
_ANONYMOUS = ("erased:%", EXPIRED_PREFIX + "%")
#: Keys of a message's recorded decision that repeat what the citizen wrote.
_FREE_TEXT_KEYS = frozenset({"text"})
#: How often the sweeper looks (seconds); the pass itself is cheap when nothing is due.
EVERY = 3600.0
_next_pass: dict[str, float] = {}


def erase_expired(store: Store, days: int, *, now: dt.datetime | None = None, batch: int = 200,
                  data_dir: Path | None = None) -> int:
    """Erase the texts of conversations closed more than ``days`` ago; returns how many were erased.

    ``days`` 0 keeps everything. ``data_dir`` holds the attachments (the running settings' when None). Each batch commits on its own, so a long first pass never holds the
    database; a conversation is erased whole or not at all."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    erased, after = 0, 0
    while True:
        with store.session() as session:
            ids = [i for i in session.exec(_expired_conversations(cutoff, after, batch)).all() if i is not None]
            if not ids:
                break
            _erase(session, ids)
            session.commit()
        erased += len(ids)
        after = max(ids)
    with store.session() as session:  # what citizens told applications that ended long ago
        applications = erase_closed(session, cutoff)
        files = attachments.delete_ended(session, data_dir if data_dir is not None else get_settings().data_dir,
                                         cutoff, FINAL)
        session.commit()
    forgotten = _forget_silent_citizens(store, cutoff, batch)
    keys = _forget_idle_web_chats(store, cutoff)
    if erased or forgotten or keys or applications or files:
        with store.session() as session:
            session.add(AuditEntry(action="retention_erased",
                                   detail={"conversations": erased, "citizens": forgotten, "web_chats": keys,
                                           "applications": applications, "attachments": files,
                                           "days": days}))
            session.commit()
        log.info("retention: erased the texts of %d conversations closed over %d days ago; %d citizens anonymised",
                 erased, days, forgotten)
    return erased


def erase_if_due(store: Store, days: int, every: float = EVERY, data_dir: Path | None = None) -> int:
    """``erase_expired`` at most once per ``every`` seconds per database (the sweeper runs each minute)."""
    clock = time.monotonic()
    if clock < _next_pass.get(store.url, 0.0):
        return 0
    _next_pass[store.url] = clock + every
    return erase_expired(store, days, data_dir=data_dir)


def _expired_conversations(cutoff: dt.datetime, after: int, batch: int) -> Any:
    has_text = exists().where(col(Message.conversation_id) == Conversation.id, col(Message.text) != "")
    return (
        select(Conversation.id)
        .where(Conversation.status == ConversationStatus.closed, col(Conversation.closed_at) < cutoff,
               col(Conversation.id) > after, or_(has_text, col(Conversation.clarify_text).is_not(None)))
        .order_by(col(Conversation.id)).limit(batch)
    )


def _erase(session: Session, conversation_ids: list[int]) -> None:
    messages = session.exec(select(Message).where(col(Message.conversation_id).in_(conversation_ids))).all()
    for message in messages:
        message.text = ""
        message.buttons = []
        message.delivery_error = None
        if message.decision and _FREE_TEXT_KEYS & message.decision.keys():
            message.decision = {k: v for k, v in message.decision.items() if k not in _FREE_TEXT_KEYS}
        session.add(message)
    in_these = col(HandoffTicket.conversation_id).in_(conversation_ids)
    session.execute(update(HandoffTicket).where(in_these).values(packet={}, summary=None))
    ticket_ids = select(HandoffTicket.id).where(in_these)
    session.execute(update(TicketNote).where(col(TicketNote.ticket_id).in_(ticket_ids)).values(text=""))
    session.execute(update(Feedback).where(col(Feedback.conversation_id).in_(conversation_ids)).values(comment=None))
    session.execute(update(Conversation).where(col(Conversation.id).in_(conversation_ids)).values(clarify_text=None))


def _forget_silent_citizens(store: Store, cutoff: dt.datetime, batch: int) -> int:
    """Citizens with nothing open and nothing since the cutoff: their channel id becomes a salted hash."""
    recent = exists().where(
        col(Conversation.citizen_id) == Citizen.id,
        or_(col(Conversation.status) != ConversationStatus.closed, col(Conversation.closed_at) >= cutoff,
            col(Conversation.last_activity_at) >= cutoff),
    )
    query = (
        select(Citizen)
        .where(col(Citizen.created_at) < cutoff, ~recent,
               and_(*(~col(Citizen.channel_user_id).like(pattern) for pattern in _ANONYMOUS)))
        .order_by(col(Citizen.id)).limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL: not a citizen a worker is processing right now
    )
    forgotten = 0
    while True:
        with store.session() as session:
            citizens = session.exec(query).all()
            for citizen in citizens:
                salt = secrets.token_bytes(32)
                digest = hashlib.sha256(salt + citizen.channel_user_id.encode()).hexdigest()[:40]
                citizen.channel_user_id = EXPIRED_PREFIX + digest
                citizen.display_name = None
                citizen.last_inbound_at = None
                session.add(citizen)
            session.commit()
        forgotten += len(citizens)
        if len(citizens) < batch:
            return forgotten


def _forget_idle_web_chats(store: Store, cutoff: dt.datetime) -> int:
    """Web chat keys older than the cutoff that no citizen holds any more (anonymised, deleted, or a chat
    started and never used): they open nothing, and kept they would pile up without end."""
    held = exists().where(col(Citizen.channel) == "web", col(Citizen.channel_user_id) == WebChat.id)
    with store.session() as session:
        result = session.execute(delete(WebChat).where(col(WebChat.created_at) < cutoff, ~held))
        session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
