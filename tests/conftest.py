"""Shared fixtures: one trained NLU model and index per test session, a fresh database per test.

Storage and engine tests run on SQLite and on PostgreSQL. The PostgreSQL runs use a throwaway
database on 127.0.0.1:5432; with CI=true they must run, elsewhere they skip when the server is absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from bot.channels.testing import TestChat
from bot.runtime import Runtime, build_kb, build_runtime, train_nlu
from bot.settings import Settings
from bot.store import Citizen, Conversation, Store
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.fakes.wechat_api import running as running_wechat

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("LEGALBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def require(condition: bool, reason: str) -> None:
    """Skip with a reason on a developer's machine; fail in CI, where everything must be installed."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must be able to run this test: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _forget_fastapi_endpoints() -> Iterator[None]:
    """FastAPI (0.16x) keeps an lru_cache keyed by endpoint functions, which are closures over a test's
    runtime: without clearing it, every app a test built stays in memory with its models (~200 MB)."""
    yield
    import fastapi.dependencies.models as models
    import fastapi.dependencies.utils as utils

    for module in (models, utils):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


@pytest.fixture(scope="module")
def wechat_api() -> Iterator[FakeWeChatAPI]:
    """A fake WeChat API server on 127.0.0.1 (tests/fakes/wechat_api.py), one per test module."""
    with running_wechat(FakeWeChatAPI()) as api:
        yield api


@pytest.fixture
def api(wechat_api: FakeWeChatAPI) -> FakeWeChatAPI:
    """The fake WeChat API, with what the previous test left forgotten."""
    wechat_api.reset()
    return wechat_api


def _build(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    train_nlu(settings, folds=0)
    build_kb(settings)


@pytest.fixture(scope="session")
def built_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Train the NLU and build the index once, from the project's real training data and FAQ.

    With several pytest-xdist workers (`make test`) the first builds it under a lock in the run's shared
    folder and every worker copies it: one build's CPU, and no worker writes where another reads."""
    data_dir = tmp_path_factory.mktemp("built")
    if worker_id == "master":
        _build(data_dir)
        return data_dir
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "built"
    shared.mkdir(exist_ok=True)
    with FileLock(f"{shared}.lock"):
        if not (shared / ".done").exists():
            _build(shared)
            (shared / ".done").touch()
    shutil.copytree(shared, data_dir, dirs_exist_ok=True, symlinks=True)
    return data_dir


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    require(_pg_available(), f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


def _pg_database_url(server: str, name: str) -> str:
    return f"postgresql+psycopg://{server.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A database migrated to the head once per session (which runs every migration on PostgreSQL from an
    empty database), that each test's database is copied from: a copy takes a fraction of the migrations."""
    import psycopg

    name = f"legalbot_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    store = Store(_pg_database_url(pg_server, name))
    try:
        store.upgrade()
    finally:
        store.dispose()  # a template must have no connections when it is copied
    yield name
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def pg_database(server: str, template: str) -> Iterator[str]:
    """A throwaway PostgreSQL database at the head revision (a copy of the template), dropped afterwards."""
    import psycopg

    name = f"legalbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_database_url(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> Iterator[str]:
    """A throwaway PostgreSQL database at the head revision, dropped after the test."""
    with pg_database(pg_server, pg_template) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'legalbot.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """The database alone, migrated (no models): for tests of the storage and the services' lifecycles."""
    made = Store(database_url)
    made.upgrade()
    yield made
    made.dispose()


@pytest.fixture
def settings(built_dir: Path, database_url: str) -> Settings:
    # Lawyers on duty around the clock, so no test depends on the time of day it runs at; the
    # out-of-hours notice has tests of its own. Each message is answered on its own unless a test of
    # bursts sets a window.
    return Settings(data_dir=built_dir, database_url=database_url,
                    service_hours="00:00-23:59:59.999999", service_days="1,2,3,4,5,6,7", burst_window_seconds=0)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    yield rt
    rt.store.dispose()


@pytest.fixture
def chat(runtime: Runtime) -> TestChat:
    return TestChat(runtime.engine, user_id=f"citizen-{uuid.uuid4().hex[:8]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Rasa tests first: installing and training Rasa takes minutes of one worker, which then overlap
    the other worker's tests instead of coming last (pytest-xdist hands out test files in this order)."""
    items.sort(key=lambda item: item.get_closest_marker("rasa") is None)


def new_conversation(session: Session, user_id: str, channel: str = "web", language: str = "zh",
                     **fields: Any) -> Conversation:
    """A new citizen with one open conversation (``fields`` set on it), flushed so both have ids."""
    citizen = Citizen(channel=channel, channel_user_id=user_id, language=language)
    session.add(citizen)
    session.flush()
    assert citizen.id is not None
    conversation = Conversation(citizen_id=citizen.id, channel=channel, **fields)
    session.add(conversation)
    session.flush()
    return conversation
