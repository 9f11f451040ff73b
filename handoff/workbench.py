"""What the lawyer's workbench adds to the queue: finding tickets (search, filters, sorting, the history of
ended chats), labels, outcome tags, @mentions in notes, and the ratings citizens gave.

Every ticket transition stays in handoff/queue.py; this module reads, and parses what lawyers type."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from bot.store import Citizen, Conversation, Feedback, HandoffTicket, Lawyer, Message, utcnow
from bot.taxonomy import Priority, Service, TicketStatus, Topic

#: What a resolving lawyer may tick besides the outcome; the reports and the history filter by them.
OUTCOME_TAGS: dict[str, str] = {
    "advice_given": "已给出法律意见",
    "guided_to_arbitration": "引导劳动仲裁",
    "guided_to_litigation": "引导起诉",
    "guided_to_legal_aid": "引导申请法律援助",
    "guided_to_mediation": "引导人民调解",
    "referred_to_agency": "转介其他部门",
    "needs_follow_up": "需要回访",
    "needs_documents": "待群众补充材料",
    "citizen_unreachable": "群众未再回复",
    "danger_reported": "已提示报警或求助",
}

#: A summary shorter than this is not a summary (every way of resolving requires one).
MIN_SUMMARY = 4
SUMMARY_NEEDED = f"请填写处理摘要（至少{MIN_SUMMARY}个字）"
MAX_LABELS = 10
MAX_LABEL_CHARS = 20

#: Which tickets a status filter means; "open" is what the queue shows by default.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "open": (TicketStatus.waiting, TicketStatus.claimed),
    "waiting": (TicketStatus.waiting,),
    "claimed": (TicketStatus.claimed,),
    "resolved": (TicketStatus.resolved,),
    "expired": (TicketStatus.expired, TicketStatus.cancelled),
    "closed": (TicketStatus.resolved, TicketStatus.expired, TicketStatus.cancelled),
    "all": tuple(TicketStatus),
}
SORTS = ("queue", "newest", "oldest", "activity")

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]{2,64})")
_TICKET_NUMBER = re.compile(r"^#?(\d{1,12})$")


class FilterError(ValueError):
    """A filter the queue cannot apply; the message is safe to show the lawyer."""


@dataclass
class TicketFilter:
    status: str = "open"
    q: str = ""
    priority: str = ""
    service: str = ""
    topic: str = ""
    language: str = ""
    channel: str = ""
    #: A username, "me", or "none" (nobody holds it).
    assignee: str = ""
    label: str = ""
    tag: str = ""
    sort: str = "queue"
    limit: int = 200
    closed_since: dt.datetime | None = None

    def check(self) -> TicketFilter:
        """Refuse values no ticket can have, naming the field (the console shows the message)."""
        closed: dict[str, tuple[object, ...]] = {
            "status": tuple(STATUS_FILTERS), "priority": tuple(Priority), "service": tuple(Service),
            "topic": tuple(Topic), "sort": SORTS, "tag": tuple(OUTCOME_TAGS),
        }
        for name, allowed in closed.items():
            value = getattr(self, name)
            if value and value not in allowed:
                raise FilterError(f"筛选条件 {name} 不能是 {value!r}")
        self.q = self.q.strip()[:100]
        self.limit = max(1, min(self.limit, 500))
        return self


def clean_labels(labels: list[str]) -> list[str]:
    """Trimmed, de-duplicated, within limits; raises FilterError naming the problem."""
    out: list[str] = []
    for raw in labels:
        label = " ".join(str(raw).split())
        if not label:
            continue
        if len(label) > MAX_LABEL_CHARS:
            raise FilterError(f"标签“{label[:10]}…”太长（最多{MAX_LABEL_CHARS}字）")
        if label not in out:
            out.append(label)
    if len(out) > MAX_LABELS:
        raise FilterError(f"标签太多（最多{MAX_LABELS}个）")
    return out


def check_tags(tags: list[str]) -> list[str]:
    unknown = [t for t in tags if t not in OUTCOME_TAGS]
    if unknown:
        raise FilterError(f"未知的结案标签：{'、'.join(unknown)}")
    return list(dict.fromkeys(tags))


def tags_in(text: str) -> tuple[list[str], str]:
    """Outcome tags written as "#需要回访" (or "#needs_follow_up") in a summary typed where there is no form
    (Telegram): their slugs, and the summary without them."""
    found = []
    for slug, label in OUTCOME_TAGS.items():
        for written in (f"#{label}", f"#{slug}"):
            if written in text:
                found.append(slug)
                text = text.replace(written, " ")
    return list(dict.fromkeys(found)), " ".join(text.split())


def mentioned(text: str) -> list[str]:
    """The usernames a note names with @, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in _MENTION.finditer(text)))


