"""Concurrency and crashes end to end: real `legalbot serve` processes on 127.0.0.1, driven over the web
chat API, then the database checked against its contract (bench.load.inspect_db lists the invariants).

Two workers share one PostgreSQL database (clients take the workers in turn, no load balancer); SQLite
runs one worker. Everything waits on conditions with deadlines, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.load import (
    OPENERS,
    QUESTIONS,
    Stats,
    Worker,
    bursts_only,
    chat_secret,
    check_invariants,
    client_ids,
    create_pg_database,
    drop_pg_database,
    fire,
    kill_worker,
    load,
    restart_worker,
    scalar,
    shown,
    start_workers,
    stop_workers,
    unique,
    wait_quiet,
)
from tests.waiting import until

pytestmark = pytest.mark.slow
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
#: Workers per database, and citizens × messages each sent all at once.
WORKERS = {"sqlite": 1, "postgres": 2}
SIZES = {"sqlite": (50, 10), "postgres": (50, 10)}
QUIET_SECONDS = 60


@dataclass
class Cluster:
    kind: str
    db_url: str
    workers: list[Worker]

    @property
    def bases(self) -> list[str]:
        return [w.url for w in self.workers]


@contextlib.contextmanager
def database(kind: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A fresh SQLite file, or a throwaway PostgreSQL database (skips/fails like conftest's pg_server)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'legalbot.db'}"
        return
    admin = request.getfixturevalue("pg_server")
    url = create_pg_database(admin)
    try:
        yield url
    finally:
        drop_pg_database(url, admin)


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Workers shared by the tests of one backend; each test checks only its own citizens."""
    folder = tmp_path_factory.mktemp(f"cluster-{request.param}")
    with database(request.param, request, folder) as url:  # skips before training when PostgreSQL is absent
        workers = start_workers(WORKERS[request.param], request.getfixturevalue("built_dir"), url, folder / "work")
        try:
            yield Cluster(request.param, url, workers)
        finally:
            stop_workers(workers)


def settle(cluster: Cluster, stats: Stats, clients: list[str]) -> list[str]:
    """Wait until every inbound message is processed or failed; then every broken invariant, one line each."""
    pending = wait_quiet(cluster.db_url, QUIET_SECONDS, clients)
    problems = [f"{pending} inbound messages still unprocessed after {QUIET_SECONDS} s"] if pending else []
    return problems + check_invariants(cluster.db_url, stats, clients)


def explain(cluster: Cluster, problems: list[str]) -> str:
    return (f"{cluster.kind}, {len(cluster.workers)} worker(s), logs in {cluster.workers[0].workdir}:\n"
            + "\n".join(problems))


def not_accepted(stats: Stats) -> list[str]:
    """POSTs that failed other than with a 5xx (check_invariants reports those)."""
    others = {code: n for code, n in stats.failures.items() if not code.startswith("5")}
    return [f"POSTs not accepted: {others}"] if others else []


def histories(cluster: Cluster, clients: list[str]) -> dict[str, list[dict]]:
    """Each citizen's whole chat as the web page reads it, from the workers in turn."""
    with httpx.Client(timeout=60, trust_env=False) as http:
        return {cid: http.get(f"{cluster.bases[i % len(cluster.bases)]}/api/chat/{cid}/messages",
                              headers=chat_secret(cid)).json()["messages"]
                for i, cid in enumerate(clients)}


def messages(k: int, n: int) -> list[str]:
    """Citizen k's n messages: questions, every third a short opener the bot may hold for a burst."""
    return [unique(OPENERS[(k + j) % len(OPENERS)] if j % 3 == 0 else QUESTIONS[(k + j) % len(QUESTIONS)], f"{k}-{j}")
            for j in range(n)]


def test_many_citizens_each_sending_many_messages_at_once(cluster: Cluster) -> None:
    citizens, each = SIZES[cluster.kind]
    clients = client_ids(cluster.db_url, citizens, "many")
    plan = {cid: messages(k, each) for k, cid in enumerate(clients)}
    stats = asyncio.run(fire(cluster.bases, plan))

    problems = not_accepted(stats) + settle(cluster, stats, clients)
    chats = histories(cluster, clients)  # what each citizen's page shows
    for cid, text in stats.accepted:
        if sum(m["text"] == text for m in chats[cid] if m["direction"] == "in") != 1:
            problems.append(f"{cid} does not see its message once in the chat: {shown(text)}")
    problems += [f"{cid} sees no reply at all" for cid, chat in chats.items() if not any(m["direction"] == "out" for m in chat)]
    assert not problems, explain(cluster, problems)


def test_first_messages_of_a_new_citizen_at_once(cluster: Cluster) -> None:
    [cid] = client_ids(cluster.db_url, 1, "first")
    plan = {cid: messages(0, 20)}
    stats = asyncio.run(fire(cluster.bases, plan))

    problems = not_accepted(stats) + settle(cluster, stats, [cid])
    rows = scalar(cluster.db_url, "SELECT count(*) FROM citizen WHERE channel = 'web' AND channel_user_id = :cid",
                  cid=cid)
    if rows != 1:
        problems.append(f"{rows} citizen rows for one client id")
    assert not problems, explain(cluster, problems)


def test_kill_9_mid_burst_leaves_no_message_silent(cluster: Cluster) -> None:
    """A worker killed with SIGKILL while citizens type bursts; a worker restarted on the same database
    must process or fail every stored message, and the citizens can go on chatting. (The restarted
    worker takes the killed one's place in the cluster.)"""
    clients = client_ids(cluster.db_url, 20, "kill")
    stats = Stats()

    async def burst_and_kill() -> None:
        task = asyncio.create_task(load(cluster.bases, clients, seconds=6, stats=stats, think=0.3, reply_timeout=3,
                                        turn=bursts_only))
        await until(lambda: len(stats.accepted) >= 40 or task.done(), 60, message="40 accepted messages")
        kill_worker(cluster.workers[0])
        await task

    asyncio.run(burst_and_kill())
    assert any(not code.isdigit() for code in stats.failures), "the kill did not interrupt the load (no POST failed)"
    cluster.workers[0] = restart_worker(cluster.workers[0])
    # Everyone writes again, to every worker: nothing the dead worker held may block a citizen.
    plan = {cid: [unique("刚才的问题还在吗，老板拖欠工资怎么办", f"{k}-after")] for k, cid in enumerate(clients)}
    after = asyncio.run(fire(cluster.bases, plan))
    problems = [f"after the restart: {line}" for line in not_accepted(after)]
    stats.codes.update(after.codes)
    stats.sent += after.sent
    stats.accepted += after.accepted
    problems += settle(cluster, stats, clients)
    assert not problems, explain(cluster, problems)
