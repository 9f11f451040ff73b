"""Alembic environment: uses the engine handed over by bot.migrate, or the configured URL."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import bot.store  # noqa: F401  (registers the tables)
from bot.store import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
