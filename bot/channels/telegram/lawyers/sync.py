"""What Telegram's lawyers have been shown of each ticket, and what is still to do (worker threads)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from telegram import Update

from bot.channels.telegram.lawyers.views import LEASE, OPEN, group_state
from bot.store import (
    Conversation,
    HandoffTicket,
    Lawyer,
    Message,
    Store,
    TelegramTicketSync,
    TicketNote,
    utcnow,
)
from bot.taxonomy import TicketStatus

log = logging.getLogger(__name__)

@dataclass
class Snapshot:
    """A ticket and everything needed to bring its Telegram side up to date."""

    ticket: HandoffTicket
    sync: TelegramTicketSync
    channel: str
    holder: Lawyer | None  # the lawyer holding the chat, if any
    briefed: Lawyer | None  # the lawyer whose private chat has it, if any
    messages: list[Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def holder_chat(self) -> int | None:
        """The private chat of the lawyer holding the chat, when they are on Telegram."""
        if self.ticket.status != TicketStatus.claimed or self.holder is None:
            return None
        return self.holder.telegram_user_id


def command_of(text: str) -> tuple[str, str]:
    """``/Resolve@some_bot 已解答 说明`` → ``("resolve", "已解答 说明")``; ``("", text)`` for a non-command."""
    text = text.strip()
    if not text.startswith("/"):
        return "", text
    head, _, args = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), args.strip()


def is_link_command(update: Update) -> bool:
    """``/link CODE`` or ``/start link-CODE`` (the deep link): how a lawyer links their Telegram account."""
    command, args = command_of(update.message.text or "" if update.message is not None else "")
    return command == "link" or (command == "start" and args.startswith("link-"))


def needs_work(ticket: HandoffTicket, sync: TelegramTicketSync | None, holder: Lawyer | None,
               last_citizen_message: int | None, group_on: bool) -> bool:
    """Whether what Telegram shows of this ticket is behind it (cheap: no messages are loaded)."""
    sync = sync or TelegramTicketSync(ticket_id=ticket.id or 0)
    holder_on_telegram = (ticket.status == TicketStatus.claimed and holder is not None
                          and holder.telegram_user_id is not None)
    if group_on and group_state(ticket) != sync.group_shown and not (sync.group_shown is None and ticket.status not in OPEN):
        return True
    if sync.briefed_lawyer_id is not None and not (holder_on_telegram and ticket.lawyer_id == sync.briefed_lawyer_id):
        return True
    if not holder_on_telegram:
        return False
    assert holder is not None
    if sync.briefed_lawyer_id != holder.id:
        return True
    if last_citizen_message is not None and last_citizen_message > sync.forwarded_upto:
        return True
    return ticket.reminded_at is not None and ticket.reminded_at != sync.reminded_at


class SyncState:
    """Reads and writes of ``TelegramTicketSync`` (synchronous; called in worker threads)."""

    def __init__(self, store: Store, group_on: bool) -> None:
        self.store = store
        self.group_on = group_on

    def due(self, limit: int = 200) -> list[int]:
        """Tickets whose Telegram side is behind: open ones, and ended ones still shown as open."""
        with self.store.session() as session:
            rows = session.exec(
                select(HandoffTicket, TelegramTicketSync, Lawyer)
                .join(TelegramTicketSync, col(TelegramTicketSync.ticket_id) == HandoffTicket.id, isouter=True)
                .join(Lawyer, col(Lawyer.id) == HandoffTicket.lawyer_id, isouter=True)
                .where(col(HandoffTicket.status).in_(OPEN)).order_by(col(HandoffTicket.id))
            ).all()
            claimed = [t.conversation_id for t, _, _ in rows if t.status == TicketStatus.claimed]
            last_in: dict[int, int] = {}
            if claimed:
                last_in = {conversation_id: last or 0 for conversation_id, last in session.exec(
                    select(Message.conversation_id, func.max(Message.id))
                    .where(col(Message.conversation_id).in_(claimed), Message.direction == "in")
                    .group_by(col(Message.conversation_id))
                ).all()}
            behind: list[Any] = [col(TelegramTicketSync.briefed_lawyer_id).is_not(None)]
            if self.group_on:
                behind.append(and_(col(TelegramTicketSync.group_shown).is_not(None),
                                   col(TelegramTicketSync.group_shown) != "closed"))
            ended = session.exec(
                select(HandoffTicket.id).join(TelegramTicketSync, col(TelegramTicketSync.ticket_id) == HandoffTicket.id)
                .where(col(HandoffTicket.status).not_in(OPEN), or_(*behind)).limit(limit)
            ).all()
        due = [t.id for t, sync, holder in rows
               if t.id is not None and needs_work(t, sync, holder, last_in.get(t.conversation_id), self.group_on)]
        return (due + [i for i in ended if i is not None])[:limit]

    def lease(self, ticket_id: int) -> bool:
        """Take the ticket for this worker; False while another one has it."""
        now = utcnow()
        with self.store.session() as session:
            if session.get(TelegramTicketSync, ticket_id) is None:
                session.add(TelegramTicketSync(ticket_id=ticket_id))
                try:
                    session.commit()
                except IntegrityError:  # another worker created it first
                    session.rollback()
            result = session.execute(
                sql_update(TelegramTicketSync)
                .where(col(TelegramTicketSync.ticket_id) == ticket_id,
                       or_(col(TelegramTicketSync.lease_until).is_(None), col(TelegramTicketSync.lease_until) < now))
                .values(lease_until=now + LEASE)
            )
            session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, ticket_id: int) -> None:
        self.save(ticket_id, lease_until=None)

    def save(self, ticket_id: int, **values: Any) -> None:
        with self.store.session() as session:
            session.execute(sql_update(TelegramTicketSync)
                            .where(col(TelegramTicketSync.ticket_id) == ticket_id).values(**values))
            session.commit()

    def snapshot(self, ticket_id: int) -> Snapshot | None:
        with self.store.session() as session:
            ticket = session.get(HandoffTicket, ticket_id)
            sync = session.get(TelegramTicketSync, ticket_id)
            if ticket is None or sync is None:
                return None
            conversation = session.get(Conversation, ticket.conversation_id)
            holder = session.get(Lawyer, ticket.lawyer_id) if ticket.lawyer_id else None
            briefed = session.get(Lawyer, sync.briefed_lawyer_id) if sync.briefed_lawyer_id else None
            snap = Snapshot(ticket, sync, conversation.channel if conversation else "", holder, briefed)
            if snap.holder_chat is not None:
                snap.messages = list(session.exec(
                    select(Message).where(Message.conversation_id == ticket.conversation_id).order_by(col(Message.id))
                ).all())
                snap.notes = list(session.exec(
                    select(TicketNote.text).where(TicketNote.ticket_id == ticket_id).order_by(col(TicketNote.id))
                ).all())
        return snap

    def briefed(self, ticket_id: int, lawyer_id: int, upto: int) -> None:
        """The lawyer has the packet: forward from here on, and make it the chat they write to."""
        with self.store.session() as session:
            session.execute(sql_update(TelegramTicketSync).where(col(TelegramTicketSync.ticket_id) == ticket_id)
                            .values(briefed_lawyer_id=lawyer_id, forwarded_upto=upto, error=None))
            session.execute(sql_update(Lawyer).where(col(Lawyer.id) == lawyer_id).values(telegram_ticket_id=ticket_id))
            session.commit()

    def unbriefed(self, ticket_id: int, lawyer_id: int) -> None:
        """The lawyer no longer holds the chat; what they write goes to another chat of theirs, if any."""
        with self.store.session() as session:
            session.execute(sql_update(TelegramTicketSync).where(col(TelegramTicketSync.ticket_id) == ticket_id)
                            .values(briefed_lawyer_id=None))
            lawyer = session.get(Lawyer, lawyer_id)
            if lawyer is not None and lawyer.telegram_ticket_id == ticket_id:
                lawyer.telegram_ticket_id = session.exec(
                    select(HandoffTicket.id).where(HandoffTicket.lawyer_id == lawyer_id,
                                                   HandoffTicket.status == TicketStatus.claimed,
                                                   HandoffTicket.id != ticket_id)
                    .order_by(col(HandoffTicket.claimed_at).desc())
                ).first()
                session.add(lawyer)
            session.commit()


