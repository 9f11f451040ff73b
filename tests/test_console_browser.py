"""The lawyer console end to end in headless Chromium: queue badges, the handoff packet, private notes,
canned replies, transfer between lawyers, resolve, the WeChat reply-window countdown and the admins'
audit log. Screenshots go to docs/screenshots/ with LEGALBOT_SCREENSHOTS=1 (see tests/test_browser.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.runtime import Runtime
from handoff.auth import create_lawyer
from tests.test_browser import browser, screenshots, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

WAGE_QUESTION = "老板拖欠工资三个月了，一共8000元，我在杭州市西湖区的工地干活，怎么办"


def hand_off(runtime: Runtime, base_url: str, text: str, lang: str = "zh") -> tuple[int, dict[str, str]]:
    """A citizen asks in the web chat (taking the first question offered, if the bot offers some), then
    presses 转接律师; returns (ticket id, the chat's id and secret as the page keeps them)."""
    before = {v.ticket.id for v in runtime.queue.tickets()}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        chat = http.post("/api/chat").json()
        http.headers["X-Chat-Secret"] = chat["secret"]
        client = chat["id"]
        reply = http.post(f"/api/chat/{client}/messages", json={"text": text, "lang": lang})
        reply.raise_for_status()
        offered = [b["payload"] for m in reply.json()["messages"] for b in (m.get("buttons") or [])
                   if b["payload"].startswith("/faq:") and b["payload"] not in ("/faq:more", "/faq:none")]
        answered = any(b["payload"] == "/helpful" for m in reply.json()["messages"] for b in (m.get("buttons") or []))
        if offered and not answered:
            http.post(f"/api/chat/{client}/messages", json={"payload": offered[0], "lang": lang}).raise_for_status()
        http.post(f"/api/chat/{client}/messages", json={"payload": "/lawyer", "lang": lang}).raise_for_status()
    new = [v.ticket.id for v in runtime.queue.tickets() if v.ticket.id not in before]
    assert len(new) == 1, new
    assert new[0] is not None
    return new[0], chat


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/console")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector("#app-view:not([hidden])")


def test_two_lawyers_note_transfer_resolve_and_the_admin_audit(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                                               screenshots: Path) -> None:  # noqa: F811
    create_lawyer(runtime.store, "wang", "brass lantern 17", display_name="王律师", topics=["labor"])
    create_lawyer(runtime.store, "li", "quiet harbour 42", display_name="李律师", topics=["labor", "contract"])
    create_lawyer(runtime.store, "boss", "granite ledger 9", display_name="管理员", role="admin")

    ticket_id, chat = hand_off(runtime, server, WAGE_QUESTION)
    row = f".ticket[data-id='{ticket_id}']"
    # nobody claimed it in time: the SLA timer escalates it
    assert runtime.queue.sla_pass(escalate_after=dt.timedelta(0), remind_after=dt.timedelta(days=1))["escalated"] == [ticket_id]
    # two more citizens wait behind it, one writing in English
    hand_off(runtime, server, "离婚后孩子的抚养费对方一直不给，能起诉吗")
    english_id, _ = hand_off(runtime, server, "My landlord will not return my deposit. What can I do?", lang="en")

    # lawyer B is on duty first, so A sees B online when transferring
    b = browser.new_page(viewport={"width": 1440, "height": 900})
    log_in(b, server, "li", "quiet harbour 42")
    b.wait_for_selector(row)
    assert b.locator("#audit-tab").is_hidden()  # not an admin

    a = browser.new_page(viewport={"width": 1440, "height": 900})
    log_in(a, server, "wang", "brass lantern 17")
    a.wait_for_selector(f"{row} >> text=等待超时")
    assert a.locator(f"{row} .tag-channel").inner_text() == "网页"
    assert a.locator(f"{row} .tag-lang").inner_text() == "中文"
    assert a.locator(f"{row} .tag-urgent").count() == 0  # waiting long is not danger: shown apart
    assert a.locator(f"{row} .tag-escalated").count() == 1
    assert a.get_attribute(row, "data-priority") == "overdue"
    assert a.locator(".ticket[data-status='waiting']").first.get_attribute("data-id") == str(ticket_id)  # overdue first
    a.wait_for_selector(f".ticket[data-id='{english_id}'] .tag-lang >> text=English")
    assert a.request.get(server + "/api/console/audit").status == 403

    a.click(f"{row} button.claim")
    a.wait_for_selector("#reply-text")
    # the packet: reason and facts in Chinese, the FAQ answer the bot already gave
    a.wait_for_selector("#packet >> text=群众要求人工")
    a.wait_for_selector("#packet .chip-fact >> text=8000元")
    a.wait_for_selector("#packet .chip-fact >> text=老板")
    assert a.locator("#packet .faq-item").count() >= 1
    a.wait_for_selector("#packet >> text=此前的咨询与办事")  # a first-time citizen: said so, not left out
    assert a.locator("#transcript .msg-faq").count() >= 1
    # the citizen's press reads as the button's label, marked as a button, never as "/lawyer"
    a.wait_for_selector("#transcript .msg[data-kind='button'] .msg-tag >> text=按钮")
    assert a.locator("#transcript .msg[data-kind='button'] .msg-bubble").last.inner_text() == "转接律师"
    assert "/lawyer" not in a.locator("#transcript").inner_text()

    # claimed but silent: the reminder shows on the lawyer's own row
    assert runtime.queue.sla_pass(escalate_after=dt.timedelta(days=1), remind_after=dt.timedelta(0))["reminded"] == [ticket_id]
    a.wait_for_selector(f"{row} .ticket-remind >> text=提醒：请尽快回复")
    a.wait_for_selector("#ticket-alerts >> text=提醒：请尽快回复")
    assert b.locator(f"{row} .ticket-remind").count() == 0  # only the claiming lawyer is nagged

    # a private note
    assert a.locator(".notes-card .private-badge").inner_text() == "仅律师可见"
    a.fill("#note-text", "有工资条和考勤记录；需核实是否签了劳动合同")
    a.click("#note-add")
    a.wait_for_selector(".note >> text=需核实是否签了劳动合同")

    # a canned reply is inserted for editing, not sent
    messages_before = a.locator("#transcript .msg").count()
    a.click("#canned-open")
    a.locator("#canned-panel-list .canned-option", has_text="问候").first.click()
    inserted = a.input_value("#reply-text")
    assert inserted.startswith("您好，我是值班律师")
    assert a.locator("#transcript .msg").count() == messages_before
    a.fill("#reply-text", inserted + "\n请问您和老板签过劳动合同吗？")
    a.click("#reply-send")
    a.wait_for_selector("#transcript .msg[data-sender='lawyer'] >> text=请问您和老板签过劳动合同吗")
    assert a.input_value("#reply-text") == ""
    history = httpx.get(f"{server}/api/chat/{chat['id']}/messages", headers={"X-Chat-Secret": chat["secret"]},
                        timeout=30).json()["messages"]
    assert any(m["sender"] == "lawyer" and "签过劳动合同" in m["text"] for m in history)

    a.wait_for_selector("#transfer-to option[value='li']", state="attached")
    assert a.locator("#transfer-to option[value='wang']").count() == 0  # never yourself
    assert a.locator("#transfer-to option[value='boss']").count() == 0  # the admin never polled: offline
    a.screenshot(path=str(screenshots / "console-ticket.png"))

    # transfer asks first; saying no keeps the chat
    a.select_option("#transfer-to", "li")
    a.once("dialog", lambda d: d.dismiss())
    a.click("#transfer")
    a.wait_for_timeout(500)
    assert a.locator("#reply-form").is_visible()
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    a.once("dialog", accept)
    a.click("#transfer")
    a.wait_for_selector("#ticket-readonly >> text=处理中，您只能查看")
    assert a.locator("#reply-form").is_hidden() and a.locator("#manage-tools").is_hidden()
    assert a.locator("#owner-actions").is_hidden()
    assert "李律师" in asked[0]

    # lawyer B has it now, with A's note, and resolves it
    b.wait_for_selector(f"{row}.mine")
    b.click(row)
    b.wait_for_selector("#reply-form:not([hidden])")
    b.wait_for_selector(".note >> text=需核实是否签了劳动合同")
    b.fill("#note-text", "<img src=x onerror=\"document.title='pwned'\"> 已建议仲裁")
    b.click("#note-add")
    b.wait_for_selector(".note >> text=<img src=x")
    assert b.locator("#notes img").count() == 0 and b.title() != "pwned"
    b.click("#goto-resolve")
    b.select_option("#outcome", "resolved_by_lawyer")
    b.fill("#summary", "拖欠工资8000元，建议向劳动人事争议仲裁委员会申请仲裁")
    b.click("#resolve")
    b.wait_for_selector("#ticket-readonly >> text=该咨询已结束")
    b.wait_for_selector(row, state="detached")  # resolved tickets leave the queue

    # the admin reads the audit log
    admin = browser.new_page(viewport={"width": 1440, "height": 900})
    log_in(admin, server, "boss", "granite ledger 9")
    admin.click("#audit-tab")
    admin.wait_for_selector(".audit-entry[data-action='resolve']")
    actions = admin.eval_on_selector_all(
        f".audit-entry[data-ticket='{ticket_id}']", "rows => rows.map(r => r.dataset.action)")
    assert {"claim", "note", "reply", "transfer", "resolve", "escalated", "reminded"} <= set(actions)
    transfer = admin.locator(".audit-entry[data-action='transfer']").first
    assert "wang" in transfer.locator(".audit-lawyer").inner_text()
    assert "转给" in transfer.locator(".audit-detail").inner_text()
    assert "li" in admin.locator(".audit-entry[data-action='resolve'] .audit-lawyer").first.inner_text()
    admin.screenshot(path=str(screenshots / "console-audit.png"))
    # the ticket number opens it in the workbench
    admin.locator(".audit-entry[data-action='resolve'] .audit-ticket button").first.click()
    admin.wait_for_selector("#ticket-readonly >> text=该咨询已结束")


def test_wechat_reply_window_counts_down_and_blocks_sending(runtime: Runtime, server: str, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    create_lawyer(runtime.store, "zhao", "paper kite 2026", display_name="赵律师")
    ticket_id, _ = hand_off(runtime, server, "房东不退押金，合同还没到期")
    now = dt.datetime.now(dt.UTC)
    window: dict[str, Any] = {"expires_at": (now + dt.timedelta(minutes=30)).isoformat(), "remaining": 3}

    def as_wechat(route: Any) -> None:
        """The backend fills reply_window for WeChat chats; this chat is on the web, so pretend."""
        response = route.fetch()
        data = response.json()
        data["ticket"]["channel"] = "wechat"
        data["ticket"]["reply_window"] = dict(window)
        route.fulfill(response=response, json=data)

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.route(re.compile(rf".*/api/console/tickets/{ticket_id}$"), as_wechat)
    log_in(page, server, "zhao", "paper kite 2026")
    page.click(f".ticket[data-id='{ticket_id}'] button.claim")
    page.wait_for_selector("#reply-form:not([hidden])")
    page.wait_for_selector("#ticket-meta .tag-channel >> text=微信公众号")

    # under an hour: red, counting down every second, sending still allowed
    page.wait_for_selector("#reply-window[data-state='warn']")
    clock = page.locator("#reply-window-clock")
    first = clock.inner_text()
    assert re.fullmatch(r"剩余 00:(29|30):\d\d", first), first
    page.wait_for_function("t => document.getElementById('reply-window-clock').textContent !== t", arg=first,
                           timeout=3000)
    assert "还可发送 3 条" in page.inner_text("#reply-window")
    assert page.is_enabled("#reply-send")
    color = page.eval_on_selector("#reply-window", "e => getComputedStyle(e).color")
    assert color == "rgb(161, 31, 31)", color

    # plenty of time: calm
    window["expires_at"] = (now + dt.timedelta(hours=5)).isoformat()
    page.wait_for_selector("#reply-window[data-state='open']")
    assert re.fullmatch(r"剩余 0[45]:\d\d:\d\d", clock.inner_text())

    # no messages left: closed, sending disabled and explained
    window["remaining"] = 0
    page.wait_for_selector("#reply-window[data-state='closed']")
    assert page.is_disabled("#reply-send")
    assert "条数已用完" in page.inner_text("#reply-window-note")
    assert page.is_visible("#reply-blocked")

    # the window closes while the lawyer watches
    window["remaining"] = 2
    window["expires_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)).isoformat()
    page.wait_for_selector("#reply-window[data-state='warn']")
    assert page.is_enabled("#reply-send")
    page.wait_for_selector("#reply-window[data-state='closed']", timeout=8000)
    assert clock.inner_text() == "已关闭"
    assert "超过" in page.inner_text("#reply-window-note")
    assert page.is_disabled("#reply-send")
    page.fill("#reply-text", "还在吗？")
    page.press("#reply-text", "Control+Enter")
    page.wait_for_selector("#console-error:not([hidden])")
    assert page.locator("#transcript .msg[data-sender='lawyer']").count() == 0


def test_a_lawyer_links_telegram_from_the_console(runtime: Runtime, browser, screenshots: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The console shows a one-time /link command; once the lawyer sends it to the bot, the panel closes."""
    import dataclasses

    from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH, FloodLimiter, TelegramChannel
    from tests.fakes.telegram_api import FakeTelegramAPI, running
    from tests.test_browser import serve_app

    create_lawyer(runtime.store, "zhao", "paper kite 2026", display_name="赵律师")
    with running(FakeTelegramAPI()) as fake:
        settings = runtime.settings.model_copy(update={
            "telegram_token": fake.token, "telegram_api_base": fake.base_url, "telegram_mode": "webhook",
            "telegram_webhook_url": "https://bot.example.org/webhooks/telegram"})
        rt = dataclasses.replace(runtime, settings=settings)
        channel = TelegramChannel(rt, rate_limiter=FloodLimiter(chat_rate=0))
        with serve_app(rt, channels=[channel]) as base_url:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            log_in(page, base_url, "zhao", "paper kite 2026")
            page.click("#telegram-link:has-text('绑定 Telegram')")
            page.wait_for_selector("#telegram-panel:not([hidden])")
            command = page.inner_text("#telegram-command")
            assert re.fullmatch(r"/link [A-Za-z0-9_-]{8,}", command), command
            page.screenshot(path=str(screenshots / "console-telegram-link.png"))
            update = fake.text_update(8001, command)
            httpx.post(base_url + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: channel.secret_token},
                       timeout=30).raise_for_status()
            page.wait_for_selector("#telegram-panel", state="hidden", timeout=15_000)
            assert page.inner_text("#telegram-link") == "Telegram 已绑定"
    assert any("已绑定律师账号：赵律师" in text for text in fake.texts(8001))
