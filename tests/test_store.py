"""Storage: the migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from bot.migrate import alembic_config
from bot.store import Citizen, HandoffTicket, Message, Store
from tests.conftest import new_conversation


@pytest.fixture
def store(database_url: str) -> Store:
    s = Store(database_url)
    s.upgrade()
    yield s
    s.dispose()


def test_migrations_create_every_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"citizen", "conversation", "message", "handoff_ticket", "lawyer", "feedback", "alembic_version"} <= tables


def test_models_and_migrations_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    assert diff == [], "a model changed without a migration: run bot.migrate.revision(...)"


def _revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _schema(store: Store) -> dict[str, list[str]]:
    inspector = inspect(store.engine)
    return {table: sorted(c["name"] for c in inspector.get_columns(table)) for table in inspector.get_table_names()}


def test_upgrade_is_idempotent(store: Store) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and _revision(store) == head
    with store.session() as session:
        session.add(Citizen(channel="web", channel_user_id="kept"))
        session.commit()
    schema = _schema(store)
    store.upgrade()
    assert _revision(store) == head
    assert _schema(store) == schema
    with store.session() as session:
        assert [c.channel_user_id for c in session.exec(select(Citizen)).all()] == ["kept"]


def test_upgrading_marks_urgent_tickets_already_queued_that_are_about_danger(store: Store) -> None:
    from alembic import command

    with store.session() as session:
        packets = {"beaten": ("urgent", {"urgent_reasons": ["imminent_deadline", "domestic_violence"]}),
                   "deadline": ("urgent", {"urgent_reasons": ["imminent_deadline"]}),
                   "confirmed": ("urgent", {"urgent_reasons": [], "safety_check": "danger"}),
                   "normal": ("normal", {"urgent_reasons": ["stalking"]}), "empty": ("urgent", {})}
        for reason, (priority, packet) in packets.items():  # one citizen each: one open chat, one open ticket
            conversation = new_conversation(session, f"before-the-column-{reason}")
            session.add(HandoffTicket(conversation_id=conversation.id, priority=priority, reason=reason, packet=packet))
        session.commit()
    command.downgrade(alembic_config(store.engine), "d8e3f0a5b2c4")  # before in_danger existed
    store.upgrade()
    with store.session() as session:
        marked = {t.reason for t in session.exec(select(HandoffTicket)).all() if t.in_danger}
    assert marked == {"beaten", "confirmed"}


def test_citizen_is_unique_per_channel_and_user(store: Store) -> None:
    with store.session() as session:
        session.add(Citizen(channel="web", channel_user_id="abc"))
        session.commit()
    with store.session() as session:
        session.add(Citizen(channel="web", channel_user_id="abc"))
        with pytest.raises(IntegrityError):
            session.commit()
    with store.session() as session:
        session.add(Citizen(channel="telegram", channel_user_id="abc"))
        session.commit()


def test_message_round_trips_unicode_json_and_time(store: Store) -> None:
    with store.session() as session:
        conversation = new_conversation(session, "u")
        session.add(Message(conversation_id=conversation.id or 0, citizen_id=conversation.citizen_id, direction="in",
                            sender="citizen", text="工资😀<b>", buttons=[{"label": "是", "payload": "/yes"}],
                            decision={"topic": "labor", "score": 0.5}))
        session.commit()
    with store.session() as session:
        message = session.exec(select(Message)).one()
    assert message.text == "工资😀<b>"
    assert message.buttons == [{"label": "是", "payload": "/yes"}]
    assert message.decision == {"topic": "labor", "score": 0.5}
    assert message.created_at.tzinfo is not None
