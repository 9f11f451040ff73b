"""The lawyers' queue: enqueue, claim exactly once, relay replies, resolve with an outcome."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.conversations import add_message, close_conversation, open_conversation, set_status
from bot.delivery import reply_window
from bot.replies import t
from bot.settings import Settings
from bot.store import (
    AuditEntry,
    Citizen,
    Conversation,
    HandoffTicket,
    Lawyer,
    Mention,
    Message,
    Store,
    TicketNote,
    lock_citizen,
    utcnow,
)
from bot.taxonomy import CHAT_ROLES, ConversationStatus, Outcome, Priority, Service, TicketStatus, Topic
from handoff import workbench
from handoff.packet import history
from handoff.workbench import FilterError, TicketFilter
from nlu.urgency import BODILY

log = logging.getLogger(__name__)

LAWYER_OUTCOMES = (Outcome.resolved_by_lawyer, Outcome.referred, Outcome.emergency_referred, Outcome.out_of_scope)
#: The button under a lawyer's closing message: the citizen takes the same matter up again (engine.py).
REOPEN = "/reopen:"
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
    #: The citizen's newest message (the console notices a reply in a lawyer's own chat by it).
    last_in_id: int | None = None
    #: The citizen's rating of the conversation, once given: stars and comment.
    rating: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        tk = self.ticket
        waited_until = tk.claimed_at or utcnow()
        snoozed = tk.snoozed_until
        return {
            "id": tk.id, "status": tk.status, "priority": tk.priority, "service": tk.service, "topic": tk.topic,
            "summary": (tk.packet.get("gist") or tk.packet.get("first_message") or "")[:140], "reason": tk.reason,
            "created_at": tk.created_at.isoformat(), "waiting_seconds": int((waited_until - tk.created_at).total_seconds()),
            "lawyer": self.lawyer_username, "channel": self.channel, "outcome": tk.outcome,
            "escalated": tk.escalated_at is not None, "reminded": tk.reminded_at is not None,
            "language": tk.language, "reply_window": self.reply_window,
            "in_danger": tk.in_danger, "urgent_reasons": list(tk.packet.get("urgent_reasons") or [])[:3],
            "labels": list(tk.labels or []), "tags": list(tk.tags or []),
            "snoozed_until": snoozed.isoformat() if snoozed else None,
            "snooze_due": snoozed is not None and snoozed <= utcnow(),
            "resolved_at": tk.resolved_at.isoformat() if tk.resolved_at else None,
            "closing_summary": tk.summary or "", "reopened_from": tk.reopened_from,
            "last_in_id": self.last_in_id, "rating": self.rating,
        }


#: Queue order of each priority, highest first; anything else ranks with ``normal``.
_RANK: dict[str, int] = {Priority.urgent: 0, Priority.overdue: 1, Priority.normal: 2}
_PRIORITY_ORDER = case(_RANK, value=col(HandoffTicket.priority), else_=_RANK[Priority.normal])
#: Among urgent chats, someone being hurt now before a deadline or a detention.
_DANGER_FIRST = case((col(HandoffTicket.in_danger) == True, 0), else_=1)  # noqa: E712


def audit(session: Session, lawyer_id: int | None, action: str, ticket_id: int | None = None,
          **detail: Any) -> None:
    session.add(AuditEntry(lawyer_id=lawyer_id, action=action, ticket_id=ticket_id, detail=detail))


def enqueue(session: Session, conversation: Conversation, *, urgent: bool, reason: str,
            packet: dict[str, Any]) -> HandoffTicket:
    assert conversation.id is not None
    citizen = session.get(Citizen, conversation.citizen_id)
    reasons = set(packet.get("urgent_reasons") or [])
    ticket = HandoffTicket(
        conversation_id=conversation.id, priority=Priority.urgent if urgent else Priority.normal,
        in_danger=urgent and (bool(reasons & BODILY) or packet.get("safety_check") == "danger"),
        service=conversation.service, topic=conversation.topic, reason=reason, packet=packet,
        language=citizen.language if citizen else "zh",
    )
    session.add(ticket)
    if conversation.handoff_reason is None:  # the reports count a conversation by its first handoff
        conversation.handoff_reason = reason or "unknown"
    set_status(session, conversation, ConversationStatus.waiting)
    session.flush()
    return ticket


def continues(ticket: HandoffTicket, old: HandoffTicket) -> None:
    """Mark a new ticket as taking up an ended one again (by its lawyer or by the citizen): the packet names
    it and its summary, and claim-next offers it to the lawyer who had it."""
    ticket.reopened_from = old.id
    ticket.packet = {**ticket.packet, "reopened_from": old.id, "previous_summary": old.summary or ""}


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
                .order_by(_PRIORITY_ORDER, _DANGER_FIRST, col(HandoffTicket.created_at), col(HandoffTicket.id))
                .limit(limit)
            ).all()
            return [TicketView(ticket, username, channel) for ticket, username, channel in rows]

    def find(self, f: TicketFilter, me: Lawyer) -> tuple[list[TicketView], int]:
        """The tickets a workbench filter matches, in its order, and how many match in all.

        In queue order a snoozed chat sinks below the others until its time comes."""
        f.check()
        now = utcnow()
        snoozing = case((col(HandoffTicket.snoozed_until) > now, 1), else_=0)
        order = {
            "queue": (snoozing, _PRIORITY_ORDER, _DANGER_FIRST, col(HandoffTicket.created_at), col(HandoffTicket.id)),
            "oldest": (col(HandoffTicket.created_at), col(HandoffTicket.id)),
            "newest": (col(HandoffTicket.created_at).desc(), col(HandoffTicket.id).desc()),
            "activity": (col(Conversation.last_activity_at).desc(), col(HandoffTicket.id).desc()),
        }[f.sort or "queue"]
        last_in = (select(func.max(Message.id)).where(Message.conversation_id == HandoffTicket.conversation_id,
                                                      Message.direction == "in").scalar_subquery())
        with self.store.session() as session:
            rows = session.exec(
                select(HandoffTicket, Lawyer.username, Conversation.channel, last_in)
                .join(Lawyer, col(Lawyer.id) == HandoffTicket.lawyer_id, isouter=True)
                .join(Conversation, col(Conversation.id) == HandoffTicket.conversation_id)
                .where(*workbench.where(f, me)).order_by(*order).limit(f.limit)
            ).all()
            total = len(rows) if len(rows) < f.limit else workbench.count(session, f, me)
            ratings = workbench.ratings_of(session, [t.conversation_id for t, *_ in rows
                                                     if t.status == TicketStatus.resolved])
            return [TicketView(t, username, channel, last_in_id=last, rating=ratings.get(t.conversation_id))
                    for t, username, channel, last in rows], total

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
            rating = workbench.ratings_of(session, [conversation.id or 0]).get(conversation.id or 0)
        window = reply_window(self.store, citizen) if citizen is not None else None
        last_in = max((m.id or 0 for m in messages if m.direction == "in"), default=None)
        return (TicketView(ticket, lawyer.username if lawyer else None, conversation.channel, window,
                           last_in_id=last_in, rating=rating), list(messages))

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
        """The ticket this lawyer should take next: urgent first (someone being hurt before the rest), then a citizen of theirs who came back,
        then their language and specialty, then the longest waiting. On PostgreSQL the row is locked with SKIP LOCKED, so concurrent
        claimers each get a different ticket instead of queueing behind one row."""
        specialty = case((col(HandoffTicket.topic).in_(lawyer.topics or ["-"]), 0), else_=1)
        language = case((col(HandoffTicket.language).in_(lawyer.languages or ["zh"]), 0), else_=1)
        earlier = aliased(HandoffTicket)
        theirs = case((col(HandoffTicket.reopened_from).in_(  # a citizen who came back, to the lawyer who knows them
            select(earlier.id).where(earlier.lawyer_id == lawyer.id)), 0), else_=1)
        query = (
            select(HandoffTicket.id).where(HandoffTicket.status == TicketStatus.waiting,
                                           col(HandoffTicket.id).not_in(skip or {0}))
            .order_by(_PRIORITY_ORDER, _DANGER_FIRST, theirs, language, specialty, col(HandoffTicket.created_at),
                      col(HandoffTicket.id))
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
        """A private note; each colleague it names with @username is told (``mentions``). A name that is
        no colleague's is refused, so nobody believes a colleague was told when nobody was."""
        text = text.strip()
        if not text:
            raise HandoffError("备注不能为空")
        with self.store.session() as session:
            if session.get(HandoffTicket, ticket_id) is None:
                raise HandoffError("没有这个工单")
            assert lawyer.id is not None
            names = workbench.mentioned(text)
            people = session.exec(select(Lawyer).where(col(Lawyer.username).in_(names), Lawyer.active == True,  # noqa: E712
                                                       col(Lawyer.role).in_(CHAT_ROLES))).all() if names else []
            unknown = sorted(set(names) - {p.username for p in people})
            if unknown:
                raise HandoffError(f"没有这位同事：@{'、@'.join(unknown)}")
            note = TicketNote(ticket_id=ticket_id, lawyer_id=lawyer.id, text=text[:4000])
            session.add(note)
            session.flush()
            assert note.id is not None
            for person in people:
                if person.id != lawyer.id:
                    assert person.id is not None
                    session.add(Mention(note_id=note.id, ticket_id=ticket_id, lawyer_id=person.id))
            audit(session, lawyer.id, "note", ticket_id, **({"mentions": [p.username for p in people]} if people else {}))
            session.commit()
            return note

    def mentions(self, lawyer: Lawyer, limit: int = 50) -> list[dict[str, Any]]:
        """Notes that named this lawyer and that they have not opened yet, newest first."""
        with self.store.session() as session:
            rows = session.exec(
                select(Mention, TicketNote.text, Lawyer.display_name)
                .join(TicketNote, col(TicketNote.id) == Mention.note_id)
                .join(Lawyer, col(Lawyer.id) == TicketNote.lawyer_id)
                .where(Mention.lawyer_id == lawyer.id, col(Mention.read_at).is_(None))
                .order_by(col(Mention.id).desc()).limit(limit)).all()
            return [{"id": m.id, "ticket_id": m.ticket_id, "text": text[:300], "author": author,
                     "created_at": m.created_at.isoformat()} for m, text, author in rows]

    def read_mentions(self, lawyer: Lawyer, ticket_id: int) -> int:
        """The lawyer opened the ticket: its mentions of them are read."""
        with self.store.session() as session:
            result = session.execute(update(Mention).where(col(Mention.lawyer_id) == lawyer.id,
                                                           col(Mention.ticket_id) == ticket_id,
                                                           col(Mention.read_at).is_(None)).values(read_at=utcnow()))
            session.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def set_labels(self, ticket_id: int, lawyer: Lawyer, labels: list[str]) -> TicketView:
        """Any lawyer on duty may label any ticket, open or ended (labels are for finding it again)."""
        try:
            cleaned = workbench.clean_labels(labels)
        except FilterError as exc:
            raise HandoffError(str(exc)) from None
        with self.store.session() as session:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None:
                raise HandoffError("没有这个工单")
            before = list(ticket.labels or [])
            ticket.labels = cleaned
            session.add(ticket)
            audit(session, lawyer.id, "labels", ticket_id, added=[x for x in cleaned if x not in before],
                  removed=[x for x in before if x not in cleaned])
            session.commit()
            return self._view_of(session, ticket)

    def reclassify(self, ticket_id: int, lawyer: Lawyer, service: str | None, topic: str | None) -> TicketView:
        """A lawyer's correction of what the bot understood. The ticket and its conversation change (so the
        reports count the right area), and the audit entry is what `legalbot nlu review` offers as a label."""
        try:
            new_service = Service(service) if service else None
            new_topic = Topic(topic) if topic else None
        except ValueError:
            raise HandoffError(f"未知的服务或法律领域：{service or ''} {topic or ''}".strip()) from None
        with self.store.session() as session:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None:
                raise HandoffError("没有这个工单")
            conversation = session.get(Conversation, ticket.conversation_id)
            assert conversation is not None
            was = {"service": ticket.service, "topic": ticket.topic}
            now = {"service": new_service.value if new_service else ticket.service,
                   "topic": new_topic.value if new_topic else ticket.topic}
            if now == was:
                return self._view_of(session, ticket)
            ticket.service, ticket.topic = now["service"], now["topic"]
            conversation.service, conversation.topic = now["service"], now["topic"]
            session.add(ticket)
            session.add(conversation)
            audit(session, lawyer.id, "reclassified", ticket_id, was=was, now=now,
                  conversation_id=conversation.id)
            session.commit()
            return self._view_of(session, ticket)

    def snooze(self, ticket_id: int, lawyer: Lawyer, until: dt.datetime | None) -> TicketView:
        """Put one's own chat aside until ``until`` (None: back now). It comes back as a reminder."""
        if until is not None and until <= utcnow():
            raise HandoffError("提醒时间必须在将来")
        if until is not None and until - utcnow() > dt.timedelta(days=30):
            raise HandoffError("最多只能推迟30天")
        with self.store.session() as session:
            ticket, _conversation = self._owned(session, ticket_id, lawyer)
            ticket.snoozed_until = until
            session.add(ticket)
            audit(session, lawyer.id, "snooze" if until else "unsnooze", ticket_id,
                  **({"until": until.isoformat()} if until else {}))
            session.commit()
            return self._view_of(session, ticket)

    def reopen(self, ticket_id: int, lawyer: Lawyer) -> TicketView:
        """Take an ended chat up again. The ended conversation keeps its outcome (it was counted); the
        lawyer continues in the citizen's open conversation, or a new one, under a new ticket that says
        which one it continues and is already theirs."""
        with self.store.session() as session:
            old = session.get(HandoffTicket, ticket_id)
            if old is None:
                raise HandoffError("没有这个工单")
            if old.status in (TicketStatus.waiting, TicketStatus.claimed):
                raise HandoffError("该咨询尚未结束，无需重新打开")
            ended = session.get(Conversation, old.conversation_id)
            assert ended is not None
            citizen = session.get(Citizen, ended.citizen_id)
            if citizen is None:
                raise HandoffError("该群众的资料已删除，无法重新打开")
            lock_citizen(session, citizen.id or 0)
            conversation = open_conversation(session, citizen)
            current = open_ticket(session, conversation.id or 0)
            if current is not None:
                raise HandoffError(f"该群众已有进行中的人工咨询（#{current.id}）")
            if conversation.service is None and conversation.topic is None:
                conversation.service, conversation.topic = old.service, old.topic
            ticket = enqueue(session, conversation, urgent=old.priority == Priority.urgent, reason="reopened",
                             packet={**old.packet, **history(session, conversation), "reason": "reopened"})
            continues(ticket, old)
            ticket.labels = list(old.labels or [])
            session.flush()
            view = self._claim_held(session, ticket.id or 0, lawyer)
            if view is None:
                session.rollback()
                raise HandoffError("重新打开失败，请重试")
            audit(session, lawyer.id, "reopen", ticket.id, reopened_from=old.id)
            session.commit()
            return view

    def _view_of(self, session: Session, ticket: HandoffTicket) -> TicketView:
        lawyer = session.get(Lawyer, ticket.lawyer_id) if ticket.lawyer_id else None
        conversation = session.get(Conversation, ticket.conversation_id)
        session.refresh(ticket)
        return TicketView(ticket, lawyer.username if lawyer else None, conversation.channel if conversation else "")

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
            ticket.snoozed_until = None
            if ticket.first_reply_at is None:  # time to first reply, in the reports
                ticket.first_reply_at = message.created_at
            session.add(ticket)
            audit(session, lawyer.id, "reply", ticket_id, chars=len(text))
            session.commit()
            return message

    def resolve(self, ticket_id: int, lawyer: Lawyer, outcome: str, summary: str, needless: bool = False,
                tags: list[str] | None = None) -> TicketView:
        """``needless``: the lawyer's mark that the bot could have answered this itself (the reports count it);
        ``tags``: what else happened (workbench.OUTCOME_TAGS)."""
        try:
            chosen = Outcome(outcome)
            checked_tags = workbench.check_tags(tags or [])
        except ValueError as exc:
            raise HandoffError(str(exc) if isinstance(exc, FilterError) else f"未知的结案结果：{outcome}") from None
        if chosen not in LAWYER_OUTCOMES:
            raise HandoffError(f"律师结案不能使用该结果：{outcome}")
        if len(summary.strip()) < workbench.MIN_SUMMARY:
            raise HandoffError(workbench.SUMMARY_NEEDED)
        with self.store.session() as session:
            ticket, conversation = self._owned(session, ticket_id, lawyer)
            now = utcnow()
            ticket.status = TicketStatus.resolved
            ticket.resolved_at = now
            ticket.outcome = chosen.value
            ticket.summary = summary.strip()[:4000]
            ticket.needless = needless
            ticket.tags = checked_tags
            ticket.snoozed_until = None
            session.add(ticket)
            citizen = session.get(Citizen, conversation.citizen_id)
            lang = citizen.language if citizen else "zh"
            if not close_conversation(session, conversation, chosen, "lawyer_resolved"):
                raise HandoffError(f"该对话已结束（{conversation.outcome}）")
            audit(session, lawyer.id, "resolve", ticket_id, outcome=chosen.value, **({"needless": True} if needless else {}),
                  **({"tags": checked_tags} if checked_tags else {}))
            add_message(session, conversation, direction="out", sender="system", text=t("resolved", lang),
                        buttons=[*({"label": "★" * n, "payload": f"/rate:{n}"} for n in range(1, 6)),
                                 {"label": t("btn_reopen", lang), "payload": f"{REOPEN}{ticket_id}"}])
            session.commit()
            log.info("ticket %s resolved by lawyer %s", ticket_id, lawyer.id)
            return TicketView(ticket, lawyer.username, conversation.channel)
