"""A manager reads the figures in the console, in headless Chromium: changes the range and a filter, sees the
cards, charts and tables show the seeded data's figures, and downloads the export. Screenshots go to
docs/screenshots/ with LEGALBOT_SCREENSHOTS=1 (see tests/test_browser.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from bench.traffic import Shape, generate
from bot.runtime import Runtime
from handoff.auth import create_lawyer
from reports import metrics
from reports.metrics import Scope
from services import applications as apps
from tests.test_browser import browser, screenshots, server  # noqa: F401
from tests.test_office_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the figures' API runs on both databases in tests/test_stats_console.py."""
    return f"sqlite:///{tmp_path / 'legalbot.db'}"


def figures(runtime: Runtime, scope: Scope) -> dict:  # type: ignore[type-arg]
    with runtime.store.session() as session:
        return metrics.overview(session, scope, sla_minutes=runtime.settings.sla_escalate_minutes, forms=apps.forms())


def show(page, since: str, until: str, channel: str = "") -> None:  # type: ignore[no-untyped-def]
    page.fill("#stats-since", since)
    page.fill("#stats-until", until)
    page.select_option("#stats-channel", channel)
    page.click("#stats-filters button[type=submit]")
    page.wait_for_function("want => document.getElementById('stats-status').textContent.includes(want)",
                           arg=f"{since} 至 {until}")


def card(page, key: str) -> str:  # type: ignore[no-untyped-def]
    return str(page.inner_text(f"[data-figure='{key}'] .stats-value"))


def test_a_manager_changes_the_range_and_filters_and_downloads_the_figures(runtime: Runtime, server: str,  # noqa: F811
                                                                         browser, screenshots: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    generate(runtime.store, Shape(conversations=900, days=60, end=dt.date(2026, 11, 30)), batch=300)
    create_lawyer(runtime.store, "boss", "granite ledger 9", display_name="王局长", role="manager")
    create_lawyer(runtime.store, "zhang", "correct horse 7", display_name="张律师", role="lawyer")

    page = browser.new_page(viewport={"width": 1366, "height": 800}, accept_downloads=True)
    log_in(page, server, "boss", "granite ledger 9", lands_on="#stats-view")  # a manager opens on the figures
    assert page.is_hidden("#app-view") and page.is_hidden("#work-tab") and page.is_visible("#stats-tab")
    assert page.is_hidden("#console-error")

    show(page, "2026-11-01", "2026-11-30")
    want = figures(runtime, Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    assert card(page, "conversations") == str(want["summary"]["conversations"])
    assert card(page, "auto_resolution_rate") == f"{want['summary']['auto_resolution_rate'] * 100:.1f}%"
    assert card(page, "csat") == f"{want['satisfaction']['csat_avg']} 星"
    assert "分钟" in card(page, "wait_to_claim")
    for chart in ("#chart-daily", "#chart-heat", "#chart-reasons", "#chart-csat", "#chart-funnel"):
        page.wait_for_selector(f"{chart} svg")
    # Each chart says what it counts.
    assert "每个已结束的对话恰有一个结果" in page.inner_text("section:has(#chart-daily) .definition")
    lawyers = page.locator("#workload-table tbody tr")
    assert lawyers.count() == len(want["workload"])
    first = want["workload"][0]
    assert lawyers.first.inner_text().split("\t")[:3] == [first["lawyer"], str(first["claimed"]), str(first["resolved"])]
    funnel_rows = page.locator("#funnel-table tbody tr")
    assert funnel_rows.count() == len(want["funnel"]["forms"])
    page.wait_for_selector("#gaps-table thead")  # content gaps: none in generated traffic, said so
    assert "暂无数据" in page.inner_text("#gaps-table tbody")
    assert "/api/console/stats/gaps/export?" in (page.get_attribute("#gaps-yaml", "href") or "")
    page.screenshot(path=str(screenshots / "stats-dashboard.png"), full_page=True)

    show(page, "2026-11-10", "2026-11-20", channel="wechat")
    narrow = figures(runtime, Scope(dt.date(2026, 11, 10), dt.date(2026, 11, 20), channel="wechat"))
    assert card(page, "conversations") == str(narrow["summary"]["conversations"])
    assert narrow["summary"]["conversations"] < want["summary"]["conversations"]

    page.select_option("#stats-by", "topic")
    with page.expect_download() as download:
        page.click("#stats-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_bytes().decode("utf-8-sig"))))
    assert list(rows[0])[0] == "topic" and rows[-1]["topic"] == "total"
    assert int(rows[-1]["conversations"]) == narrow["summary"]["conversations"]
    with page.expect_download() as download:
        page.click("#stats-report")
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"<tr><td>对话数</td><td>{narrow['summary']['conversations']}</td>" in report

    tablet = browser.new_page(viewport={"width": 820, "height": 1180})  # readable on a tablet: one column
    log_in(tablet, server, "boss", "granite ledger 9", lands_on="#stats-view")
    show(tablet, "2026-11-01", "2026-11-30")
    tablet.wait_for_selector("#chart-heat svg")
    heat, reasons = tablet.locator("#chart-heat").bounding_box(), tablet.locator("#chart-reasons").bounding_box()
    assert heat and reasons and reasons["y"] > heat["y"] + heat["height"] - 1
    tablet.screenshot(path=str(screenshots / "stats-tablet.png"), full_page=True)

    lawyer = browser.new_page(viewport={"width": 1366, "height": 800})
    log_in(lawyer, server, "zhang", "correct horse 7", lands_on="#app-view")
    assert lawyer.is_hidden("#stats-tab") and lawyer.is_hidden("#stats-view")
