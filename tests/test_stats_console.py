"""The console's statistics view (handoff/stats.py): managers and admins read the figures and export them;
lawyers and office staff cannot, and a manager never opens the queue or a chat."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import select

from bench.traffic import Shape, generate
from bot.channels.testing import TestChat
from bot.runtime import Runtime
from bot.store import AuditEntry, Conversation, HandoffTicket, utcnow
from handoff.auth import create_lawyer
from reports import metrics
from reports.metrics import Scope
from services import applications as apps
from tests.test_console_security import PASSWORD, console, log_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

STATS = "/api/console/stats"
RANGE = {"since": "2026-11-01", "until": "2026-11-30"}


@contextlib.contextmanager
def logged_in(runtime: Runtime, *people: tuple[str, str, str | None]) -> Iterator[dict[str, TestClient]]:
    """A console client per (username, role, office), each logged in."""
    with contextlib.ExitStack() as stack:
        made: dict[str, TestClient] = {}
        for username, role, office in people:
            create_lawyer(runtime.store, username, PASSWORD, role=role, office=office)
            made[username] = stack.enter_context(console(runtime))
            assert log_in(made[username], username).status_code == 200
        yield made


@pytest.fixture
def accounts(runtime: Runtime) -> Iterator[dict[str, TestClient]]:
    generate(runtime.store, Shape(conversations=600, days=45, end=dt.date(2026, 11, 30)), batch=300)
    with logged_in(runtime, ("boss", "manager", None), ("root", "admin", None), ("zhang", "lawyer", None),
                   ("centre", "office", "fy-city")) as made:
        yield made


def test_a_manager_reads_the_figures_of_the_range_and_filters(runtime: Runtime, accounts: dict[str, TestClient]) -> None:
    got = accounts["boss"].get(STATS, params={**RANGE, "channel": "wechat", "urgent": "false"})
    assert got.status_code == 200, got.text
    figures = got.json()
    scope = Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 30), channel="wechat", urgent=False)
    with runtime.store.session() as session:
        want = metrics.overview(session, scope, sla_minutes=runtime.settings.sla_escalate_minutes, forms=apps.forms())
    assert figures["summary"] == want["summary"] and figures["summary"]["conversations"] > 0
    assert figures["volumes"] == want["volumes"] and figures["reasons"] == want["reasons"]
    assert figures["funnel"]["total"] == want["funnel"]["total"]
    assert figures["scope"]["filters"] == {"channel": "wechat", "urgent": False}
    assert set(figures["definitions"]) == set(metrics.DEFINITIONS)
    # The same for an admin; the default range is the last 30 days.
    assert accounts["root"].get(STATS, params=RANGE).status_code == 200
    default = accounts["boss"].get(STATS).json()["scope"]
    assert (dt.date.fromisoformat(default["until"]) - dt.date.fromisoformat(default["since"])).days == 29
    options = accounts["boss"].get(STATS + "/options").json()
    assert {"web", "wechat", "telegram"} <= set(options["channels"])
    assert "legal_aid" in {s["value"] for s in options["services"]}


def test_exports_carry_the_documented_columns_and_are_audited(runtime: Runtime, accounts: dict[str, TestClient]) -> None:
    as_csv = accounts["boss"].get(STATS + "/export", params={**RANGE, "format": "csv", "by": "topic"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="legalbot-20261101-20261130-topic.csv"' in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["topic", *metrics.COLUMNS[1:]] and rows[-1]["topic"] == "total"
    assert sum(int(r["conversations"]) for r in rows[:-1]) == int(rows[-1]["conversations"])
    as_xlsx = accounts["root"].get(STATS + "/export", params={**RANGE, "format": "xlsx"})
    assert as_xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "date" and len(values) == 30 + 2
    with runtime.store.session() as session:
        exports = session.exec(select(AuditEntry).where(AuditEntry.action == "stats_export")).all()
    assert [(e.detail["format"], e.detail["by"]) for e in exports] == [("csv", "topic"), ("xlsx", "day")]
    page = accounts["boss"].get(STATS + "/report", params=RANGE)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "legalbot-report-20261101-20261130.html" in page.headers["content-disposition"]
    assert "主要指标" in page.text and "<svg" in page.text
    assert accounts["zhang"].get(STATS + "/report", params=RANGE).status_code == 403


def test_only_managers_and_admins_see_figures_and_managers_see_no_chats(accounts: dict[str, TestClient]) -> None:
    for username in ("zhang", "centre"):
        assert accounts[username].get(STATS, params=RANGE).status_code == 403
        assert accounts[username].get(STATS + "/export", params=RANGE).status_code == 403
    boss = accounts["boss"]
    assert boss.get("/api/console/queue").status_code == 403
    assert boss.get("/api/console/tickets/1").status_code == 403
    assert boss.get("/api/console/applications").status_code == 403
    assert boss.get("/api/console/audit").status_code == 403
    assert boss.get("/api/console/me").json()["telegram"]["available"] is False


@pytest.mark.parametrize("params, message", [
    ({"since": "2026-11-30", "until": "2026-11-01"}, "before it starts"),
    ({"since": "2019-01-01", "until": "2026-11-01"}, "three years"),
    ({**RANGE, "format": "pdf"}, "csv, xlsx or json"),
    ({**RANGE, "by": "lawyer"}, "cannot break down by"),
])
def test_bad_ranges_and_formats_are_a_422_with_the_reason(accounts: dict[str, TestClient], params: dict[str, str],
                                                         message: str) -> None:
    path = STATS + "/export" if "format" in params or "by" in params else STATS
    got = accounts["boss"].get(path, params=params)
    assert got.status_code == 422 and message in got.text
    assert accounts["boss"].get(STATS, params={"since": "yesterday"}).status_code == 422


def test_the_chat_records_what_the_figures_need(runtime: Runtime, chat: TestChat) -> None:
    """A lawyer's first reply and "the bot could have answered this" reach the ticket; the conversation keeps
    the citizen's language; and they show in the figures."""
    chat.say("老板拖欠我三个月工资怎么办")
    chat.press("/lawyer")
    lawyer = create_lawyer(runtime.store, "li", PASSWORD, role="lawyer")
    [view] = runtime.queue.tickets()
    ticket_id = view.ticket.id or 0
    runtime.queue.claim(ticket_id, lawyer)
    first = runtime.queue.reply(ticket_id, lawyer, "您好，请问有劳动合同吗？")
    runtime.queue.reply(ticket_id, lawyer, "可以先申请劳动仲裁。")
    runtime.queue.resolve(ticket_id, lawyer, "resolved_by_lawyer", "已告知仲裁途径", needless=True)
    with runtime.store.session() as session:
        row = session.get(HandoffTicket, ticket_id)
        assert row is not None and row.needless is True and row.first_reply_at == first.created_at
        conversation = session.get(Conversation, row.conversation_id)
        assert conversation is not None and conversation.language == "zh"
        today = utcnow().astimezone(ZoneInfo(runtime.settings.timezone)).date()
        figures = metrics.overview(session, Scope(today, today), sla_minutes=10)
    assert figures["waiting"]["needless"] == 1 and figures["waiting"]["needless_handoff_rate"] == 1.0
    assert figures["waiting"]["first_reply_p50_minutes"] is not None
    assert figures["summary"]["resolved_by_lawyer"] == 1 and figures["summary"]["handoffs"] == 1
