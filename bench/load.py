"""Load on real `legalbot serve` processes over the web chat API, then the database's invariants.

    python -m bench.load --db sqlite --workers 1 --citizens 50 --seconds 30
    python -m bench.load --db postgres --workers 2 --citizens 50 --seconds 30 --out load.json --write

Simulated citizens (asyncio + httpx) ask everyday legal questions, greet, press the buttons they were
shown, and sometimes type a burst of 2-4 fragments back to back; each picks a worker at random (no
load balancer). Measured: POST latency, accepted messages per second, errors, time to the first reply
(polling GET like the web page), then from the database: messages lost (accepted, not stored),
unanswered (stored, neither processed nor failed) and every broken invariant. ``--write`` puts the
figures into docs/benchmarks.md.

tests/test_concurrency.py uses the same harness: start_workers, fire, load, wait_quiet, check_invariants.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from bench.common import RESULTS, ROOT, percentiles, write_section
from bot.channels.web import SECRET_HEADER, open_chat
from bot.store import Store

LEGALBOT = Path(sys.executable).with_name("legalbot")
PG_ADMIN_URL = os.environ.get("LEGALBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Lawyers on duty around the clock, so nothing depends on the time of day.
ALWAYS_ON = {"LEGALBOT_SERVICE_HOURS": "00:00-23:59:59.999999", "LEGALBOT_SERVICE_DAYS": "1,2,3,4,5,6,7"}
OPEN_TICKET = ("waiting", "claimed")

# ---- what citizens type (written for this benchmark; short and colloquial, as on a phone) ---------------

QUESTIONS = [
    "老板拖了我三个月工资不给，我该咋办",
    "公司突然把我辞了，一分钱补偿都没有，合法吗",
    "试用期被辞退有没有赔偿啊",
    "干活的时候把手弄伤了，厂里不给算工伤怎么办",
    "公司一直不给我交社保，我能不能告它",
    "天天加班到半夜也没加班费，这正常吗",
    "没签劳动合同干了一年多，能要双倍工资吗",
    "离婚的话孩子归谁啊，孩子才三岁",
    "老公在外面欠了一屁股债，要我一起还吗",
    "前夫一直不给抚养费，我能去法院告他吗",
    "结婚前买的房子离婚要分给对方吗",
    "彩礼给了二十万，现在不结了能要回来吗",
    "爸妈走了没留遗嘱，房子怎么分",
    "哥哥不肯给老人养老钱，能起诉他吗",
    "朋友借了我五万块不还，只有微信聊天记录有用吗",
    "借条上没写还款时间，还能要回钱吗",
    "网贷逾期了天天被打电话骚扰，怎么办",
    "帮别人做担保，现在人跑了，要我还钱吗",
    "房东不退押金，说墙脏了要扣钱",
    "租的房子还没到期房东就赶我走，合理吗",
    "买的二手房漏水，卖家不管，能退吗",
    "楼上一直漏水到我家，物业也不管",
    "小区物业费涨了一倍，可以不交吗",
    "电动车被汽车撞了，对方全责但不肯赔钱",
    "交通事故对方保险公司赔得太少了怎么办",
    "骑车摔倒了是路上有坑，能找谁赔",
    "网上买的东西是假货，商家不给退",
    "健身卡办了不到一个月店就关门了，钱能退吗",
    "装修公司拿了钱干一半就跑了",
    "被人打了一顿，报警了然后呢",
    "邻居家的狗把我孩子咬了，要赔多少",
    "村里要征我家的地，补偿太低了怎么办",
    "家里老人被人骗去买保健品，钱能追回来吗",
    "我被公司拉去做担保人，现在公司倒闭了",
    "怎么申请法律援助啊，我没钱请律师",
    "我想找个律师当面问问",
    "他又喝醉打我了，我不敢回家",
    "工地上五十多个工友一起被拖欠工资，年底了都没拿到",
]
GREETINGS = ["你好", "在吗", "您好，请问有人吗", "谢谢啊", "好的明白了", "嗯嗯"]
#: Bursts a citizen types without waiting for the bot: an opener and a question, or a story in pieces.
BURSTS = [
    ["在吗", "问个事", "老板拖欠工资两个月了怎么办"],
    ["你好", "我想咨询一下离婚的事"],
    ["我在厂里干了两年", "老板突然说不要我了", "一分钱补偿都不给", "这合法吗"],
    ["房东不退押金", "说是墙弄脏了"],
    ["我借给朋友三万块", "现在人联系不上了", "怎么办"],
    ["有人吗", "我被车撞了", "对方不肯赔"],
    ["请问一下", "没签合同的话", "还能要加班费吗"],
]


#: Fragments a citizen may start with (the bot holds these for the rest of the burst).
OPENERS = ["在吗", "问个事", "你好", "有人吗", "请问一下"]
_MARK, _BITS = "\u200d", "\u200b\u200c"


def unique(text_: str, tag: str) -> str:
    """The text with an invisible nonce, so each message can be counted in the database by its text.

    The nonce is zero-width characters, which the bot's normalisation removes: it reads the citizen's
    words unchanged (a visible one would make "在吗" too long to be held as a burst's fragment)."""
    return text_ + _MARK + "".join(_BITS[int(bit)] for byte in tag.encode() for bit in f"{byte:08b}")


def shown(text_: str) -> str:
    """A text with its nonce made visible, for reports: 在吗（编号 3-1）."""
    words, mark, code = text_.partition(_MARK)
    if not mark or not code or set(code) - set(_BITS):
        return text_
    bits = "".join(str(_BITS.index(c)) for c in code)
    tag = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits) - 7, 8)).decode(errors="replace")
    return f"{words}（编号 {tag}）"


