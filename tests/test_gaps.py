"""Content gaps (reports/gaps.py): the questions the bot could not answer well, grouped with their paraphrases,
redacted, ordered, and exported for the maintainers (a review file `legalbot nlu review --apply` takes, a
kb-gaps CSV), in the console for managers and on the command line."""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from bot import yamlio
from bot.channels.testing import TestChat
from bot.cli import app
from bot.runtime import Runtime
from bot.settings import Settings, get_settings
from bot.store import AuditEntry, Citizen, Conversation, Feedback, HandoffTicket, Message, Store, utcnow
from nlu import review
from reports import gaps
from reports.metrics import Scope
from tests.test_stats_console import logged_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

TRAINING = Path(__file__).resolve().parents[1] / "training_data"
GAPS = "/api/console/stats/gaps"

DOG_BITES = ["邻居家的狗咬了我孩子，医药费谁来出",
             "被邻居的狗咬伤了，狗主人要赔医药费吗",
             "小区里的狗把我咬了，狗的主人不肯赔钱怎么办"]
FAKE_PHONES = ["网购的手机是假货，商家不退款怎么办，我电话13812345678，身份证11010519491231002X",
               "网上买到假手机，卖家拒绝退货退款"]
DRONE = "无人机在小区上空飞拍违法吗"
WAGES = "老板拖欠我三个月工资怎么办"


def today(runtime: Runtime) -> Scope:
    day = utcnow().astimezone(ZoneInfo(runtime.settings.timezone)).date()
    return Scope(day, day, runtime.settings.timezone)


def reject_all(chat: TestChat, question: str) -> None:
    """Ask, and turn down every question the bot offers: "none of these, show others", then "none of these"."""
    chat.say(question)
    payloads = [b["payload"] for m in chat.last.messages for b in m.buttons]
    assert "/faq:more" in payloads, (question, chat.last_text)
    chat.press("/faq:more")
    if any(b["payload"] == "/faq:none" for m in chat.last.messages for b in m.buttons):
        chat.press("/faq:none")


@pytest.fixture
def month(runtime: Runtime) -> Runtime:
    """Citizens the bot could not help, and some it did help, in this order."""
    def citizen(n: int) -> TestChat:
        return TestChat(runtime.engine, user_id=f"gaps-citizen-{n}")

    citizen(0).say("你好")  # small talk: nothing to write
    happy = citizen(1)
    happy.say("离婚后孩子抚养费怎么算")
    happy.press("/helpful")
    citizen(2).say("我要找律师")  # asked for a person: not a gap
    for n, question in enumerate([DOG_BITES[0], FAKE_PHONES[0], DRONE, DOG_BITES[1], FAKE_PHONES[1], DOG_BITES[2]]):
        reject_all(citizen(10 + n), question)
    unhappy = citizen(20)
    unhappy.say(WAGES)
    assert any(b["payload"] == "/not_helpful" for m in unhappy.last.messages for b in m.buttons)
    unhappy.press("/not_helpful")
    return runtime


def test_unanswered_questions_are_grouped_with_their_paraphrases(month: Runtime) -> None:
    with month.store.reader() as session:
        found = gaps.gaps(session, today(month), background=gaps.background_texts(TRAINING))
    texts = [[q.text for q in c.members] for c in found.clusters]
    # The three dog bites, then the two fake phones (largest first), then the questions asked once, the latest
    # first: the unhelpful answer about wages came after the drone.
    assert sorted(texts[0]) == sorted(DOG_BITES)
    assert len(texts[1]) == 2 and texts[1][0] == FAKE_PHONES[1] and texts[1][1].startswith("网购的手机是假货")
    assert texts[2:] == [[WAGES], [DRONE]]
    assert [c.number for c in found.clusters] == [1, 2, 3, 4]
    # Every collected question is in exactly one cluster; what the bot handled well is in none.
    assert found.questions == sum(c.count for c in found.clusters) == 7 and not found.truncated
    assert not any("你好" in t or "抚养费" in t or "律师" in t for group in texts for t in group)

    dogs, phones, wages, drone = found.clusters
    assert dogs.conversations == 3 and dogs.most_common("topic") == "tort"
    assert dogs.why["none_of_these"] == 3 and dogs.why["none_fit"] == 3
    assert "not_helpful" in wages.why and "none_of_these" not in wages.why
    assert dogs.example.text in DOG_BITES and drone.example.text == DRONE
    assert dogs.last_seen == max(q.at for q in dogs.members) > phones.last_seen
    # The phone and ID numbers never leave the database.
    listed = str(found.as_dict(with_members=True))
    assert "13812345678" not in listed and "11010519491231002X" not in listed
    assert "[PHONE]" in texts[1][1] and "[ID]" in texts[1][1]
    # The console's view names no message.
    assert "message_id" not in str(found.as_dict())


