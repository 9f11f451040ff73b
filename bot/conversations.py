"""Conversation bookkeeping shared by the engine, the handoff queue and the sweeper."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.replies import t
from bot.store import Citizen, Conversation, HandoffTicket, Message, lock_citizen, utcnow
from bot.taxonomy import ConversationStatus, Outcome, TicketStatus

log = logging.getLogger(__name__)


def get_or_create_citizen(session: Session, channel: str, channel_user_id: str, language: str | None) -> Citizen:
    """Race-free: two workers seeing a new citizen's first messages at once create one row."""
    query = select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == channel_user_id)
    citizen = session.exec(query).first()
    if citizen is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(Citizen).values(channel=channel, channel_user_id=channel_user_id, language=language or "zh",
                                   created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["channel", "channel_user_id"])
        )
        citizen = session.exec(query).one()
    elif language and language != citizen.language:
        citizen.language = language
        session.add(citizen)
    return citizen


def open_conversation(session: Session, citizen: Citizen) -> Conversation:
    """The citizen's open conversation, or a new one if the last was closed.

    Call it holding the citizen (``lock_citizen``); the database also refuses a second open one."""
    conversation = session.exec(
        select(Conversation)
        .where(Conversation.citizen_id == citizen.id, Conversation.status != ConversationStatus.closed)
        .order_by(col(Conversation.id).desc())
    ).first()
    if conversation is None:
        assert citizen.id is not None
        conversation = Conversation(citizen_id=citizen.id, channel=citizen.channel, language=citizen.language)
        session.add(conversation)
        session.flush()
        # The citizen came back: their earlier conversations learn when (the reports' reopen rate).
        session.execute(update(Conversation).where(col(Conversation.citizen_id) == citizen.id,
                                                   col(Conversation.id) != conversation.id,
                                                   col(Conversation.returned_at).is_(None))
                        .values(returned_at=conversation.opened_at))
    return conversation


def add_message(session: Session, conversation: Conversation, *, direction: str, sender: str, text: str,
                kind: str = "text", buttons: list[dict[str, str]] | None = None,
                decision: dict[str, Any] | None = None, channel_message_id: str | None = None,
                lawyer_id: int | None = None) -> Message:
    assert conversation.id is not None
    message = Message(
        conversation_id=conversation.id, citizen_id=conversation.citizen_id, direction=direction,
        sender=sender, kind=kind, text=text, buttons=buttons or [], decision=decision,
        channel_message_id=channel_message_id, lawyer_id=lawyer_id,
    )
    session.add(message)
    conversation.last_activity_at = utcnow()
    session.add(conversation)
    session.flush()
    return message


def close_conversation(session: Session, conversation: Conversation, outcome: Outcome, reason: str,
                       ticket_status: TicketStatus = TicketStatus.expired) -> bool:
    """Close with exactly one outcome. Returns False if it was already closed (first close wins).

    The update is conditional on the conversation still being open, so two workers (a sweeper and a
    lawyer resolving) can never give one conversation two outcomes. A ticket still open on it ends
    too (as ``ticket_status``), so no lawyer holds a chat that is over.
    """
    now = utcnow()
    lock_citizen(session, conversation.citizen_id)
    result = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation.id, col(Conversation.status) != ConversationStatus.closed)
        .values(status=ConversationStatus.closed, outcome=outcome.value, closed_at=now, close_reason=reason)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(conversation)
        return False
    session.execute(
        update(HandoffTicket)
        .where(col(HandoffTicket.conversation_id) == conversation.id,
               col(HandoffTicket.status).in_([TicketStatus.waiting, TicketStatus.claimed]))
        .values(status=ticket_status, resolved_at=now, outcome=outcome.value)
    )
    session.refresh(conversation)
    return True


def set_status(session: Session, conversation: Conversation, status: ConversationStatus) -> None:
    """Move an open conversation on; a closed one stays closed (only ``close_conversation`` ends one)."""
    if conversation.status == ConversationStatus.closed:
        raise ValueError(f"conversation {conversation.id} is closed")
    conversation.status = status
    session.add(conversation)


def idle_deadline(status: str, now: datetime, bot_minutes: int, waiting_minutes: int,
                  lawyer_minutes: int) -> datetime:
    minutes = {
        ConversationStatus.waiting: waiting_minutes,
        ConversationStatus.with_lawyer: lawyer_minutes,
    }.get(ConversationStatus(status), bot_minutes)
    return now - timedelta(minutes=minutes)


def outcome_for_idle(session: Session, conversation: Conversation) -> tuple[Outcome, str]:
    """What an idle conversation ends as, from what happened in it."""
    if conversation.status == ConversationStatus.with_lawyer:
        lawyer_spoke = session.exec(
            select(Message.id).where(Message.conversation_id == conversation.id, Message.sender == "lawyer")
        ).first()
        return (Outcome.resolved_by_lawyer, "idle_with_lawyer") if lawyer_spoke else (Outcome.abandoned, "idle_with_lawyer")
    if conversation.status == ConversationStatus.waiting:
        # Nobody picked it up in time: the citizen was told to call 12348 (or the emergency numbers).
        return (Outcome.emergency_referred if conversation.urgent else Outcome.referred), "handoff_expired"
    if conversation.pending_outcome:
        return Outcome(conversation.pending_outcome), "idle"
    return Outcome.abandoned, "idle"


def sweep(session: Session, *, bot_minutes: int, waiting_minutes: int, lawyer_minutes: int,
          now: datetime | None = None) -> list[int]:
    """Close every conversation idle past its timeout; returns the ids closed.

    Each close holds its citizen and commits on its own, so the sweeper never waits on one citizen
    while holding another, and a citizen who wrote meanwhile keeps the conversation open."""
    now = now or utcnow()
    closed: list[int] = []
    candidates = session.exec(
        select(Conversation.id).where(Conversation.status != ConversationStatus.closed)
        .order_by(col(Conversation.id))
    ).all()
    for conversation_id in candidates:
        assert conversation_id is not None
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            continue
        lock_citizen(session, conversation.citizen_id)
        session.refresh(conversation)
        deadline = idle_deadline(conversation.status, now, bot_minutes, waiting_minutes, lawyer_minutes) \
            if conversation.status != ConversationStatus.closed else None
        if deadline is None or conversation.last_activity_at > deadline:
            session.commit()
            continue
        outcome, reason = outcome_for_idle(session, conversation)
        was_waiting = conversation.status == ConversationStatus.waiting
        if close_conversation(session, conversation, outcome, reason):
            if was_waiting:
                citizen = session.get(Citizen, conversation.citizen_id)
                add_message(session, conversation, direction="out", sender="system",
                            text=t("expired", citizen.language if citizen else "zh"))
            closed.append(conversation_id)
        session.commit()
    # Tickets left open on a closed conversation (before closes ended their tickets) end now.
    session.execute(
        update(HandoffTicket)
        .where(col(HandoffTicket.status).in_([TicketStatus.waiting, TicketStatus.claimed]),
               col(HandoffTicket.conversation_id).in_(
                   select(Conversation.id).where(Conversation.status == ConversationStatus.closed)))
        .values(status=TicketStatus.expired, resolved_at=now)
    )
    session.commit()
    if closed:
        log.info("sweeper closed %d idle conversations", len(closed))
    return closed
