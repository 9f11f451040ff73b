"""The services menu on the citizen's page, on a phone, with the keyboard alone (issue 17, part 6): the
toggle says whether it is open, Escape closes it and gives the focus back, an entry sends its payload, and
我的咨询's answer is a list a screen reader can count; the axe-core audit finds nothing serious."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime import Runtime
from tests.test_accessibility import audit
from tests.test_browser import browser, screenshots, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
PHONE = {"width": 390, "height": 844}


def focused(page) -> str:  # type: ignore[no-untyped-def]
    return str(page.evaluate("document.activeElement && (document.activeElement.id || "
                             "document.activeElement.getAttribute('data-payload') || '')"))


def tab_to(page, target: str, limit: int = 20) -> None:  # type: ignore[no-untyped-def]
    for _ in range(limit):
        if focused(page) == target:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"the keyboard never reached {target}; it is on {focused(page)!r}")


def test_the_services_menu_with_the_keyboard(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                             screenshots: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_context(viewport=PHONE, device_scale_factor=2, bypass_csp=True).new_page()
    page.goto(server + "/")
    toggle = page.locator("#menu-toggle")
    menu = page.locator("#service-menu")
    expect(toggle).to_be_visible()
    assert toggle.get_attribute("aria-expanded") == "false" and menu.is_hidden()

    # Open with Enter, close with Escape: the focus is back on the toggle.
    tab_to(page, "menu-toggle")
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert menu.locator("button").all_inner_texts() == ["法律咨询", "法律援助", "人民调解", "公证", "办事指南", "我的咨询"]
    assert audit(page) == []
    page.keyboard.press("Tab")
    assert focused(page) == "/consult"
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    assert toggle.get_attribute("aria-expanded") == "false" and focused(page) == "menu-toggle"

    # 我的咨询 for a new citizen: nothing yet.
    page.keyboard.press("Space")
    tab_to(page, "/mine")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-out").last).to_contain_text("暂无记录")
    expect(menu).to_be_hidden()
    assert focused(page) == "menu-toggle"
    expect(page.locator(".msg[data-sender='citizen']").last).to_contain_text("我的咨询")  # the label, not /mine

    # 法律援助 offers its form, as on every channel.
    page.keyboard.press("Enter")
    tab_to(page, "/legal_aid")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-out").last.locator("button.choice").first).to_have_text("现在申请：法律援助申请")

    # A question, then 我的咨询 lists it: a real list, one item per consultation.
    page.fill("#text", "老板拖欠工资三个月了，怎么办")
    page.click("#send")
    page.wait_for_selector(".msg[data-sender='bot'] >> text=法律依据")
    page.focus("#menu-toggle")
    page.keyboard.press("Enter")
    tab_to(page, "/mine")
    page.keyboard.press("Enter")
    reply = page.locator(".msg-out").last
    expect(reply).to_contain_text("您的咨询记录")
    items = reply.locator("ul.msg-list > li")
    expect(items).to_have_count(1)
    assert "劳动争议" in items.first.inner_text() and "老板拖欠工资" in items.first.inner_text()
    assert items.first.locator("[aria-hidden='true']").inner_text().strip() == "·"  # the dot is not read out
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing runs off the side
    assert audit(page) == []
    page.keyboard.press("Enter")  # open again for the screenshot and the audit of the open menu
    expect(menu).to_be_visible()
    assert audit(page) == []
    page.screenshot(path=str(screenshots / "webchat-menu.png"))

    # The menu's text follows the browser's size setting (rem).
    def entry_px() -> float:
        return float(page.evaluate("parseFloat(getComputedStyle(document.querySelector('.service-item')).fontSize)"))
    normal = entry_px()
    page.evaluate("document.documentElement.style.fontSize = '150%'")
    assert entry_px() == normal * 1.5

    # A click elsewhere closes it too.
    page.evaluate("document.documentElement.style.fontSize = ''")
    page.click("#scroller")
    expect(menu).to_be_hidden()
    assert toggle.get_attribute("aria-expanded") == "false"


def test_the_menu_follows_the_language(server: str, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_page(viewport=PHONE)
    page.goto(server + "/")
    page.click("#lang")
    assert page.locator("#service-nav").get_attribute("aria-label") == "Services"
    page.click("#menu-toggle")
    assert page.locator("#service-menu button").all_inner_texts()[-1] == "My consultations"
    page.click("#service-menu button[data-payload='/mine']")
    expect(page.locator(".msg-out").last).to_contain_text("Nothing yet")