# ---- worker processes -------------------------------------------------------------------------------------

@dataclass
class Worker:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    workdir: Path
    first_request_s: float | None = None  # the warm-up question (loads the models)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_models(data_dir: Path) -> Path:
    """Train the NLU model and build the knowledge-base index into ``data_dir`` (what workers load)."""
    from bot.runtime import build_kb, train_nlu
    from bot.settings import Settings

    settings = Settings(data_dir=data_dir)
    train_nlu(settings, folds=0)
    build_kb(settings)
    return data_dir


def worker_env(built: Path, db_url: str, workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of workers with a data directory of their own that shares the built models."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("models", "index"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(Path(built).resolve() / name)
    return {**os.environ, **ALWAYS_ON, "LEGALBOT_DATA_DIR": str(workdir), "DATABASE_URL": db_url, **(extra or {})}


def start_worker(env: dict[str, str], workdir: Path, port: int | None = None) -> Worker:
    port = port or free_port()
    log = workdir / f"worker-{port}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([str(LEGALBOT), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Worker(port, proc, log, env, workdir)


def wait_healthy(workers: Iterable[Worker], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = list(workers)
    with httpx.Client(timeout=2, trust_env=False) as http:
        while pending:
            worker = pending[0]
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker on port {worker.port} exited with {worker.proc.returncode}:\n{worker.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(worker.url + "/healthz").status_code == 200:
                    pending.pop(0)
                    continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker on port {worker.port} not healthy after {timeout:.0f} s:\n{worker.tail()}")
            time.sleep(0.2)


def start_workers(n: int, built: Path, db_url: str, workdir: Path, extra_env: dict[str, str] | None = None,
                  warm: bool = True) -> list[Worker]:
    """Migrate once, then start ``n`` workers on one database at once and wait until each answers /healthz.

    Workers started together on a fresh database race to create the console's first admin (one exits
    with an IntegrityError on lawyer.username), so a console account is created first. With ``warm``,
    each worker then answers one question, so its models are loaded before any load starts."""
    env = worker_env(built, db_url, workdir, extra=extra_env)
    for command in (["db", "upgrade"], ["lawyer", "add", "bench-admin", "--role", "admin", "--password", uuid.uuid4().hex]):
        done = subprocess.run([str(LEGALBOT), *command], env=env, cwd=workdir, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"legalbot {' '.join(command[:2])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    workers: list[Worker] = []
    try:
        workers += [start_worker(env, workdir) for _ in range(n)]
        wait_healthy(workers)
        if warm:
            for worker, took in zip(workers, warm_up(workers), strict=True):
                worker.first_request_s = round(took, 2)
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def warm_up(workers: Iterable[Worker], timeout: float = 120) -> list[float]:
    """One question to each worker at once from throwaway citizens (the first question loads the models);
    the seconds each took."""
    def ask(worker: Worker) -> float:
        t0 = time.perf_counter()
        chat = httpx.post(f"{worker.url}/api/chat", timeout=timeout, trust_env=False).json()
        response = httpx.post(f"{worker.url}/api/chat/{chat['id']}/messages", json={"text": "老板拖欠工资怎么办"},
                              headers={SECRET_HEADER: chat["secret"]}, timeout=timeout, trust_env=False)
        if not response.is_success:
            raise RuntimeError(f"warm-up on port {worker.port}: HTTP {response.status_code}:\n{worker.tail()}")
        return time.perf_counter() - t0

    with ThreadPoolExecutor() as pool:
        return list(pool.map(ask, workers))


def restart_worker(worker: Worker) -> Worker:
    """A new process in place of a dead one: same port, database and data directory."""
    new = start_worker(worker.env, worker.workdir, worker.port)
    try:
        wait_healthy([new])
    except BaseException:
        stop_workers([new])
        raise
    return new


def kill_worker(worker: Worker) -> None:
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait()


def stop_workers(workers: Iterable[Worker]) -> None:
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.terminate()
    for worker in workers:
        try:
            worker.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()


def create_pg_database(admin_url: str = PG_ADMIN_URL) -> str:
    """A throwaway database; returns its SQLAlchemy URL."""
    import psycopg

    name = f"legalbot_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{admin_url.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"


def drop_pg_database(url: str, admin_url: str = PG_ADMIN_URL) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


# ---- sending ---------------------------------------------------------------------------------------------

@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, POSTs answered 2xx
    codes: Counter[str] = field(default_factory=Counter)  # "200", "500", "ConnectError", ...
    sent: list[tuple[str, str]] = field(default_factory=list)  # (client id, text) of every text POST
    accepted: list[tuple[str, str]] = field(default_factory=list)  # ... of those answered 2xx
    buttons: int = 0  # button presses answered 2xx (stored as the label: not counted by text)
    #: Seconds from sending to the first reply seen: a message answered at once, one held for a burst
    #: (POST said ``pending``), the last fragment of a burst.
    first_reply: dict[str, list[float]] = field(default_factory=lambda: {"single": [], "held": [], "burst": []})
    no_reply: int = 0  # turns with no reply seen within REPLY_TIMEOUT
    seconds: float = 0.0  # from the first request to the last answer
    done_at: list[float] = field(default_factory=list)  # perf_counter() of each accepted POST's answer
    window: tuple[float, float] = (0.0, 0.0)  # when new turns could start (load)

    @property
    def throughput(self) -> float:
        """Accepted POSTs per second while new turns were being started."""
        start, end = self.window
        return sum(start <= t <= end for t in self.done_at) / (end - start) if end > start else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.codes.items() if code.isdigit() and int(code) >= 500)

    @property
    def failures(self) -> dict[str, int]:
        """Every answer that was not 2xx: HTTP status or the transport error's name."""
        return {code: n for code, n in self.codes.items() if not (code.isdigit() and int(code) < 300)}


REPLY_TIMEOUT = 20.0
#: How often a waiting citizen asks for new messages. The web page polls every 2 s and once after each
#: message it sends; 1 s is a busier page than that.
POLL_INTERVAL = 1.0


def client(connections: int = 1000) -> httpx.AsyncClient:
    # Idle connections are dropped well before uvicorn closes them (5 s), or a request sent just as the
    # server closes one fails with a ReadError that is no fault of the bot.
    return httpx.AsyncClient(timeout=httpx.Timeout(120), trust_env=False,
                             limits=httpx.Limits(max_connections=connections, max_keepalive_connections=200,
                                                 keepalive_expiry=2))


async def post(http: httpx.AsyncClient, base: str, cid: str, stats: Stats, text_: str | None = None,
               payload: str | None = None) -> dict[str, Any] | None:
    """One POST; its latency and status go into ``stats``. The response body when accepted."""
    body = {"payload": payload} if payload else {"text": text_}
    if text_ is not None:
        stats.sent.append((cid, text_))
    t0 = time.perf_counter()
    try:
        response = await http.post(f"{base}/api/chat/{cid}/messages", json=body, headers=chat_secret(cid))
    except httpx.HTTPError as exc:
        stats.codes[type(exc).__name__] += 1
        return None
    stats.codes[str(response.status_code)] += 1
    if not response.is_success:
        return None
    stats.done_at.append(time.perf_counter())
    stats.latencies.append(stats.done_at[-1] - t0)
    if text_ is not None:
        stats.accepted.append((cid, text_))
    else:
        stats.buttons += 1
    return response.json()


async def first_reply_after(http: httpx.AsyncClient, base: str, cid: str, after: int,
                            timeout: float = REPLY_TIMEOUT) -> list[dict[str, Any]]:
    """Poll GET until an outgoing message newer than ``after`` shows up; the new messages ([] on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            try:
                response = await http.get(f"{base}/api/chat/{cid}/messages", params={"after": after},
                                          headers=chat_secret(cid))
            except httpx.ConnectError:
                return []  # the worker is gone
            messages = response.json()["messages"] if response.is_success else []
            if any(m["direction"] == "out" for m in messages):
                return messages
        await asyncio.sleep(POLL_INTERVAL)
    return []


async def fire(bases: list[str], plan: dict[str, list[str]], stats: Stats | None = None) -> Stats:
    """Every text of every citizen at once (asyncio.gather), spread over the workers in turn."""
    stats = stats or Stats()
    t0 = time.perf_counter()
    async with client() as http:
        jobs = [(cid, t) for cid, texts in plan.items() for t in texts]
        await asyncio.gather(*(post(http, bases[i % len(bases)], cid, stats, t) for i, (cid, t) in enumerate(jobs)))
    stats.seconds = time.perf_counter() - t0
    return stats


def pick_turn(rng: random.Random) -> tuple[str, list[str]]:
    """The usual mix: mostly single questions, some greetings, a quarter bursts."""
    roll = rng.random()
    if roll < 0.12:
        return "single", [rng.choice(GREETINGS)]
    if roll < 0.35:
        return "burst", list(rng.choice(BURSTS))
    return "single", [rng.choice(QUESTIONS)]


def bursts_only(rng: random.Random) -> tuple[str, list[str]]:
    return "burst", list(rng.choice(BURSTS))


TurnPicker = Callable[[random.Random], tuple[str, list[str]]]


async def citizen(http: httpx.AsyncClient, bases: list[str], cid: str, k: int, until: float, rng: random.Random,
                  stats: Stats, think: float, turn: TurnPicker = pick_turn, reply_timeout: float = REPLY_TIMEOUT) -> None:
    """One citizen's turns until ``until``: a question, a greeting, a burst, or a press of a button shown."""
    j, buttons = 0, []
    while time.monotonic() < until:
        base = rng.choice(bases)
        if buttons and rng.random() < 0.25:
            kind, sent_at = "button", time.perf_counter()
            sent = [await post(http, base, cid, stats, payload=rng.choice(buttons)["payload"])]
        else:
            kind, texts = turn(rng)
            tasks = []
            for n, fragment in enumerate(texts):  # typed back to back: the next goes before the reply
                if n:
                    await asyncio.sleep(rng.uniform(0.05, 0.5))
                sent_at = time.perf_counter()
                tasks.append(asyncio.create_task(post(http, rng.choice(bases), cid, stats, unique(fragment, f"{k}-{j}"))))
                j += 1
            sent = await asyncio.gather(*tasks)
        last = sent[-1]
        if last is not None:
            mine = [m["id"] for m in last["messages"] if m["direction"] == "in"]
            replies = [m for m in last["messages"] if m["direction"] == "out"]
            if not replies:
                replies = [m for m in await first_reply_after(http, base, cid, max(mine, default=0), reply_timeout)
                           if m["direction"] == "out"]
            if replies and kind != "button":
                held = kind == "single" and last.get("pending")
                stats.first_reply["held" if held else kind].append(time.perf_counter() - sent_at)
            elif not replies:
                stats.no_reply += 1
            buttons = [b for m in replies for b in m.get("buttons") or []]
        await asyncio.sleep(min(rng.uniform(0.5, 1.5) * think, max(0.0, until - time.monotonic())))


async def load(bases: list[str], clients: list[str], seconds: float, stats: Stats | None = None,
               think: float = 2.0, seed: int = 1, turn: TurnPicker = pick_turn,
               reply_timeout: float = REPLY_TIMEOUT) -> Stats:
    """All citizens at once for ``seconds`` (a turn under way is finished)."""
    stats = stats or Stats()
    rng = random.Random(seed)
    until = time.monotonic() + seconds
    t0 = time.perf_counter()
    stats.window = (t0, t0 + seconds)
    async with client() as http:
        await asyncio.gather(*(citizen(http, bases, cid, k, until, random.Random(rng.random()), stats, think, turn,
                                       reply_timeout)
                               for k, cid in enumerate(clients)))
    stats.seconds = time.perf_counter() - t0
    return stats


def client_ids(db_url: str, n: int, prefix: str = "load") -> list[str]:
    """``n`` web chats, opened in the database so that each id is known (the page gets random ones)."""
    run = uuid.uuid4().hex[:6]
    ids = [f"{prefix}-{run}-{k:03d}" for k in range(n)]
    store = Store(db_url)
    try:
        for cid in ids:
            open_chat(store, cid, chat_secret(cid)[SECRET_HEADER])
    finally:
        store.dispose()
    return ids


def chat_secret(cid: str) -> dict[str, str]:
    """The header with a benchmark chat's secret (made up from its id: this is test data)."""
    return {SECRET_HEADER: f"{cid}-not-a-secret"}


# ---- the database afterwards ------------------------------------------------------------------------------

def _engine(db_url: str):  # type: ignore[no-untyped-def]
    return create_engine(db_url, poolclass=NullPool)


def scalar(db_url: str, sql: str, **params: Any) -> Any:
    engine = _engine(db_url)
    try:
        with engine.connect() as db:
            return db.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def wait_quiet(db_url: str, timeout: float = 60, clients: Iterable[str] | None = None) -> int | None:
    """Wait until every inbound message (of these web citizens) is processed or failed; the number still
    pending (None: no ``processed_at`` column, nothing to wait for)."""
    sql = "SELECT count(*) FROM message WHERE direction = 'in' AND processed_at IS NULL AND NOT failed"
    params: dict[str, Any] = {}
    if clients is not None:
        sql += " AND citizen_id IN (SELECT id FROM citizen WHERE channel = 'web' AND channel_user_id IN :ids)"
        params["ids"] = list(clients)
    query = text(sql).bindparams(*([bindparam("ids", expanding=True)] if params else []))
    engine = _engine(db_url)
    try:
        if "processed_at" not in {c["name"] for c in inspect(engine).get_columns("message")}:
            return None
        deadline = time.monotonic() + timeout
        while True:
            with engine.connect() as db:
                pending = db.execute(query, params).scalar() or 0
            if pending == 0 or time.monotonic() > deadline:
                return int(pending)
            time.sleep(0.25)
    finally:
        engine.dispose()


@dataclass
class Report:
    violations: list[str] = field(default_factory=list)
    stored_in: int = 0
    stored_out: int = 0
    lost: int = 0  # accepted but not stored
    duplicated: int = 0  # stored more than once
    unanswered: int | None = None  # stored, neither processed nor failed (None: no processed_at column)

    def add(self, what: str, items: list[Any]) -> None:
        if items:
            self.violations.append(f"{what}: {len(items)} (e.g. {items[:5]})")


def _decision(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def inspect_db(db_url: str, stats: Stats | None = None, clients: Iterable[str] | None = None) -> Report:
    """Check the database's contract for the given web citizens (all when ``clients`` is None):

    1. no 5xx; every text accepted (2xx) is stored exactly once, and none more than once;
    2. every inbound message is processed (``processed_at`` set) or ``failed``, each run of failed
       messages with an apology in reply to its last one;
    3. answered exactly once, in order: every outgoing message's ``reply_to`` is an inbound message of
       the same citizen; a text message has replies or is ``read_with`` (decision JSON) a later one of
       the same citizen that has, never both (no lawyer claims a chat in these runs, so the bot answers
       every text); no reply twice (same reply_to, sender and text); for inbound a < b of one citizen,
       every reply to a comes before every reply to b;
    4. at most one open conversation per citizen and one open ticket (waiting|claimed) per conversation.
    """
    report = Report()
    engine = _engine(db_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("message")}
        for needed in ("processed_at", "reply_to"):
            if needed not in columns:
                report.violations.append(f"schema: message.{needed} does not exist")
        extra = ", ".join(c if c in columns else f"NULL AS {c}" for c in ("processed_at", "reply_to"))
        wanted = None if clients is None else set(clients)
        with engine.connect() as db:
            citizens = {r.id: r.channel_user_id for r in db.execute(text("SELECT id, channel, channel_user_id FROM citizen"))
                        if wanted is None or (r.channel == "web" and r.channel_user_id in wanted)}
            messages = [r for r in db.execute(text(
                "SELECT id, citizen_id, direction, sender, kind, text, decision, failed, " + extra +
                " FROM message ORDER BY id")) if r.citizen_id in citizens]
            conversations = [r for r in db.execute(text("SELECT id, citizen_id, status FROM conversation"))
                             if r.citizen_id in citizens]
            tickets = db.execute(text("SELECT id, conversation_id, status FROM handoff_ticket")).all()
    finally:
        engine.dispose()

    inbound = [m for m in messages if m.direction == "in"]
    by_id = {m.id: m for m in messages}
    report.stored_in, report.stored_out = len(inbound), len(messages) - len(inbound)

    # 1. no 5xx; every accepted message stored exactly once
    if stats is not None:
        if stats.server_errors:
            report.violations.append(f"5xx responses: {stats.server_errors} ({stats.failures})")
        stored = Counter((citizens[m.citizen_id], m.text) for m in inbound)
        lost = [t for cid, t in stats.accepted if stored[(cid, t)] == 0]
        duplicated = [t for key, t in set(stats.sent) if stored[(key, t)] > 1]
        report.lost, report.duplicated = len(lost), len(duplicated)
        report.add("accepted (2xx) but not stored", [shown(t) for t in lost])
        report.add("stored more than once", [shown(t) for t in duplicated])

    # 2. every inbound message processed, or failed with an apology
    replies: dict[int, list[Any]] = defaultdict(list)
    for m in messages:
        if m.direction == "out" and m.reply_to is not None:
            replies[m.reply_to].append(m)
    read_with = {m.id: _decision(m.decision).get("read_with") for m in inbound}
    own: dict[int, list[Any]] = defaultdict(list)  # each citizen's inbound messages, in order
    for m in inbound:
        own[m.citizen_id].append(m)
    if "processed_at" in columns:
        pending = [m.id for m in inbound if m.processed_at is None and not m.failed]
        report.unanswered = len(pending)
        report.add("inbound neither processed nor failed", pending)
    if "reply_to" in columns:
        # A group that failed is apologised for once, in reply to its last message.
        unapologised: list[int] = []
        for mine in own.values():
            run: list[int] = []
            for m in mine:
                if not m.failed:
                    unapologised, run = unapologised + run, []
                    continue
                run.append(m.id)
                if replies[m.id] or replies.get(read_with[m.id] or 0):
                    run = []
            unapologised += run
        report.add("failed without an apology", unapologised)

        # 3. answered exactly once, in order
        report.add("replies to a missing message or another citizen's",
                   [m.id for m in messages if m.direction == "out" and m.reply_to is not None
                    and (m.reply_to not in by_id or by_id[m.reply_to].direction != "in"
                         or by_id[m.reply_to].citizen_id != m.citizen_id)])
        report.add("read with another message and answered too", [m.id for m in inbound if read_with[m.id] and replies[m.id]])
        report.add("read with a message that is not a later one of the same citizen",
                   [m.id for m in inbound if read_with[m.id] and (
                       read_with[m.id] not in by_id or read_with[m.id] <= m.id
                       or by_id[read_with[m.id]].citizen_id != m.citizen_id)])
        done = [m for m in inbound if m.processed_at is not None or m.failed] if "processed_at" in columns else inbound
        report.add("text message processed but never answered (no reply, not read with an answered one)",
                   [m.id for m in done if m.kind == "text" and not replies[m.id] and not replies.get(read_with[m.id] or 0)])
        report.add("the same reply twice to one message",
                   [(to, sender, said[:20]) for (to, sender, said), n
                    in Counter((m.reply_to, m.sender, m.text) for ms in replies.values() for m in ms).items() if n > 1])
        disorder = []
        for mine in own.values():
            answered = [m.id for m in mine if replies[m.id]]
            for a, b in zip(answered, answered[1:], strict=False):
                if max(r.id for r in replies[a]) > min(r.id for r in replies[b]):
                    disorder.append((a, b))
        report.add("replies out of order (a reply to an earlier message after one to a later)", disorder)

    # 4. one open conversation per citizen, one open ticket per conversation
    report.add("citizens with several open conversations",
               [c for c, n in Counter(c.citizen_id for c in conversations if c.status != "closed").items() if n > 1])
    ours = {c.id for c in conversations}
    report.add("conversations with several open tickets",
               [c for c, n in Counter(t.conversation_id for t in tickets
                                      if t.conversation_id in ours and t.status in OPEN_TICKET).items() if n > 1])
    return report


def check_invariants(db_url: str, stats: Stats | None = None, clients: Iterable[str] | None = None) -> list[str]:
    """Every broken invariant, one line each; [] when all hold."""
    return inspect_db(db_url, stats, clients).violations


# ---- the benchmark --------------------------------------------------------------------------------------

def summary(args: argparse.Namespace, stats: Stats, report: Report, pending: int | None,
            workers: list[Worker]) -> dict[str, Any]:
    def ms(values: list[float]) -> dict[str, float] | None:
        return {k: round(v, 1) for k, v in percentiles(values).items()} if values else None

    return {"db": args.db, "workers": args.workers, "citizens": args.citizens, "seconds": round(stats.seconds, 1),
            "posts": sum(stats.codes.values()), "accepted": len(stats.latencies),
            "messages_per_s": round(stats.throughput, 1),
            "latency_ms": ms(stats.latencies), "errors": stats.failures, "server_errors": stats.server_errors,
            "first_reply_ms": {k: ms(v) for k, v in stats.first_reply.items()}, "no_reply_seen": stats.no_reply,
            "stored_in": report.stored_in, "stored_out": report.stored_out, "lost": report.lost,
            "duplicated": report.duplicated, "unanswered": report.unanswered, "still_pending_after_wait": pending,
            "violations": report.violations,
            "first_request_s": [w.first_request_s for w in workers]}


def table(r: dict[str, Any]) -> str:
    lat = r["latency_ms"] or {"p50": 0, "p90": 0, "p99": 0, "max": 0}
    first = r["first_reply_ms"]["single"] or {"p50": 0, "p90": 0}
    held = r["first_reply_ms"]["held"] or {"p50": 0}
    na = "n/a" if r["unanswered"] is None else r["unanswered"]
    return ("| db | workers | citizens | run s | accepted | msg/s | p50 ms | p90 ms | p99 ms | max ms | errors | 5xx | "
            "lost | unanswered | first reply p50 / p90 ms | held: first reply p50 ms | violations |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {r['db']} | {r['workers']} | {r['citizens']} | {r['seconds']} | {r['accepted']} | {r['messages_per_s']} | "
            f"{lat['p50']} | {lat['p90']} | {lat['p99']} | {lat['max']} | {sum(r['errors'].values())} | "
            f"{r['server_errors']} | {r['lost']} | {na} | {first['p50']} / {first['p90']} | {held['p50']} | "
            f"{len(r['violations'])} |")


def code_version() -> str:
    """The commit measured, "-dirty" with changes to tracked files (other than the results file)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                              f":!{RESULTS.relative_to(ROOT)}"], cwd=ROOT, capture_output=True, text=True).stdout
    return f"`{head.stdout.strip()}{'-dirty' if changed.strip() else ''}`"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--citizens", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--think", type=float, default=2.0, help="mean think time between turns, seconds")
    parser.add_argument("--built", type=Path, help="a data dir with trained models and index (else built now)")
    parser.add_argument("--out", type=Path, help="write the JSON result here (else to stdout)")
    parser.add_argument("--keep", action="store_true", help="keep the worker logs and the database")
    parser.add_argument("--write", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="legalbot-load-"))
    db_url = create_pg_database() if args.db == "postgres" else f"sqlite:///{tmp}/load.db"
    workers: list[Worker] = []
    try:
        built = args.built or build_models(tmp / "built")
        workers = start_workers(args.workers, built, db_url, tmp / "work")
        clients = client_ids(db_url, args.citizens)
        stats = asyncio.run(load([w.url for w in workers], clients, args.seconds, think=args.think))
        pending = wait_quiet(db_url)
        report = inspect_db(db_url, stats, clients)
    finally:
        stop_workers(workers)
        if args.db == "postgres" and not args.keep:
            drop_pg_database(db_url)
        if args.keep:
            sys.stderr.write(f"kept {tmp} (worker logs, SQLite database)" +
                             (f" and {db_url}" if args.db == "postgres" else "") + "\n")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result = summary(args, stats, report, pending, workers)
    sys.stderr.write(table(result) + "\n" + "".join(f"violation: {v}\n" for v in report.violations))
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    if args.write:
        command = (f"python -m bench.load --db {args.db} --workers {args.workers} --citizens {args.citizens} "
                   f"--seconds {args.seconds:g} --think {args.think:g}")
        body = (f"Code: {code_version()}. {args.citizens} simulated citizens for {args.seconds:.0f} s (think time ~{args.think} s; questions, "
                f"greetings, button presses, bursts of 2-4 fragments) on {args.workers} `legalbot serve` "
                f"worker(s) on {args.db}. Latency: POST sent → response; first reply: a single message → the first "
                f"bot message seen (POST response or GET polling every {POLL_INTERVAL:g} s); held: messages the bot kept for "
                "the rest of a burst (POST said `pending`).\n\n" + table(result) +
                "".join(f"\n- {v}" for v in report.violations))
        pace = ", saturated: no think time" if args.think == 0 else ""
        write_section(f"load ({args.db}, {args.workers} worker{'s' if args.workers > 1 else ''}{pace})", command, body)


if __name__ == "__main__":
    main()
