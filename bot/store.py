"""Tables and the session factory. SQLite by default, PostgreSQL when ``DATABASE_URL`` says so.

Each table follows sqlmodel's split: a ``*Base`` with the public fields, the ``table=True`` model,
and a ``*Public`` model for API responses, so message text and personal data only leave through
models that name them on purpose.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, event, text
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from bot.taxonomy import ConversationStatus, Priority, TicketStatus

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Aware UTC: sqlmodel's UTCDateTime stores and returns it the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC)


class Citizen(SQLModel, table=True):
    __tablename__ = "citizen"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    channel_user_id: str = Field(max_length=128)
    language: str = Field(default="zh", max_length=8)
    display_name: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    #: Set once the disclaimer and privacy notice have been shown.
    notice_shown_at: datetime | None = None
    #: The last message the citizen sent (WeChat allows customer-service replies for 48 hours after it).
    last_inbound_at: datetime | None = None


class ConversationBase(SQLModel):
    channel: str = Field(max_length=32)
    status: str = Field(default=ConversationStatus.bot, max_length=16, index=True)
    service: str | None = Field(default=None, max_length=32)
    topic: str | None = Field(default=None, max_length=32)
    urgent: bool = False
    outcome: str | None = Field(default=None, max_length=32)
    opened_at: datetime = Field(default_factory=utcnow, index=True)
    closed_at: datetime | None = None
    #: The citizen's language when it opened (reports filter by it).
    language: str | None = Field(default=None, max_length=8)
    #: The district the citizen named (an application, a shared location), for the reports; else None.
    district: str | None = Field(default=None, max_length=64)


class Conversation(ConversationBase, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_citizen_status", "citizen_id", "status"),
        # At most one open conversation per citizen, whatever two workers do at once.
        Index("ux_conversation_open", "citizen_id", unique=True,
              sqlite_where=text("status != 'closed'"), postgresql_where=text("status != 'closed'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    last_activity_at: datetime = Field(default_factory=utcnow, index=True)
    #: What the outcome would be if the conversation ended now (e.g. an answer was given).
    pending_outcome: str | None = Field(default=None, max_length=32)
    close_reason: str | None = Field(default=None, max_length=64)
    #: The question that led to a clarifying prompt, answered once the citizen picks a category.
    clarify_text: str | None = Field(default=None, sa_column=Column(Text))
    last_faq_id: str | None = Field(default=None, max_length=128)
    #: For the reports, kept as things happen so that a year is counted without joins: the reason of the
    #: first handoff (None while never handed off), and when the same citizen next opened a conversation.
    handoff_reason: str | None = Field(default=None, max_length=64)
    returned_at: datetime | None = None
    #: A calculation being asked for (calculators/dialogue.py): its kind, the answers so far, what is asked.
    calculation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ConversationPublic(ConversationBase):
    id: int


class MessageBase(SQLModel):
    direction: str = Field(max_length=4)  # "in" | "out"
    sender: str = Field(max_length=16)  # citizen | bot | lawyer | system
    kind: str = Field(default="text", max_length=16)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    buttons: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Message(MessageBase, table=True):
    __tablename__ = "message"
    __table_args__ = (
        # The inbox: inbound messages the engine has not processed yet (a burst being held, a crash).
        Index("ix_message_unprocessed", "citizen_id",
              sqlite_where=text("direction = 'in' AND processed_at IS NULL AND NOT failed"),
              postgresql_where=text("direction = 'in' AND processed_at IS NULL AND NOT failed")),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    channel_message_id: str | None = Field(default=None, max_length=128)
    lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id")
    #: What NLU and retrieval decided for an incoming message, or why a reply was sent.
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: Processing failed after the message was stored (the citizen got an apology).
    failed: bool = False
    #: Inbound: when the engine processed it (set in the same transaction as its replies), so a message
    #: stored but never processed — held for a burst, or its worker killed — is found and processed.
    processed_at: datetime | None = None
    #: Outgoing: the inbound message whose processing produced it (the last fragment of a burst).
    reply_to: int | None = Field(default=None, index=True)
    #: For outgoing messages on push channels (Telegram, WeChat): when the channel accepted it. The relay
    #: sends every outgoing message still without it, so a lawyer's reply survives a restart.
    delivered_at: datetime | None = None
    #: A relay took this message for sending (a lease, so that two workers never send it twice).
    delivery_claimed_at: datetime | None = None
    delivery_attempts: int = 0
    delivery_error: str | None = Field(default=None, max_length=500)


class MessagePublic(MessageBase):
    id: int


def public_message(message: Message) -> dict[str, Any]:
    """What a citizen's page or a lawyer's console may show of a message (no decision, no delivery data)."""
    data = MessagePublic.model_validate(message, from_attributes=True).model_dump(mode="json")
    return {k: data[k] for k in ("id", "direction", "sender", "kind", "text", "buttons", "created_at")}


class InboundUpdate(SQLModel, table=True):
    """One row per channel delivery (Telegram update_id, WeChat MsgId): a redelivery is recognised and
    dropped, so a citizen never gets a second reply. Inserted before processing, in its own transaction."""

    __tablename__ = "inbound_update"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    key: str = Field(max_length=128)
    received_at: datetime = Field(default_factory=utcnow)


class WebChat(SQLModel, table=True):
    """A web chat's key: the server issues a random secret when the page starts a chat and keeps only its
    SHA-256, so a chat id seen in a log or guessed opens nothing. ``id`` is the citizen's channel user id."""

    __tablename__ = "web_chat"

    id: str = Field(primary_key=True, max_length=64)
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class WeChatNonce(SQLModel, table=True):
    """A signed WeChat push seen within the freshness window: the same timestamp and nonce again is a replay.
    In the database, not in memory, so that every worker refuses it; rows older than the window are pruned."""

    __tablename__ = "wechat_nonce"
    __table_args__ = (UniqueConstraint("timestamp", "nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    #: The push's own (signed) timestamp: it is refused as stale after the window, so its row can go then.
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    nonce: str = Field(max_length=64)
    #: SHA-256 of the body: the same body again is WeChat retrying; another body is forged.
    body_hash: str = Field(max_length=64)


class Lawyer(SQLModel, table=True):
    __tablename__ = "lawyer"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=128)
    password_hash: str = Field(max_length=256)
    role: str = Field(default="lawyer", max_length=16)  # lawyer | admin | office
    #: For role ``office``: the city file's office id whose applications this account handles.
    office: str | None = Field(default=None, max_length=64, index=True)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    languages: list[str] = Field(default_factory=lambda: ["zh"], sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    #: Last request from this lawyer's console or Telegram; a lawyer unseen for a while is offline.
    last_seen_at: datetime | None = None
    #: The lawyer's Telegram account, once linked with a one-time code (Telegram lawyer mode).
    telegram_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True, nullable=True))
    #: The chat that what the lawyer writes to the bot on Telegram goes to.
    telegram_ticket_id: int | None = None
    #: SHA-256 of the one-time code that links a Telegram account, and when the code expires.
    telegram_link_hash: str | None = Field(default=None, max_length=64)
    telegram_link_expires_at: datetime | None = None


