"""A lawyer works a morning's queue from the keyboard (issue 17), in headless Chromium at 1366×800:
claim-next takes the danger first, j/k move, r replies, l labels, / searches, o notes with an @mention,
e resolves with outcome tags and a required summary; the history shows the citizen's rating and reopens
the chat; a new urgent chat is announced; "我的" shows the ratings; the page passes axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.runtime import Runtime
from handoff.auth import create_lawyer
from tests.test_accessibility import AXE
from tests.test_browser import browser, screenshots, server  # noqa: F401
from tests.test_console_browser import hand_off, log_in

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

WAGES = "老板拖欠工资三个月了，一共8000元，我在杭州市西湖区的工地干活，怎么办"
DEPOSIT = "房东不退三千块押金，合同到期了还说要扣钱，怎么办"
DANGER = "我老公又在打我，说要杀了我"


def serious_violations(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("() => document.getAnimations().every(a => !(a instanceof CSSTransition))")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result if v["impact"] in ("serious", "critical")]


def heading(page: Any) -> str:
    return str(page.text_content("#ticket-heading") or "")


def press(page: Any, key: str) -> None:
    """A shortcut pressed with nothing focused, as a lawyer does after Esc."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def test_a_morning_queue_worked_from_the_keyboard(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                                  screenshots: Path) -> None:  # noqa: F811
    create_lawyer(runtime.store, "wang", "brass lantern 17", display_name="王律师", topics=["labor"])
    create_lawyer(runtime.store, "li", "quiet harbour 42", display_name="李律师")
    wages, wages_chat = hand_off(runtime, server, WAGES)
    deposit, _ = hand_off(runtime, server, DEPOSIT)
    danger, _ = hand_off(runtime, server, DANGER)

    context = browser.new_context(viewport={"width": 1366, "height": 800}, bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "wang", "brass lantern 17")
    page.wait_for_selector(f'.ticket[data-id="{danger}"]')
    assert page.locator(".ticket[data-id]").count() == 3

    press(page, "?")
    page.wait_for_selector("#shortcuts-dialog[open]")
    assert "认领下一个" in (page.text_content("#shortcuts-dialog") or "")
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcuts-dialog:not([open])", state="attached")

    press(page, "n")  # claim next: the citizen in danger first, though she wrote last
    page.wait_for_function(f"() => document.querySelector('#ticket-heading').textContent.includes('#{danger}')")
    page.wait_for_selector("#reply-form:not([hidden])")

    press(page, "k")  # the claimed chat is now under 我处理中, below the waiting ones
    page.wait_for_function(f"() => !document.querySelector('#ticket-heading').textContent.includes('#{danger}')")
    moved_to = heading(page)
    press(page, "j")
    page.wait_for_function(f"() => document.querySelector('#ticket-heading').textContent.includes('#{danger}')")
    assert moved_to != heading(page)
    page.wait_for_selector("#reply-form:not([hidden])")  # the chat has loaded: it is mine

    press(page, "r")
    assert page.evaluate("document.activeElement.id") == "reply-text"
    page.keyboard.type("您现在安全吗？如有危险请立即拨打110。")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#transcript >> text=如有危险请立即拨打110")

    press(page, "l")
    assert page.evaluate("document.activeElement.id") == "label-input"
    page.keyboard.type("家暴")
    page.keyboard.press("Enter")
    page.wait_for_selector("#labels >> text=家暴")

    page.click("#classify summary")  # the bot's area was wrong: the lawyer corrects it
    page.select_option("#fix-topic", "marriage_family")
    page.click("#fix-save")
    page.wait_for_selector("#toasts >> text=分类已更正")
    page.wait_for_selector(f'.ticket[data-id="{danger}"] >> text=婚姻家庭')

    press(page, "s")  # put aside: it sinks to 稍后处理 and says until when
    assert page.evaluate("document.activeElement.id") == "snooze-for"
    page.click("#snooze")
    page.wait_for_selector("#snooze-state >> text=已推迟到")
    page.wait_for_selector(f'.queue-group.group-snoozed ~ .ticket[data-id="{danger}"]')
    page.click("#unsnooze")
    page.wait_for_selector("#unsnooze[hidden]", state="attached")
    page.wait_for_selector(".queue-group.group-snoozed", state="detached")

    press(page, "o")
    assert page.evaluate("document.activeElement.id") == "note-text"
    page.keyboard.type("@li 请协助联系妇联")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#notes >> text=请协助联系妇联")

    # search and filters
    press(page, "/")
    assert page.evaluate("document.activeElement.id") == "queue-search"
    page.keyboard.type("押金")
    page.wait_for_function("() => document.querySelectorAll('.ticket[data-id]').length === 1")
    assert page.get_attribute(".ticket[data-id]", "data-id") == str(deposit)
    assert "找到 1 个" in (page.text_content("#filter-summary") or "")
    page.fill("#queue-search", "")
    page.click("#filters-toggle")
    page.select_option("#f-label", "家暴")
    page.wait_for_function(f"() => [...document.querySelectorAll('.ticket[data-id]')].map(r => r.dataset.id).join() === '{danger}'")
    page.click("#filters-reset")
    page.wait_for_function("() => document.querySelectorAll('.ticket[data-id]').length === 3")

    # resolve: the summary is required, the tags are kept
    page.click(f'.ticket[data-id="{danger}"]')
    page.wait_for_function(f"() => document.querySelector('#ticket-heading').textContent.includes('#{danger}')")
    press(page, "e")
    assert page.evaluate("document.activeElement.id") == "outcome"
    page.select_option("#outcome", "emergency_referred")
    page.click("#resolve")
    page.wait_for_selector("#summary-error:not([hidden])")
    page.check('#outcome-tags input[value="danger_reported"]')
    page.fill("#summary", "已提示拨打110，建议向妇联和派出所求助，可申请人身安全保护令。")
    page.click("#resolve")
    page.wait_for_selector("#reopen-box:not([hidden])")

    # the wage chat: claimed, answered and resolved; the citizen rates it
    page.click(f'.ticket[data-id="{wages}"] button.claim')
    page.wait_for_selector("#reply-form:not([hidden])")
    page.fill("#summary", "建议先协商，不成可申请劳动仲裁。")
    page.check('#outcome-tags input[value="guided_to_arbitration"]')
    page.click("#resolve")
    page.wait_for_selector("#reopen-box:not([hidden])")
    with httpx.Client(base_url=server, timeout=30, headers={"X-Chat-Secret": wages_chat["secret"]}) as http:
        http.post(f"/api/chat/{wages_chat['id']}/messages", json={"payload": "/rate:5"}).raise_for_status()

    # history: ended chats are found, show the rating, and can be reopened
    page.select_option("#f-status", "resolved")
    page.wait_for_selector(f'.ticket[data-id="{wages}"] .ticket-rating')
    page.click(f'.ticket[data-id="{wages}"]')
    page.wait_for_selector("#rating-card:not([hidden])")
    assert "5 星" in (page.text_content("#rating-stars") or "")
    assert "劳动仲裁" in (page.text_content("#closing-summary") or "")
    page.once("dialog", lambda d: d.accept())
    page.click("#reopen")
    page.wait_for_selector("#toasts >> text=已重新打开")
    page.wait_for_selector("#reply-form:not([hidden])")

    # a new urgent chat is announced while the lawyer works, though the list shows only the chats being handled
    page.select_option("#f-status", "claimed")
    page.wait_for_timeout(3500)  # one queue poll watched the open queue, so the next urgent chat is new to it
    urgent, _ = hand_off(runtime, server, "有人拿刀堵在我家门口，说要砍死我")
    page.wait_for_selector(f"#toasts >> text=紧急咨询 #{urgent}", timeout=15000)

    # the lawyer's own page
    page.click("#mine-tab")
    page.wait_for_selector("#mine-rows tr")
    assert "5 星" in (page.text_content("#mine-cards") or "")

    page.click("#work-tab")
    page.wait_for_selector("#app-view:not([hidden])")
    violations = serious_violations(page)
    assert violations == [], violations
    page.screenshot(path=str(screenshots / "console-workbench.png"))

    # the colleague named in the note is told
    other = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    log_in(other, server, "li", "quiet harbour 42")
    other.wait_for_selector("#mentions-count:not([hidden])")
    other.click("#mentions-button")
    other.click("#mentions-list button")
    other.wait_for_function(f"() => document.querySelector('#ticket-heading').textContent.includes('#{danger}')")
    other.wait_for_selector("#mentions-count[hidden]", state="attached", timeout=15000)
    context.close()