def test_the_exports_feed_nlu_review_and_the_faq_list(month: Runtime, tmp_path: Path) -> None:
    with month.store.reader() as session:
        found = gaps.gaps(session, today(month), background=gaps.background_texts(TRAINING))
    review_file, table = gaps.write(found, tmp_path / "out")
    text = review_file.read_text(encoding="utf-8")
    assert text.startswith(review.HEADER) and text == gaps.review_yaml(found.clusters)
    assert "13812345678" not in text
    items = yamlio.read(review_file)
    assert [i["cluster"] for i in items] == [1, 1, 1, 2, 2, 3, 4]
    assert all(set(i) == {"text", "why", "label", "message_id", "predicted", "cluster", "example"} for i in items)
    assert all(i["example"] == found.clusters[i["cluster"] - 1].example.text for i in items)
    # Unlabelled, --apply adds nothing; labelled, the texts go to training_data/nlu/reviewed.yml and the extra
    # keys (cluster, example) are ignored.
    training = tmp_path / "training_data"
    assert review.apply(review_file, training) == 0
    for item in items:
        item["label"] = {1: "topic_tort", 2: "topic_consumer"}.get(item["cluster"], "")
    review.write_yaml(items, review_file)
    assert review.apply(review_file, training) == 5
    reviewed = yamlio.read(training / "nlu" / "reviewed.yml")
    by_intent = {block["intent"]: block["examples"] for block in reviewed["nlu"]}
    assert set(by_intent) == {"topic_tort", "topic_consumer"}
    assert all(f"- {q}\n" in by_intent["topic_tort"] for q in DOG_BITES)
    assert "[PHONE]" in by_intent["topic_consumer"] and "cluster" not in by_intent["topic_consumer"]

    rows = list(csv.DictReader(io.StringIO(table.read_bytes().decode("utf-8-sig"))))
    assert tuple(rows[0]) == gaps.CSV_COLUMNS
    assert [int(r["cluster"]) for r in rows] == [1, 2, 3, 4]
    assert sum(int(r["count"]) for r in rows) == found.questions
    assert rows[0]["topic"] == "tort" and "none_of_these=3" in rows[0]["why"]
    assert rows[1]["example"] == found.clusters[1].example.text and "138" not in rows[1]["example"]


# ---- rows shaped like the engine's, at chosen times ----------------------------------------------------

def decision(action: str, reason: str, topic: str = "tort", confidence: float = 0.8, faq_id: str = "tort-dog-bite",
             act: str = "question") -> dict[str, Any]:
    """What Policy.decide records on a question (Decision.record)."""
    return {"service": "consultation", "topic": topic, "urgent": False, "act": act, "service_confidence": 0.9,
            "topic_confidence": confidence, "act_confidence": 0.95, "urgent_reasons": [], "urgency_probability": 0.01,
            "check_kind": None, "complex_reasons": [], "action": action, "reason": reason, "ambiguous": False,
            "hits": [{"faq_id": faq_id, "score": 0.41}]}


class Rows:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.n = 0

    def conversation(self, opened: dt.datetime, channel: str = "web") -> int:
        self.n += 1
        with self.store.session() as session:
            citizen = Citizen(channel=channel, channel_user_id=f"row-{self.n}")
            session.add(citizen)
            session.flush()
            conversation = Conversation(channel=channel, citizen_id=citizen.id or 0, opened_at=opened,
                                        last_activity_at=opened, language="zh")
            session.add(conversation)
            session.commit()
            return conversation.id or 0

    def say(self, conversation_id: int, text: str, at: dt.datetime, record: dict[str, Any] | None,
            kind: str = "text") -> int:
        with self.store.session() as session:
            conversation = session.get(Conversation, conversation_id)
            assert conversation is not None
            message = Message(conversation_id=conversation_id, citizen_id=conversation.citizen_id, direction="in",
                              sender="citizen", kind=kind, text=text, decision=record, created_at=at, processed_at=at)
            session.add(message)
            session.commit()
            return message.id or 0

    def add(self, row: Any) -> None:
        with self.store.session() as session:
            session.add(row)
            session.commit()


@pytest.fixture
def rows(database_url: str) -> Iterator[Rows]:
    store = Store(database_url)
    store.upgrade()
    yield Rows(store)
    store.dispose()