class HandoffTicketBase(SQLModel):
    status: str = Field(default=TicketStatus.waiting, max_length=16, index=True)
    priority: str = Field(default=Priority.normal, max_length=16)
    service: str | None = Field(default=None, max_length=32)
    topic: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=32)


class HandoffTicket(HandoffTicketBase, table=True):
    __tablename__ = "handoff_ticket"
    __table_args__ = (
        # At most one open ticket per conversation, so two lawyers can never hold one chat.
        Index("ux_handoff_ticket_open", "conversation_id", unique=True,
              sqlite_where=text("status IN ('waiting', 'claimed')"),
              postgresql_where=text("status IN ('waiting', 'claimed')")),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id")
    #: What the lawyer needs so as not to re-ask: classification, facts, FAQ answers shown.
    packet: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    language: str = Field(default="zh", max_length=8)
    #: SLA timers: derived from these timestamps, so they survive a restart.
    #: The lawyer's first message to the citizen in this ticket (time to first reply, in the reports).
    first_reply_at: datetime | None = None
    #: The resolving lawyer's mark: "the bot could have answered this" (needless handoffs, in the reports).
    needless: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    escalated_at: datetime | None = None
    reminded_at: datetime | None = None
    #: Someone's body or life is in danger now (nlu.urgency.BODILY, or the citizen said so): first among urgent chats.
    in_danger: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    #: The lawyers' own labels (free words, e.g. "需回访"), for filtering the queue and the history.
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    #: The resolving lawyer's outcome tags (a closed set, handoff/workbench.py OUTCOME_TAGS).
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    #: A claimed chat the lawyer put aside: it sinks in their queue until then, and comes back as a reminder.
    snoozed_until: datetime | None = None
    #: A ticket a lawyer reopened after it ended: the ticket it continues.
    reopened_from: int | None = Field(default=None, foreign_key="handoff_ticket.id")


class TelegramTicketSync(SQLModel, table=True):
    """What Telegram's lawyers have been shown of a ticket, so the lawyers' group post and the claiming
    lawyer's private chat catch up with the ticket after any restart or outage (bot/channels/telegram/lawyers/)."""

    __tablename__ = "telegram_ticket_sync"

    ticket_id: int = Field(foreign_key="handoff_ticket.id", primary_key=True)
    #: The ticket's current post in the lawyers' group and the state it shows (waiting, escalated,
    #: claimed:<lawyer id>, closed).
    group_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    group_shown: str | None = Field(default=None, max_length=32)
    #: The lawyer whose private chat has the packet; the citizen's messages up to this id were forwarded.
    briefed_lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id")
    forwarded_upto: int = 0
    #: The ticket's ``reminded_at`` the lawyer was last reminded for.
    reminded_at: datetime | None = None
    #: A worker is bringing this ticket up to date until then (no double posts across workers).
    lease_until: datetime | None = None
    error: str | None = Field(default=None, max_length=500)


class TicketNote(SQLModel, table=True):
    """A lawyer's private note on a ticket; never shown to the citizen."""

    __tablename__ = "ticket_note"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="handoff_ticket.id", index=True)
    lawyer_id: int = Field(foreign_key="lawyer.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Mention(SQLModel, table=True):
    """A colleague named with @username in a note: shown to them until they open it."""

    id: int | None = Field(default=None, primary_key=True)
    note_id: int = Field(foreign_key="ticket_note.id", index=True)
    ticket_id: int = Field(foreign_key="handoff_ticket.id")
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A lawyer's console login. The cookie carries a random token; only its SHA-256 is kept, so a copy of
    the database opens no console. Ends on logout, password change, deactivation, or the timeouts."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    #: The absolute timeout; the idle timeout counts from ``last_seen_at``.
    expires_at: datetime = Field(index=True)
    revoked_at: datetime | None = None
    user_agent: str | None = Field(default=None, max_length=256)


class LoginThrottle(SQLModel, table=True):
    """Failed console logins per account name or client address (handoff/throttle.py), shared by every
    worker. ``key`` is a SHA-256 of the scope and the name or address, so no typed name is kept."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=64)
    #: Failures in the current window, counting attempts still being checked.
    failures: int = 0
    window_started_at: datetime = Field(default_factory=utcnow, index=True)
    locked_until: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """Every lawyer action, for admins: who did what to which ticket, when."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id", index=True)
    action: str = Field(max_length=32)
    ticket_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Feedback(SQLModel, table=True):
    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    kind: str = Field(max_length=16)  # helpful | not_helpful | rating
    rating: int | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    faq_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Application(SQLModel, table=True):
    """A citizen's application for one of the bureau's services (services/applications.py): a draft while the
    citizen answers the form, then submitted to an office with a reference number (受理编号), handled by the
    office step by step (each step an ``ApplicationEvent``) until it ends in one of the closed results."""

    __tablename__ = "application"
    __table_args__ = (
        # One form at a time per citizen: a second "申请" resumes the draft instead of starting another.
        Index("ux_application_draft", "citizen_id", unique=True,
              sqlite_where=text("status = 'draft'"), postgresql_where=text("status = 'draft'")),
        Index("ix_application_office_status", "office", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: 受理编号, given on submission (FY-20261204-0007); unique.
    reference: str | None = Field(default=None, max_length=32, unique=True)
    form: str = Field(max_length=32)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    #: The conversation it was submitted in; the office's steps are told to the citizen there.
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    status: str = Field(default="draft", max_length=16, index=True)
    #: The form's state while a draft (services/forms.py FormRun), then its answers.
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    office: str | None = Field(default=None, max_length=64)
    district: str | None = Field(default=None, max_length=64)
    #: The legal-aid pre-screen at submission (services/legal_aid.py), for the centre to review.
    screening: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    #: The closed result it ended with (services/applications.py RESULTS).
    result: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = Field(default=None, index=True)
    closed_at: datetime | None = None
    #: The legal time limit for the office's next decision (e.g. 7 days for legal aid, 法律援助法 第四十三条).
    due_at: datetime | None = Field(default=None, index=True)
    escalated_at: datetime | None = None
    #: Set when the bot asked the citizen "继续填写 / 放弃" about a draft left for days.
    resume_asked_at: datetime | None = None
    rating: int | None = None
    rating_comment: str | None = Field(default=None, sa_column=Column(Text))


class ApplicationEvent(SQLModel, table=True):
    """One step in an application's timeline; what the citizen is told is in ``text`` (``public``)."""

    __tablename__ = "application_event"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    kind: str = Field(max_length=32)
    #: citizen | bot | system, or the office account's id as "staff:<id>"
    actor: str = Field(max_length=32)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    public: bool = True
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: The message that told the citizen (its delivery is the channel's business).
    message_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime = Field(default_factory=utcnow)


class ReferenceCounter(SQLModel, table=True):
    """The last sequence number given per reference prefix and day, taken with one atomic upsert."""

    __tablename__ = "reference_counter"

    prefix: str = Field(primary_key=True, max_length=8)
    day: str = Field(primary_key=True, max_length=8)
    last: int = 0


class Booking(SQLModel, table=True):
    """An appointment at a service centre. A slot holds ``capacity`` citizens as seats 1..capacity; the
    unique index on the seat makes double booking impossible whatever two workers do at once."""

    __tablename__ = "booking"
    __table_args__ = (
        Index("ux_booking_seat", "centre", "day", "time", "seat", unique=True,
              sqlite_where=text("status = 'booked'"), postgresql_where=text("status = 'booked'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    centre: str = Field(max_length=64)
    day: str = Field(max_length=10, index=True)  # ISO date
    time: str = Field(max_length=5)  # HH:MM
    seat: int
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    application_id: int | None = Field(default=None, foreign_key="application.id")
    status: str = Field(default="booked", max_length=16)  # booked | cancelled | attended | missed
    created_at: datetime = Field(default_factory=utcnow)
    reminded_at: datetime | None = None


class Attachment(SQLModel, table=True):
    """A photo or PDF a citizen sent while an office asked for materials (services/attachments.py). The file
    lives under ``<data_dir>/attachments/``; ``path`` is relative to that folder."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    application_id: int | None = Field(default=None, foreign_key="application.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=16)  # photo | document
    #: Recognised from the file's first bytes, never taken from the channel or the name.
    content_type: str = Field(max_length=64)
    #: The name the citizen gave, sanitised (no folders, no control characters), for the office to read.
    filename: str = Field(max_length=128)
    size: int
    sha256: str = Field(max_length=64)
    path: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


def lock_citizen(session: Session, citizen_id: int) -> None:
    """Hold the citizen until the transaction ends: one citizen's messages, closes and claims are
    processed one at a time across workers. PostgreSQL locks the row; on SQLite every transaction
    already holds the database's single write lock (BEGIN IMMEDIATE in ``make_engine``).

    Take it before any other row lock in the transaction, so two transactions never wait on each
    other in opposite orders."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(Citizen.id).where(Citizen.id == citizen_id).with_for_update())


def private_dir(path: Path) -> Path:
    """Make a directory only its owner can enter (0700). One that exists already is left as it is: it
    may be shared (the parent of a database file named in DATABASE_URL)."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path


def _private_database(path: Path) -> None:
    """The SQLite file and its -wal and -shm files 0600 (SQLite gives the latter the database's mode);
    called on every connection, so a new database and one left readable by an older version are tightened
    before anything is written to them (the directory, when created here, is 0700 from the start)."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):  # not there yet, or not ours to change
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        database = Path(path) if path and path != ":memory:" else None
        if database is not None:
            private_dir(database.parent)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            if database is not None:
                _private_database(database)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Deleted rows' bytes are overwritten with zeros, not left in free space for anyone to read.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()
            # pysqlite's own BEGIN is deferred: a transaction that read and then writes fails at once
            # with "database is locked" when another wrote meanwhile. Begin every transaction
            # IMMEDIATE instead, so writers queue on the busy timeout (one writer at a time, as
            # SQLite allows anyway); this is also what serialises each citizen's messages.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # A reader (``Store.reader``) never writes, so it needs no lock: WAL lets it read beside the writer.
            readonly = connection.get_execution_options().get("legalbot_readonly")
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    # Room for the web workers' threads plus the sweeper and the relay.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


class Store:
    """Owns the database engine and hands out sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # SQLite has one writer at a time; a thread that finds the lock taken waits in SQLite's busy
        # handler, which sleeps in steps of up to 100 ms. Queue this process's threads here instead,
        # so each gets the database as soon as the one before is done (other processes still wait
        # on the busy timeout).
        self._turn = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        self._reading = self.engine.execution_options(legalbot_readonly=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._turn or contextlib.nullcontext(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session that only reads (a chat page polling its history): it never waits for writers."""
        with Session(self._reading, expire_on_commit=False) as session:
            yield session

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def upgrade(self) -> None:
        from bot.migrate import upgrade

        upgrade(self.engine)

    def purge_deleted(self) -> None:
        """After personal data was deleted: on SQLite, move the WAL into the database file and truncate it,
        so no earlier copy of a changed page (with the deleted rows in it) stays readable in the -wal file;
        ``secure_delete`` has zeroed the freed space in the database itself. On PostgreSQL the rows are
        gone from every query at commit, and autovacuum reclaims their space."""
        if self.engine.dialect.name != "sqlite":
            return
        with self._turn or contextlib.nullcontext():
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                cursor.close()
            finally:
                connection.close()
        if busy:
            log.warning("the WAL could not be checkpointed (a reader held it); the next checkpoint will")

    def dispose(self) -> None:
        self.engine.dispose()


class CannedReply(SQLModel, table=True):
    """A canned reply in the lawyer console (handoff/canned.py): the bureau's, shared with every lawyer and
    kept by admins (``owner_id`` None), or one lawyer's own. ``text`` may hold variables such as {称呼},
    filled in for the chat being answered; the lawyer edits the result before sending."""

    __tablename__ = "canned_reply"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    #: Typed after "/" in the reply box; unique among the replies one lawyer sees ("" for none).
    shortcut: str = Field(default="", max_length=32)
    owner_id: int | None = Field(default=None, foreign_key="lawyer.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