def _json_contains(column: Any, value: str) -> ColumnElement[bool]:
    """Whether a JSON list column holds ``value``: the list is stored as json.dumps writes it, on SQLite
    and PostgreSQL alike, so the element's own JSON text is a substring of it."""
    return cast(column, String).contains(json.dumps(value), autoescape=True)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_clause(q: str) -> ColumnElement[bool]:
    """Text, a citizen (name or channel id) or a ticket number (#12 or 12)."""
    number = _TICKET_NUMBER.match(q)
    pattern = "%" + _escape_like(q) + "%"
    said = (select(Message.id).where(Message.conversation_id == HandoffTicket.conversation_id,
                                     col(Message.text).ilike(pattern, escape="\\")).exists())
    who = (select(Citizen.id).where(Citizen.id == Conversation.citizen_id,
                                    or_(col(Citizen.display_name).ilike(pattern, escape="\\"),
                                        col(Citizen.channel_user_id).ilike(pattern, escape="\\"))).exists())
    clauses: list[ColumnElement[bool]] = [said, who, col(HandoffTicket.summary).ilike(pattern, escape="\\")]
    if number:
        clauses.insert(0, col(HandoffTicket.id) == int(number.group(1)))
    return or_(*clauses)


def where(f: TicketFilter, me: Lawyer) -> list[ColumnElement[bool]]:
    """The SQL conditions of a filter (the query joins the ticket's conversation)."""
    conditions: list[ColumnElement[bool]] = [col(HandoffTicket.status).in_(STATUS_FILTERS[f.status or "open"])]
    if f.q:
        conditions.append(search_clause(f.q))
    for name in ("priority", "service", "topic", "language"):
        value = getattr(f, name)
        if value:
            conditions.append(getattr(HandoffTicket, name) == value)
    if f.channel:
        conditions.append(col(Conversation.channel) == f.channel)
    if f.assignee == "me":
        conditions.append(col(HandoffTicket.lawyer_id) == me.id)
    elif f.assignee == "none":
        conditions.append(col(HandoffTicket.lawyer_id).is_(None))
    elif f.assignee:
        conditions.append(col(HandoffTicket.lawyer_id).in_(select(Lawyer.id).where(Lawyer.username == f.assignee)))
    if f.label:
        conditions.append(_json_contains(HandoffTicket.labels, f.label))
    if f.tag:
        conditions.append(_json_contains(HandoffTicket.tags, f.tag))
    if f.closed_since is not None:
        conditions.append(col(HandoffTicket.resolved_at) >= f.closed_since)
    return conditions


def labels_in_use(session: Session, recent: int = 2000) -> list[str]:
    """Every label on the most recent tickets, most used first (for the filter and for suggestions)."""
    counts: dict[str, int] = {}
    for labels in session.exec(select(HandoffTicket.labels).order_by(col(HandoffTicket.id).desc()).limit(recent)).all():
        for label in labels or []:
            counts[label] = counts.get(label, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def ratings_of(session: Session, conversation_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each conversation's latest star rating and comment."""
    if not conversation_ids:
        return {}
    rows = session.exec(
        select(Feedback).where(col(Feedback.conversation_id).in_(conversation_ids),
                               col(Feedback.kind).in_(("rating", "comment")))
        .order_by(col(Feedback.id))).all()
    ratings: dict[int, dict[str, Any]] = {}
    comments: dict[int, str] = {}
    for fb in rows:  # the latest of each wins; a comment is its own row, written after the stars
        if fb.kind == "rating" and fb.rating is not None:
            ratings[fb.conversation_id] = {"stars": fb.rating, "comment": "", "at": fb.created_at.isoformat()}
        elif fb.kind == "comment" and fb.comment:
            comments[fb.conversation_id] = fb.comment
    for conversation_id, rating in ratings.items():
        rating["comment"] = comments.get(conversation_id, "")
    return ratings


def lawyer_page(session: Session, lawyer: Lawyer, days: int = 90, recent: int = 50) -> dict[str, Any]:
    """A lawyer's own page: their chats resolved in the last ``days`` with what citizens said of them."""
    since = utcnow() - dt.timedelta(days=days)
    tickets = session.exec(
        select(HandoffTicket).where(HandoffTicket.lawyer_id == lawyer.id, HandoffTicket.status == TicketStatus.resolved,
                                    col(HandoffTicket.resolved_at) >= since)
        .order_by(col(HandoffTicket.resolved_at).desc())).all()
    ratings = ratings_of(session, [t.conversation_id for t in tickets])
    stars = [r["stars"] for r in ratings.values()]
    return {
        "days": days, "resolved": len(tickets), "rated": len(stars),
        "average": round(sum(stars) / len(stars), 2) if stars else None,
        "distribution": {str(n): stars.count(n) for n in range(1, 6)},
        "tickets": [{"id": t.id, "resolved_at": t.resolved_at.isoformat() if t.resolved_at else None,
                     "topic": t.topic, "service": t.service, "outcome": t.outcome, "summary": t.summary or "",
                     "tags": t.tags, "rating": ratings.get(t.conversation_id)} for t in tickets[:recent]],
    }


def count(session: Session, f: TicketFilter, me: Lawyer) -> int:
    query = (select(func.count()).select_from(HandoffTicket)
             .join(Conversation, col(Conversation.id) == HandoffTicket.conversation_id)
             .where(*where(f, me)))
    return int(session.exec(query).one())