NOV = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def test_the_scope_the_reasons_and_the_order(rows: Rows) -> None:
    at = NOV
    # Before the range: not counted, however badly it went.
    early = rows.conversation(at - dt.timedelta(days=5))
    rows.say(early, "狗咬人了谁赔", at - dt.timedelta(days=5), decision("handoff", "no_entry"))
    # No answer at all, several times, and another topic twice but more recently.
    for n, text in enumerate(["宠物狗咬伤路人谁来赔偿", "被狗咬伤了狗主人赔不赔", "狗咬伤路人主人要赔偿吗"]):
        c = rows.conversation(at + dt.timedelta(hours=n))
        rows.say(c, text, at + dt.timedelta(hours=n), decision("handoff", "no_entry"))
    for n, text in enumerate(["物业乱收停车费合法吗", "物业收停车费太贵合法吗"]):
        c = rows.conversation(at + dt.timedelta(hours=5 + n))
        rows.say(c, text, at + dt.timedelta(hours=5 + n), decision("clarify", "ambiguous", topic="property"))
    # After picking a category nothing fitted ("/topic:none", then a ticket "unclear_after_clarifying").
    c = rows.conversation(at + dt.timedelta(hours=8))
    rows.say(c, "无人机在小区上空飞拍违法吗", at + dt.timedelta(hours=8), decision("clarify", "ambiguous", topic="other"))
    rows.say(c, "都不是", at + dt.timedelta(hours=8, minutes=1), {"payload": "/topic:none"}, kind="button")
    rows.add(HandoffTicket(conversation_id=c, reason="unclear_after_clarifying",
                           created_at=at + dt.timedelta(hours=8, minutes=1)))
    # An answer, marked not helpful, then a thank-you and a well answered question: only the first counts.
    c = rows.conversation(at + dt.timedelta(hours=9), channel="wechat")
    rows.say(c, "工伤认定要多久", at + dt.timedelta(hours=9), decision("answer", "retrieved", topic="labor",
                                                                      faq_id="labor-injury-time"))
    rows.add(Feedback(conversation_id=c, kind="not_helpful", faq_id="labor-injury-time",
                      created_at=at + dt.timedelta(hours=9, minutes=1)))
    rows.say(c, "谢谢", at + dt.timedelta(hours=9, minutes=2), decision("clarify", "not_a_question", act="thanks"))
    rows.say(c, "加班费怎么算", at + dt.timedelta(hours=9, minutes=3), decision("answer", "retrieved", topic="labor",
                                                                           faq_id="labor-overtime"))
    # Vague: no point to write an answer for.
    c = rows.conversation(at + dt.timedelta(hours=10))
    rows.say(c, "我想咨询个事", at + dt.timedelta(hours=10), decision("clarify", "vague"))

    scope = Scope(dt.date(2026, 11, 10), dt.date(2026, 11, 11))
    with rows.store.reader() as session:
        found = gaps.gaps(session, scope, background=gaps.background_texts(TRAINING))
        assert [[q.text for q in c.members] for c in found.clusters] == [
            ["狗咬伤路人主人要赔偿吗", "被狗咬伤了狗主人赔不赔", "宠物狗咬伤路人谁来赔偿"],  # 3, newest member first
            ["物业收停车费太贵合法吗", "物业乱收停车费合法吗"],  # 2
            ["工伤认定要多久"],  # then one each, the latest first
            ["无人机在小区上空飞拍违法吗"],
        ]
        dogs, parking, injury, drone = found.clusters
        assert dogs.why == {"no_entry": 3} and parking.why == {"clarified": 2}
        assert injury.why == {"not_helpful": 1} and drone.why == {"unclear_after_clarifying": 1, "clarified": 1}
        assert parking.as_dict(scope.tz)["last_seen"] == "2026-11-10T16:00:00+08:00"
        assert injury.most_common("topic") == "labor"
        # Filters are the statistics' own; the limit keeps the most recent questions.
        wechat = gaps.gaps(session, Scope(scope.since, scope.until, channel="wechat"))
        assert [c.example.text for c in wechat.clusters] == ["工伤认定要多久"]
        recent = gaps.gaps(session, scope, limit=2)
        assert recent.questions == 2 and recent.truncated
        assert {c.example.text for c in recent.clusters} == {"工伤认定要多久", "无人机在小区上空飞拍违法吗"}
        assert gaps.gaps(session, Scope(dt.date(2026, 12, 1), dt.date(2026, 12, 1))).clusters == []


