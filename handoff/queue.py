"""The lawyers' queue: enqueue, claim exactly once, relay replies, resolve with an outcome."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, or_, update
from sqlmodel import Session, col, select

from bot.conversations import add_message, close_conversation, set_status
from bot.delivery import reply_window
from bot.replies import t
from bot.settings import Settings
from bot.store import (
    AuditEntry,
    Citizen,
    Conversation,
    HandoffTicket,
    Lawyer,
    Message,
    Store,
    TicketNote,
    lock_citizen,
    utcnow,
)
from bot.taxonomy import CHAT_ROLES, ConversationStatus, Outcome, Priority, TicketStatus

log = logging.getLogger(__name__)

LAWYER_OUTCOMES = (Outcome.resolved_by_lawyer, Outcome.referred, Outcome.emergency_referred, Outcome.out_of_scope)
#: A lawyer keeping a ticket open is audited as viewing it again this often.
VIEW_AUDIT_EVERY = dt.timedelta(minutes=10)


class HandoffError(Exception):
    """A lawyer action that cannot be done; the message is safe to show the lawyer."""


class AlreadyClaimed(HandoffError):
    pass


@dataclass
class TicketView:
    ticket: HandoffTicket
    lawyer_username: str | None
    channel: str
    #: For channels that limit replies (WeChat's customer-service window): when it closes and how many
    #: messages are left, so the console can count down; None where replies are unlimited.
    reply_window: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        tk = self.ticket
        waited_until = tk.claimed_at or utcnow()
        return {
            "id": tk.id, "status": tk.status, "priority": tk.priority, "service": tk.service, "topic": tk.topic,
            "summary": (tk.packet.get("first_message") or "")[:140], "reason": tk.reason,
            "created_at": tk.created_at.isoformat(), "waiting_seconds": int((waited_until - tk.created_at).total_seconds()),
            "lawyer": self.lawyer_username, "channel": self.channel, "outcome": tk.outcome,
            "escalated": tk.escalated_at is not None, "reminded": tk.reminded_at is not None,
            "language": tk.language, "reply_window": self.reply_window,
        }


#: Queue order of each priority, highest first; anything else ranks with ``normal``.
_RANK: dict[str, int] = {Priority.urgent: 0, Priority.overdue: 1, Priority.normal: 2}
_PRIORITY_ORDER = case(_RANK, value=col(HandoffTicket.priority), else_=_RANK[Priority.normal])


def audit(session: Session, lawyer_id: int | None, action: str, ticket_id: int | None = None,
          **detail: Any) -> None:
    session.add(AuditEntry(lawyer_id=lawyer_id, action=action, ticket_id=ticket_id, detail=detail))


def enqueue(session: Session, conversation: Conversation, *, urgent: bool, reason: str,
            packet: dict[str, Any]) -> HandoffTicket:
    assert conversation.id is not None
    citizen = session.get(Citizen, conversation.citizen_id)
    ticket = HandoffTicket(
        conversation_id=conversation.id, priority=Priority.urgent if urgent else Priority.normal,
        service=conversation.service, topic=conversation.topic, reason=reason, packet=packet,
        language=citizen.language if citizen else "zh",
    )
    session.add(ticket)
    if conversation.handoff_reason is None:  # the reports count a conversation by its first handoff
        conversation.handoff_reason = reason or "unknown"
    set_status(session, conversation, ConversationStatus.waiting)
    session.flush()
    return ticket


def position(session: Session, ticket: HandoffTicket) -> int:
    """How many waiting tickets are ahead of this one (urgent, then overdue, then oldest): one count."""
    if ticket.status != TicketStatus.waiting:
        return 0
    mine = literal(_RANK.get(ticket.priority, _RANK[Priority.normal]))
    earlier = or_(col(HandoffTicket.created_at) < ticket.created_at,
                  and_(col(HandoffTicket.created_at) == ticket.created_at, col(HandoffTicket.id) < (ticket.id or 0)))
    ahead = session.exec(
        select(func.count()).select_from(HandoffTicket).where(
            HandoffTicket.status == TicketStatus.waiting,
            or_(mine > _PRIORITY_ORDER, and_(mine == _PRIORITY_ORDER, earlier)))
    ).one()
    return int(ahead)


def in_service_hours(settings: Settings, now: dt.datetime | None = None) -> bool:
    """Whether lawyers are on duty (LEGALBOT_SERVICE_HOURS / LEGALBOT_SERVICE_DAYS, in LEGALBOT_TIMEZONE)."""
    now = now or dt.datetime.now(ZoneInfo(settings.timezone))
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in settings.service_hours.split("-"))
        days = {int(d) for d in settings.service_days.split(",") if d.strip()}
    except ValueError:
        log.warning("LEGALBOT_SERVICE_HOURS or _DAYS is malformed; treating lawyers as on duty")
        return True
    return now.isoweekday() in days and start <= now.time() < end


def open_ticket(session: Session, conversation_id: int) -> HandoffTicket | None:
    return session.exec(
        select(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id,
            col(HandoffTicket.status).in_([TicketStatus.waiting, TicketStatus.claimed]),
        )
    ).first()


def _citizen_waiting(session: Session, ticket: HandoffTicket, seen: dt.datetime, since: dt.datetime) -> bool:
    """Whether the citizen wrote after the lawyer was last seen, and before ``since``."""
    first_unanswered = session.exec(
        select(Message.created_at).where(Message.conversation_id == ticket.conversation_id,
                                         Message.direction == "in", col(Message.created_at) > seen)
        .order_by(col(Message.id))
    ).first()
    return first_unanswered is not None and first_unanswered <= since


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
            citizen = session.get(Citizen, conversation.citizen_id)
        window = reply_window(self.store, citizen) if citizen is not None else None
        return TicketView(ticket, lawyer.username if lawyer else None, conversation.channel, window), list(messages)

    def claim(self, ticket_id: int, lawyer: Lawyer) -> TicketView:
        """Exactly once: the update only succeeds while the ticket is still waiting."""
        with self.store.session() as session:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None:
                raise HandoffError("没有这个工单")
            citizen_id = self._hold_citizen_of(session, ticket)
            view = self._claim_held(session, ticket_id, lawyer) if citizen_id is not None else None
            if view is None:
                session.rollback()
                raise AlreadyClaimed("该工单已被其他律师接手或已结束")
            session.commit()
        log.info("ticket %s claimed by lawyer %s", ticket_id, lawyer.id)
        return view

    def next_for(self, session: Session, lawyer: Lawyer, skip: set[int] | None = None) -> int | None:
        """The ticket this lawyer should take next: urgent first, then their specialty and language,
        then the longest waiting. On PostgreSQL the row is locked with SKIP LOCKED, so concurrent
        claimers each get a different ticket instead of queueing behind one row."""
        specialty = case((col(HandoffTicket.topic).in_(lawyer.topics or ["-"]), 0), else_=1)
        language = case((col(HandoffTicket.language).in_(lawyer.languages or ["zh"]), 0), else_=1)
        query = (
            select(HandoffTicket.id).where(HandoffTicket.status == TicketStatus.waiting,
                                           col(HandoffTicket.id).not_in(skip or {0}))
            .order_by(_PRIORITY_ORDER, language, specialty, col(HandoffTicket.created_at), col(HandoffTicket.id))
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return session.exec(query).first()

    def claim_next(self, lawyer: Lawyer, attempts: int = 20) -> TicketView | None:
        """Claim the best waiting ticket for this lawyer, exactly once, or None if the queue is empty.

        A ticket whose citizen is being answered right now is passed over rather than waited for: a
        claimer holding a ticket never waits on a citizen (who may be waiting on that ticket)."""
        for _ in range(attempts):
            with self.store.session() as session:
                busy: set[int] = set()
                while (ticket_id := self.next_for(session, lawyer, busy)) is not None:
                    ticket = session.get(HandoffTicket, ticket_id)
                    assert ticket is not None
                    if self._hold_citizen_of(session, ticket, wait=False) is None:
                        busy.add(ticket_id)
                        continue
                    view = self._claim_held(session, ticket_id, lawyer)
                    if view is None:
                        break  # SQLite: somebody else was quicker; start again
                    session.commit()
                    log.info("ticket %s claimed by lawyer %s", ticket_id, lawyer.id)
                    return view
                session.rollback()
                if ticket_id is None and not busy:
                    return None
        return None

    def _hold_citizen_of(self, session: Session, ticket: HandoffTicket, wait: bool = True) -> int | None:
        """Hold the ticket's citizen (see ``lock_citizen``); None if ``wait`` is False and they are busy."""
        conversation = session.get(Conversation, ticket.conversation_id)
        assert conversation is not None
        citizen_id = conversation.citizen_id
        if wait:
            lock_citizen(session, citizen_id)
        elif session.get_bind().dialect.name == "postgresql":
            held = session.exec(select(Citizen.id).where(Citizen.id == citizen_id)
                                .with_for_update(skip_locked=True)).first()
            if held is None:
                return None
        session.refresh(ticket)
        session.refresh(conversation)
        return citizen_id

    def _claim_held(self, session: Session, ticket_id: int, lawyer: Lawyer) -> TicketView | None:
        """Claim with the citizen held: the conversation moves to the lawyer in the same transaction."""
        result = session.execute(
            update(HandoffTicket)
            .where(col(HandoffTicket.id) == ticket_id, col(HandoffTicket.status) == TicketStatus.waiting)
            .values(status=TicketStatus.claimed, lawyer_id=lawyer.id, claimed_at=utcnow())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        ticket = session.get(HandoffTicket, ticket_id)
        assert ticket is not None
        session.refresh(ticket)
        conversation = session.get(Conversation, ticket.conversation_id)
        assert conversation is not None
        if conversation.status == ConversationStatus.closed:
            return None  # a ticket left open by an old version; the caller rolls back
        citizen = session.get(Citizen, conversation.citizen_id)
        set_status(session, conversation, ConversationStatus.with_lawyer)
        add_message(session, conversation, direction="out", sender="system",
                    text=t("lawyer_joined", citizen.language if citizen else "zh", name=lawyer.display_name),
                    lawyer_id=lawyer.id)
        audit(session, lawyer.id, "claim", ticket_id)
        return TicketView(ticket, lawyer.username, conversation.channel)

    def record(self, lawyer: Lawyer, action: str, ticket_id: int | None = None, **detail: Any) -> None:
        with self.store.session() as session:
            audit(session, lawyer.id, action, ticket_id, **detail)
            session.commit()

    def viewed(self, ticket_id: int, lawyer: Lawyer) -> None:
        """Audit that the lawyer read the ticket, once per ``VIEW_AUDIT_EVERY`` while they keep it open
        (the console re-reads it every few seconds)."""
        since = utcnow() - VIEW_AUDIT_EVERY
        with self.store.session() as session:
            recent = session.exec(select(AuditEntry.id).where(
                AuditEntry.ticket_id == ticket_id, AuditEntry.lawyer_id == lawyer.id,
                AuditEntry.action == "ticket_viewed", col(AuditEntry.created_at) > since)).first()
            if recent is None:
                audit(session, lawyer.id, "ticket_viewed", ticket_id)
                session.commit()

    def roster(self, online_within: dt.timedelta = dt.timedelta(minutes=15)) -> list[dict[str, Any]]:
        """Active lawyers and whether they are online, for transfers and the dashboard."""
        now = utcnow()
        with self.store.session() as session:
            people = session.exec(select(Lawyer).where(Lawyer.active == True, col(Lawyer.role).in_(CHAT_ROLES))  # noqa: E712
                                  .order_by(col(Lawyer.username))).all()  # office staff never take chats
            return [{"username": p.username, "display_name": p.display_name, "topics": p.topics,
                     "online": bool(p.last_seen_at and now - p.last_seen_at < online_within)} for p in people]

    def touch(self, lawyer: Lawyer) -> None:
        """Record that the lawyer is present (called on every console request)."""
        with self.store.session() as session:
            session.execute(update(Lawyer).where(col(Lawyer.id) == lawyer.id).values(last_seen_at=utcnow()))
            session.commit()

    def release_stale_claims(self, offline_after: dt.timedelta, now: dt.datetime | None = None) -> list[int]:
        """Put back in the queue the tickets of lawyers who went offline, so no chat waits on nobody.

        A console lawyer is offline once their console stops asking for ``offline_after``. A lawyer with a
        linked Telegram account gets the citizen's messages on their phone, so their chat goes back only
        once the citizen has also been waiting unanswered that long."""
        now = now or utcnow()
        released: list[int] = []
        with self.store.session() as session:
            rows = session.exec(
                select(HandoffTicket, Lawyer).join(Lawyer, col(Lawyer.id) == HandoffTicket.lawyer_id)
                .where(HandoffTicket.status == TicketStatus.claimed).order_by(col(HandoffTicket.id))
            ).all()
            session.commit()
            for ticket, lawyer in rows:
                seen = lawyer.last_seen_at or ticket.claimed_at or now
                if now - seen < offline_after:
                    continue
                if lawyer.telegram_user_id is not None and not _citizen_waiting(session, ticket, seen, now - offline_after):
                    continue  # the citizen's messages reach this lawyer's phone; nobody is waiting on them yet
                self._hold_citizen_of(session, ticket)
                result = session.execute(
                    update(HandoffTicket)
                    .where(col(HandoffTicket.id) == ticket.id, col(HandoffTicket.status) == TicketStatus.claimed,
                           col(HandoffTicket.lawyer_id) == lawyer.id)
                    .values(status=TicketStatus.waiting, lawyer_id=None, claimed_at=None)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    session.commit()
                    continue
                conversation = session.get(Conversation, ticket.conversation_id)
                if conversation is not None and conversation.status == ConversationStatus.with_lawyer:
                    set_status(session, conversation, ConversationStatus.waiting)
                audit(session, lawyer.id, "released_offline", ticket.id)
                assert ticket.id is not None
                released.append(ticket.id)
                session.commit()  # one citizen held at a time
            session.commit()
        return released

    def sla_pass(self, escalate_after: dt.timedelta, remind_after: dt.timedelta,
                 now: dt.datetime | None = None) -> dict[str, list[int]]:
        """Escalate tickets nobody claimed in time (raise to overdue: above ordinary chats, below danger)
        and flag claimed chats where the lawyer has gone quiet. Driven by stored timestamps only, so a restart loses no timer."""
        now = now or utcnow()
        escalated: list[int] = []
        reminded: list[int] = []
        with self.store.session() as session:
            for ticket in session.exec(select(HandoffTicket).where(
                    HandoffTicket.status == TicketStatus.waiting, col(HandoffTicket.escalated_at).is_(None))
                    .order_by(col(HandoffTicket.id))).all():
                if now - ticket.created_at >= escalate_after:
                    ticket.escalated_at = now
                    if ticket.priority != Priority.urgent:
                        ticket.priority = Priority.overdue  # raised, but never above danger
                    session.add(ticket)
                    audit(session, None, "escalated", ticket.id, waited_minutes=int((now - ticket.created_at).total_seconds() // 60))
                    assert ticket.id is not None
                    escalated.append(ticket.id)
            for ticket in session.exec(select(HandoffTicket).where(
                    HandoffTicket.status == TicketStatus.claimed, col(HandoffTicket.reminded_at).is_(None))
                    .order_by(col(HandoffTicket.id))).all():
                last = session.exec(
                    select(Message.created_at).where(Message.conversation_id == ticket.conversation_id,
                                                     Message.sender == "lawyer")
                    .order_by(col(Message.id).desc())
                ).first() or ticket.claimed_at or ticket.created_at
                if now - last >= remind_after:
                    ticket.reminded_at = now
                    session.add(ticket)
                    audit(session, ticket.lawyer_id, "reminded", ticket.id)
                    assert ticket.id is not None
                    reminded.append(ticket.id)
            session.commit()
        for ticket_id in escalated:
            log.warning("ticket %s escalated: unclaimed past its SLA", ticket_id)
        return {"escalated": escalated, "reminded": reminded}

    def add_note(self, ticket_id: int, lawyer: Lawyer, text: str) -> TicketNote:
        text = text.strip()
        if not text:
            raise HandoffError("备注不能为空")
        with self.store.session() as session:
            if session.get(HandoffTicket, ticket_id) is None:
                raise HandoffError("没有这个工单")
            assert lawyer.id is not None
            note = TicketNote(ticket_id=ticket_id, lawyer_id=lawyer.id, text=text[:4000])
            session.add(note)
            audit(session, lawyer.id, "note", ticket_id)
            session.commit()
            return note

    def notes(self, ticket_id: int) -> list[tuple[TicketNote, str]]:
        with self.store.session() as session:
            rows = session.exec(
                select(TicketNote, Lawyer.display_name).join(Lawyer, col(Lawyer.id) == TicketNote.lawyer_id)
                .where(TicketNote.ticket_id == ticket_id).order_by(col(TicketNote.id))
            ).all()
            return [(note, name) for note, name in rows]

    def transfer(self, ticket_id: int, lawyer: Lawyer, to_username: str | None) -> TicketView:
        """Hand a claimed chat to a named colleague, or back to the queue (``to_username`` None)."""
        with self.store.session() as session:
            ticket, conversation = self._owned(session, ticket_id, lawyer)
            target = None
            if to_username:
                target = session.exec(select(Lawyer).where(Lawyer.username == to_username, Lawyer.active == True,  # noqa: E712
                                                           col(Lawyer.role).in_(CHAT_ROLES))).first()
                if target is None:
                    raise HandoffError(f"没有这位律师：{to_username}")
            ticket.lawyer_id = target.id if target else None
            ticket.status = TicketStatus.claimed if target else TicketStatus.waiting
            ticket.claimed_at = utcnow() if target else None
            ticket.reminded_at = None
            session.add(ticket)
            if target is None:
                set_status(session, conversation, ConversationStatus.waiting)
            audit(session, lawyer.id, "transfer", ticket_id, to=to_username)
            session.commit()
            return TicketView(ticket, target.username if target else None, conversation.channel)

    def audit_log(self, limit: int = 200) -> list[tuple[AuditEntry, str | None]]:
        with self.store.session() as session:
            rows = session.exec(
                select(AuditEntry, Lawyer.username).join(Lawyer, col(Lawyer.id) == AuditEntry.lawyer_id, isouter=True)
                .order_by(col(AuditEntry.id).desc()).limit(limit)
            ).all()
            return [(entry, username) for entry, username in rows]

    def _owned(self, session: Session, ticket_id: int, lawyer: Lawyer) -> tuple[HandoffTicket, Conversation]:
        """The ticket, if this lawyer holds it on an open conversation; the citizen is held until the
        transaction ends, so the conversation cannot close or move meanwhile."""
        ticket = session.get(HandoffTicket, ticket_id)
        if ticket is None:
            raise HandoffError("没有这个工单")
        self._hold_citizen_of(session, ticket)
        conversation = session.get(Conversation, ticket.conversation_id)
        assert conversation is not None
        if conversation.status == ConversationStatus.closed:
            raise HandoffError(f"该对话已结束（{conversation.outcome}），不能再回复或结案")
        if ticket.status != TicketStatus.claimed or ticket.lawyer_id != lawyer.id:
            raise HandoffError("只有接手该工单的律师才能回复或结案")
        return ticket, conversation

    def reply(self, ticket_id: int, lawyer: Lawyer, text: str) -> Message:
        text = text.strip()
        if not text:
            raise HandoffError("回复内容不能为空")
        if len(text) > 4000:
            raise HandoffError("回复太长（最多4000字）")
        with self.store.session() as session:
            ticket, conversation = self._owned(session, ticket_id, lawyer)
            message = add_message(session, conversation, direction="out", sender="lawyer", text=text,
                                  lawyer_id=lawyer.id)
            if ticket.reminded_at is not None:  # the lawyer answered: the reminder has done its job
                ticket.reminded_at = None
            if ticket.first_reply_at is None:  # time to first reply, in the reports
                ticket.first_reply_at = message.created_at
            session.add(ticket)
            audit(session, lawyer.id, "reply", ticket_id, chars=len(text))
            session.commit()
            return message

    def resolve(self, ticket_id: int, lawyer: Lawyer, outcome: str, summary: str, needless: bool = False) -> TicketView:
        """``needless``: the lawyer's mark that the bot could have answered this itself (the reports count it)."""
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
            ticket.needless = needless
            session.add(ticket)
            citizen = session.get(Citizen, conversation.citizen_id)
            lang = citizen.language if citizen else "zh"
            if not close_conversation(session, conversation, chosen, "lawyer_resolved"):
                raise HandoffError(f"该对话已结束（{conversation.outcome}）")
            audit(session, lawyer.id, "resolve", ticket_id, outcome=chosen.value, **({"needless": True} if needless else {}))
            add_message(session, conversation, direction="out", sender="system", text=t("resolved", lang),
                        buttons=[{"label": "★" * n, "payload": f"/rate:{n}"} for n in range(1, 6)])
            session.commit()
            log.info("ticket %s resolved by lawyer %s", ticket_id, lawyer.id)
            return TicketView(ticket, lawyer.username, conversation.channel)
