"""The lawyers' queue: enqueue, claim exactly once, relay replies, resolve with an outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from bot.conversations import add_message, close_conversation, set_status
from bot.replies import t
from bot.store import Citizen, Conversation, HandoffTicket, Lawyer, Message, Store, utcnow
from bot.taxonomy import ConversationStatus, Outcome, Priority, TicketStatus

log = logging.getLogger(__name__)

LAWYER_OUTCOMES = (Outcome.resolved_by_lawyer, Outcome.referred, Outcome.emergency_referred, Outcome.out_of_scope)


class HandoffError(Exception):
    """A lawyer action that cannot be done; the message is safe to show the lawyer."""


class AlreadyClaimed(HandoffError):
    pass


@dataclass
class TicketView:
    ticket: HandoffTicket
    lawyer_username: str | None
    channel: str

    def public(self) -> dict[str, Any]:
        tk = self.ticket
        waited_until = tk.claimed_at or utcnow()
        return {
            "id": tk.id, "status": tk.status, "priority": tk.priority, "service": tk.service, "topic": tk.topic,
            "summary": (tk.packet.get("first_message") or "")[:140], "reason": tk.reason,
            "created_at": tk.created_at.isoformat(), "waiting_seconds": int((waited_until - tk.created_at).total_seconds()),
            "lawyer": self.lawyer_username, "channel": self.channel, "outcome": tk.outcome,
        }


_PRIORITY_ORDER = case((col(HandoffTicket.priority) == Priority.urgent, 0), else_=1)


def enqueue(session: Session, conversation: Conversation, *, urgent: bool, reason: str,
            packet: dict[str, Any]) -> HandoffTicket:
    assert conversation.id is not None
    ticket = HandoffTicket(
        conversation_id=conversation.id, priority=Priority.urgent if urgent else Priority.normal,
        service=conversation.service, topic=conversation.topic, reason=reason, packet=packet,
    )
    session.add(ticket)
    set_status(session, conversation, ConversationStatus.waiting)
    session.flush()
    return ticket


def position(session: Session, ticket: HandoffTicket) -> int:
    """How many waiting tickets are ahead of this one (urgent first, then oldest)."""
    waiting = session.exec(
        select(HandoffTicket.id).where(HandoffTicket.status == TicketStatus.waiting)
        .order_by(_PRIORITY_ORDER, col(HandoffTicket.created_at), col(HandoffTicket.id))
    ).all()
    return waiting.index(ticket.id) if ticket.id in waiting else 0


def open_ticket(session: Session, conversation_id: int) -> HandoffTicket | None:
    return session.exec(
        select(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id,
            col(HandoffTicket.status).in_([TicketStatus.waiting, TicketStatus.claimed]),
        )
    ).first()


class HandoffQueue:
    """Lawyer-side operations, each in its own transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def tickets(self, statuses: tuple[str, ...] = (TicketStatus.waiting, TicketStatus.claimed),
                limit: int = 200) -> list[TicketView]:
        with self.store.session() as session:
            rows = session.exec(
                select(HandoffTicket, Lawyer.username, Conversation.channel)
                .join(Lawyer, col(Lawyer.id) == HandoffTicket.lawyer_id, isouter=True)
                .join(Conversation, col(Conversation.id) == HandoffTicket.conversation_id)
                .where(col(HandoffTicket.status).in_(statuses))
                .order_by(_PRIORITY_ORDER, col(HandoffTicket.created_at), col(HandoffTicket.id))
                .limit(limit)
            ).all()
            return [TicketView(ticket, username, channel) for ticket, username, channel in rows]

    def view(self, ticket_id: int) -> tuple[TicketView, list[Message]]:
        with self.store.session() as session:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None:
                raise HandoffError("没有这个工单")
            lawyer = session.get(Lawyer, ticket.lawyer_id) if ticket.lawyer_id else None
            conversation = session.get(Conversation, ticket.conversation_id)
            assert conversation is not None
            messages = session.exec(
                select(Message).where(Message.conversation_id == ticket.conversation_id).order_by(col(Message.id))
            ).all()
            return TicketView(ticket, lawyer.username if lawyer else None, conversation.channel), list(messages)

    def claim(self, ticket_id: int, lawyer: Lawyer) -> TicketView:
        """Exactly once: the update only succeeds while the ticket is still waiting."""
        with self.store.session() as session:
            now = utcnow()
            result = session.execute(
                update(HandoffTicket)
                .where(col(HandoffTicket.id) == ticket_id, col(HandoffTicket.status) == TicketStatus.waiting)
                .values(status=TicketStatus.claimed, lawyer_id=lawyer.id, claimed_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                exists = session.get(HandoffTicket, ticket_id)
                if exists is None:
                    raise HandoffError("没有这个工单")
                raise AlreadyClaimed("该工单已被其他律师接手或已结束")
            ticket = session.get(HandoffTicket, ticket_id)
            assert ticket is not None
            session.refresh(ticket)
            conversation = session.get(Conversation, ticket.conversation_id)
            assert conversation is not None
            citizen = session.get(Citizen, conversation.citizen_id)
            set_status(session, conversation, ConversationStatus.with_lawyer)
            add_message(session, conversation, direction="out", sender="system",
                        text=t("lawyer_joined", citizen.language if citizen else "zh", name=lawyer.display_name),
                        lawyer_id=lawyer.id)
            session.commit()
            log.info("ticket %s claimed by lawyer %s", ticket_id, lawyer.id)
            return TicketView(ticket, lawyer.username, conversation.channel)

    def claim_next(self, lawyer: Lawyer) -> TicketView | None:
        for view in self.tickets(statuses=(TicketStatus.waiting,)):
            assert view.ticket.id is not None
            try:
                return self.claim(view.ticket.id, lawyer)
            except AlreadyClaimed:
                continue
        return None

    def _owned(self, session: Session, ticket_id: int, lawyer: Lawyer) -> tuple[HandoffTicket, Conversation]:
        ticket = session.get(HandoffTicket, ticket_id)
        if ticket is None:
            raise HandoffError("没有这个工单")
        if ticket.status != TicketStatus.claimed or ticket.lawyer_id != lawyer.id:
            raise HandoffError("只有接手该工单的律师才能回复或结案")
        conversation = session.get(Conversation, ticket.conversation_id)
        assert conversation is not None
        return ticket, conversation

    def reply(self, ticket_id: int, lawyer: Lawyer, text: str) -> Message:
        text = text.strip()
        if not text:
            raise HandoffError("回复内容不能为空")
        if len(text) > 4000:
            raise HandoffError("回复太长（最多4000字）")
        with self.store.session() as session:
            _, conversation = self._owned(session, ticket_id, lawyer)
            message = add_message(session, conversation, direction="out", sender="lawyer", text=text,
                                  lawyer_id=lawyer.id)
            session.commit()
            return message

    def resolve(self, ticket_id: int, lawyer: Lawyer, outcome: str, summary: str) -> TicketView:
        try:
            chosen = Outcome(outcome)
        except ValueError:
            raise HandoffError(f"未知的结案结果：{outcome}") from None
        if chosen not in LAWYER_OUTCOMES:
            raise HandoffError(f"律师结案不能使用该结果：{outcome}")
        with self.store.session() as session:
            ticket, conversation = self._owned(session, ticket_id, lawyer)
            now = utcnow()
            ticket.status = TicketStatus.resolved
            ticket.resolved_at = now
            ticket.outcome = chosen.value
            ticket.summary = summary.strip()[:4000] or None
            session.add(ticket)
            citizen = session.get(Citizen, conversation.citizen_id)
            lang = citizen.language if citizen else "zh"
            close_conversation(session, conversation, chosen, "lawyer_resolved")
            add_message(session, conversation, direction="out", sender="system", text=t("resolved", lang),
                        buttons=[{"label": "★" * n, "payload": f"/rate:{n}"} for n in range(1, 6)])
            session.commit()
            log.info("ticket %s resolved by lawyer %s", ticket_id, lawyer.id)
            return TicketView(ticket, lawyer.username, conversation.channel)