def test_the_order_is_size_then_recency_and_singletons_last() -> None:
    def q(n: int, text: str, hours: int) -> gaps.Question:
        return gaps.Question(n, n, text, NOV + dt.timedelta(hours=hours), {"topic": "tort"}, {"no_entry"})

    made = gaps.cluster([q(9, "离婚财产怎么分割", 9), q(8, "狗咬伤路人谁来赔偿", 8), q(7, "离婚时财产分割怎么算", 7),
                         q(6, "网购假货商家不退款", 6), q(5, "被狗咬伤狗主人赔偿吗", 5), q(4, "网上买到假货不给退款", 4),
                         q(3, "商标怎么注册", 3)], background=gaps.background_texts(TRAINING))
    # Three groups of two: the latest seen first (divorce at 9h, dogs at 8h, fakes at 6h); the single last.
    assert [sorted(m.message_id for m in c.members) for c in made] == [[7, 9], [5, 8], [4, 6], [3]]
    assert gaps.cluster([]) == [] and [c.count for c in gaps.cluster([q(1, "？？", 1)])] == [1]


def test_the_same_notion_of_low_confidence_as_nlu_review() -> None:
    assert gaps.LOW_CONFIDENCE == inspect.signature(review.collect).parameters["low_confidence"].default \
        == Settings().nlu_fallback_threshold


# ---- the console and the command line ----------------------------------------------------------------------

@pytest.fixture
def accounts(month: Runtime) -> Iterator[dict[str, TestClient]]:
    with logged_in(month, ("boss", "manager", None), ("zhang", "lawyer", None)) as made:
        yield made


def test_managers_read_the_gaps_and_download_them(month: Runtime, accounts: dict[str, TestClient]) -> None:
    day = today(month).since.isoformat()
    params = {"since": day, "until": day}
    for path in (GAPS, GAPS + "/export"):
        assert accounts["zhang"].get(path, params=params).status_code == 403
    got = accounts["boss"].get(GAPS, params=params)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["questions"] == 7 and [c["count"] for c in body["clusters"]] == [3, 2, 1, 1]
    assert set(body["clusters"][0]) == {"cluster", "count", "conversations", "last_seen", "topic", "service",
                                        "example", "why"}
    assert "13812345678" not in got.text and "message_id" not in got.text

    as_csv = accounts["boss"].get(GAPS + "/export", params={**params, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "kb-gaps-" in as_csv.headers["content-disposition"]
    assert as_csv.content.decode("utf-8-sig").splitlines()[0] == ",".join(gaps.CSV_COLUMNS)
    as_yaml = accounts["boss"].get(GAPS + "/export", params={**params, "format": "yaml"})
    assert as_yaml.status_code == 200 and as_yaml.text.startswith(review.HEADER)
    assert "13812345678" not in as_yaml.text
    assert accounts["boss"].get(GAPS + "/export", params={**params, "format": "pdf"}).status_code == 422
    with month.store.session() as session:
        exports = session.exec(select(AuditEntry).where(AuditEntry.action == "stats_gaps_export")).all()
    assert [(e.detail["format"], e.detail["clusters"]) for e in exports] == [("csv", 4), ("yaml", 4)]


@pytest.fixture
def gaps_cli(runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", runtime.store.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-13-01", "--until", "2026-11-30"], "YYYY-MM-DD"),
    (["--since", "last week", "--until", "2026-11-30"], "YYYY-MM-DD"),
    (["--since", "2026-11-30", "--until", "2026-11-01"], "before it starts"),
    (["--since", "2026-11-01", "--until", "2026-11-30", "--limit", "0"], "--limit must be between"),
])
def test_legalbot_report_gaps_refuses_bad_input(gaps_cli: CliRunner, args: list[str], message: str) -> None:
    result = gaps_cli.invoke(app, ["report-gaps", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_legalbot_report_gaps_writes_both_files(month: Runtime, gaps_cli: CliRunner, tmp_path: Path) -> None:
    day = today(month).since.isoformat()
    result = gaps_cli.invoke(app, ["report-gaps", "--since", day, "--until", day, "--out-dir", str(tmp_path / "gaps")])
    assert result.exit_code == 0, result.output
    stem = day.replace("-", "")
    review_file, table = tmp_path / "gaps" / f"gaps-review-{stem}-{stem}.yml", tmp_path / "gaps" / f"kb-gaps-{stem}-{stem}.csv"
    assert "7 questions in 4 clusters" in result.output and str(review_file) in result.output and str(table) in result.output
    assert len(yamlio.read(review_file)) == 7 and len(table.read_bytes().decode("utf-8-sig").splitlines()) == 1 + 4
