"""Canned replies in the lawyer console, in headless Chromium and by keyboard only: "/" in the reply box lists
them and fills them in for the chat, the 常用回复 button inserts a knowledge-base answer with its legal basis,
and a lawyer adds a reply of their own and finds it with "/". Screenshot: docs/screenshots/console-canned.png
(with LEGALBOT_SCREENSHOTS=1, see tests/test_browser.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.store import HandoffTicket
from bot.taxonomy import Topic, display_name
from handoff.auth import create_lawyer
from tests.test_browser import browser, screenshots, server  # noqa: F401
from tests.test_console_browser import hand_off, log_in

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def options(page: Any, listbox: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#{listbox} [role=option] .canned-option-title").all_inner_texts()]


def claimed_chat(runtime: Runtime, server: str, browser: Any) -> tuple[Any, int]:  # noqa: F811
    """王律师 (labour law) logged in, with the wage question's chat claimed and its reply box focused."""
    create_lawyer(runtime.store, "wang", "brass lantern 17", display_name="王律师", topics=["labor"])
    ticket_id, _ = hand_off(runtime, server, "老板拖欠工资三个月了，一共8000元，怎么办")
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    log_in(page, server, "wang", "brass lantern 17")
    page.click(f".ticket[data-id='{ticket_id}'] button.claim")
    page.wait_for_selector("#reply-text:visible")
    page.focus("#reply-text")
    return page, ticket_id


def test_slash_lists_filters_and_inserts_the_reply_filled_in(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                                             screenshots: Path) -> None:  # noqa: F811
    page, ticket_id = claimed_chat(runtime, server, browser)
    with runtime.store.session() as session:
        ticket = session.get(HandoffTicket, ticket_id)
        assert ticket is not None and ticket.topic is not None
        topic = display_name(Topic(ticket.topic))
    page.keyboard.type("/")
    page.wait_for_selector("#canned-slash-list [role=option]")
    assert options(page, "canned-slash-list")[0] == "问候"
    first = page.locator("#canned-slash-list [role=option]").first
    assert page.get_attribute("#reply-text", "aria-activedescendant") == first.get_attribute("id")
    assert first.get_attribute("aria-selected") == "true"
    page.screenshot(path=str(screenshots / "console-canned.png"))
    page.keyboard.type("x")
    page.wait_for_function("() => document.querySelectorAll('#canned-slash-list [role=option]').length === 1")
    assert options(page, "canned-slash-list") == ["下一步建议"]
    page.keyboard.press("Enter")
    text = page.input_value("#reply-text")
    assert text.startswith(f"关于您咨询的{topic}问题，建议您下一步")  # the chat's topic, in words
    assert "/x" not in text and "{" not in text
    assert page.locator("#canned-slash-list").is_hidden()

    # after a space, "/" opens it again; ↓ moves, Tab inserts; the typed "/j" is replaced
    page.keyboard.type(" /j")
    page.wait_for_selector("#canned-slash-list [role=option]")
    assert options(page, "canned-slash-list")[:2] == ["紧急情况", "结束语"]
    page.keyboard.press("ArrowDown")
    second = page.locator("#canned-slash-list [role=option]").nth(1)
    assert page.get_attribute("#reply-text", "aria-activedescendant") == second.get_attribute("id")
    page.keyboard.press("Tab")
    text = page.input_value("#reply-text")
    assert text.endswith(" 以上意见仅供参考。如需进一步办理，可前往当地公共法律服务中心，或拨打12348热线。祝您顺利！")
    assert "/j" not in text and focused(page) == "reply-text"

    # Escape closes the list and keeps what was typed; a "/" inside a word opens nothing
    page.keyboard.type(" /")
    page.wait_for_selector("#canned-slash-list [role=option]")
    page.keyboard.press("Escape")
    assert page.locator("#canned-slash-list").is_hidden()
    assert page.input_value("#reply-text").endswith(" /")
    page.keyboard.type("1/2")
    assert page.locator("#canned-slash-list").is_hidden()

    # Ctrl+Enter still sends, the greeting filled with the lawyer's name
    page.fill("#reply-text", "")
    page.keyboard.type("/wh")
    page.wait_for_selector("#canned-slash-list [role=option]")
    page.keyboard.press("Enter")
    assert page.input_value("#reply-text").startswith("您好，我是值班律师王律师，")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#transcript .msg[data-sender='lawyer'] >> text=我是值班律师王律师")


def test_the_button_inserts_a_knowledge_base_answer_with_its_legal_basis(runtime: Runtime, server: str,  # noqa: F811
                                                                          browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page, _ = claimed_chat(runtime, server, browser)
    page.keyboard.type("请参考：")
    page.focus("#canned-open")
    page.keyboard.press("Enter")
    page.wait_for_selector("#canned-panel:visible")
    assert focused(page) == "canned-search"
    assert page.get_attribute("#canned-open", "aria-expanded") == "true"
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "canned-tab-replies"
    page.keyboard.press("ArrowRight")
    assert focused(page) == "canned-tab-faq"
    assert page.get_attribute("#canned-tab-faq", "aria-selected") == "true"
    page.keyboard.press("Tab")
    assert focused(page) == "canned-search"
    page.keyboard.type("拖欠工资")
    page.wait_for_selector("#canned-panel-list [role=option] .canned-basis")
    basis = page.locator("#canned-panel-list [role=option] .canned-basis").first.inner_text()
    assert basis.startswith("法律依据：《")
    page.keyboard.press("Enter")
    assert page.locator("#canned-panel").is_hidden()
    text = page.input_value("#reply-text")
    assert text.startswith("请参考：\n")
    assert "\n法律依据：《" in text and "劳动" in text
    assert focused(page) == "reply-text"


def test_a_lawyer_adds_a_reply_and_finds_it_with_slash(runtime: Runtime, server: str, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page, _ = claimed_chat(runtime, server, browser)
    page.focus("#canned-open")
    page.keyboard.press("Enter")
    page.wait_for_selector("#canned-panel:visible")
    page.keyboard.press("Tab")  # past the list (its options are chosen with the arrows) to 管理…
    assert page.evaluate("document.activeElement.textContent") == "管理…"
    page.keyboard.press("Enter")
    page.wait_for_selector(".canned-manage[open]")
    assert focused(page) == "canned-f-title"
    assert page.locator("#canned-f-shared").is_hidden()  # only admins share
    page.keyboard.type("工伤认定")
    page.keyboard.press("Tab")
    page.keyboard.type("gs")
    page.keyboard.press("Tab")
    page.keyboard.type("{称呼}好，工伤认定申请一般由单位提出，{案号}")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector(".canned-manage-row >> text=工伤认定")
    assert page.locator(".canned-manage-row", has_text="工伤认定").locator(".canned-scope").inner_text() == "我的"
    page.keyboard.press("Escape")
    assert page.locator(".canned-manage").is_hidden()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'canned-open'")  # on close

    page.focus("#reply-text")
    page.keyboard.type("/gs")
    page.wait_for_function("() => document.querySelectorAll('#canned-slash-list [role=option]').length === 1")
    option = page.locator("#canned-slash-list [role=option]").first
    assert option.locator(".canned-scope").inner_text() == "我的"
    page.keyboard.press("Enter")
    assert page.input_value("#reply-text") == "您好，工伤认定申请一般由单位提出，{案号}"
    assert "{案号}" in page.locator(".canned-note").inner_text()  # an unknown variable is pointed out
