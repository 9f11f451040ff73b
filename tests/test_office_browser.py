"""A back office handles an application in the console, in headless Chromium: the inbox with the overdue one
first, the answers and the pre-screen, then accept, ask for materials, accept again and complete, each step
in the timeline. Screenshots go to docs/screenshots/ with LEGALBOT_SCREENSHOTS=1 (see tests/test_browser.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.store import Application, utcnow
from handoff.auth import create_lawyer
from tests.test_browser import browser, screenshots, server  # noqa: F401
from tests.test_offices import ANSWERS, COUNTY_CENTRE, seed_application

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what the console shows does not depend on the database (the inbox's API runs on both in
    tests/test_offices.py)."""
    return f"sqlite:///{tmp_path / 'legalbot.db'}"


def log_in(page: Any, base_url: str, username: str, password: str, lands_on: str) -> None:
    page.goto(base_url + "/console")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector(f"{lands_on}:not([hidden])")


def test_an_office_accepts_asks_for_materials_and_completes(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                                            screenshots: Path) -> None:  # noqa: F811
    create_lawyer(runtime.store, "centre", "brass lantern 17", display_name="陈主任", role="office", office="fy-city")
    create_lawyer(runtime.store, "boss", "granite ledger 9", display_name="管理员", role="admin")
    app_id, reference, _ = seed_application(runtime)
    late_id, _, _ = seed_application(runtime, answers=ANSWERS | {"name": "王五", "summary": "工地摔伤，老板不管"})
    seed_application(runtime, answers=ANSWERS | {"name": "赵六"}, office=COUNTY_CENTRE)  # another office's
    with runtime.store.session() as session:
        late = session.get(Application, late_id)
        assert late is not None
        late.due_at = utcnow() - dt.timedelta(days=2)
        session.add(late)
        session.commit()

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    log_in(page, server, "centre", "brass lantern 17", lands_on="#apps-view")  # an office opens on its inbox
    row = f".app-row[data-id='{app_id}']"
    page.wait_for_selector(row)
    assert page.is_hidden("#app-view") and page.is_hidden("#console-tabs")  # no lawyers' queue for an office
    assert page.is_hidden("#console-error")
    assert "示例市法律援助中心" in page.inner_text("#user-name")
    rows = page.locator(".app-row")
    assert rows.count() == 2  # not the county centre's
    assert rows.first.get_attribute("data-id") == str(late_id)  # overdue first
    assert "已超期 2 天" in rows.first.inner_text()
    assert "赵六" not in page.inner_text("#apps-list") and ANSWERS["id_card"] not in page.inner_text("#apps-list")
    page.screenshot(path=str(screenshots / "office-inbox.png"))

    page.click(row)
    page.wait_for_selector(f"#app-heading >> text={reference}")
    page.wait_for_selector("#app-answers tr[data-name='id_card'] >> text=" + ANSWERS["id_card"])
    assert "法律援助法第三十一条" in page.inner_text("#app-screening")
    assert "劳动合同、工资条" in page.inner_text("#app-screening")
    assert page.locator("#app-steps button[data-step='complete']").count() == 0  # not before accepting

    page.click("#app-steps button[data-step='accept']")
    page.fill("#step-text", "承办人员会在两个工作日内联系您。")
    page.click("#step-submit")
    page.wait_for_selector("#app-timeline .timeline-item[data-kind='accept']")
    assert "已告知申请人" in page.inner_text("#app-timeline .timeline-item[data-kind='accept']")

    page.click("#app-steps button[data-step='ask_materials']")
    page.click("#step-submit")  # an empty checklist is caught before it is sent
    page.wait_for_selector("#step-error >> text=请列出需要补充的材料")
    page.fill("#step-checklist", "工资条或银行流水\n\n劳动合同")
    page.click("#step-submit")
    page.wait_for_selector("#app-timeline .timeline-item[data-kind='ask_materials'] >> text=材料：工资条或银行流水；劳动合同")
    page.wait_for_selector(f"{row} >> text=待补充材料")

    page.click("#app-steps button[data-step='accept']")
    page.click("#step-submit")
    page.wait_for_selector("#app-steps button[data-step='complete']")
    page.click("#app-steps button[data-step='complete']")
    page.select_option("#step-result", "granted")
    page.fill("#step-text", "承办律师：王律师，电话 0000-000000。")
    page.screenshot(path=str(screenshots / "office-application.png"))
    page.click("#step-submit")
    page.wait_for_selector("#app-timeline .timeline-item[data-kind='complete'] >> text=准予法律援助")
    kinds = page.eval_on_selector_all("#app-timeline .timeline-item", "items => items.map(i => i.dataset.kind)")
    assert kinds == ["submitted", "accept", "ask_materials", "accept", "complete"]
    assert page.inner_text("#app-meta").count("已办结") == 1
    page.wait_for_selector(f"{row}", state="detached")  # the open list no longer has it
    page.select_option("#apps-status", "closed")
    page.wait_for_selector(row)

    # an admin switches between the lawyers' queue and every office's applications
    admin = browser.new_page(viewport={"width": 1024, "height": 768})
    log_in(admin, server, "boss", "granite ledger 9", lands_on="#app-view")
    admin.click("#apps-tab")
    admin.wait_for_selector(f".app-row[data-id='{late_id}']")
    assert admin.locator(".app-row").count() == 2  # the open ones of both offices
    admin.click("#work-tab")
    admin.wait_for_selector("#app-view:not([hidden])")
