"""A citizen applies for legal aid on the web page, on a phone, in headless Chromium: typing the answers and
tapping the choices, the summary, the consent, the 受理编号; an office step made in the back office shows on
the page's next poll, and 查询进度 shows the timeline. Screenshots go to docs/screenshots/ with
LEGALBOT_SCREENSHOTS=1 (see tests/test_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.store import Lawyer
from services import applications as apps
from tests.test_browser import browser, screenshots, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what the page shows does not depend on the database (the application's rows are tested on
    both in tests/test_applications.py)."""
    return f"sqlite:///{tmp_path / 'legalbot.db'}"

ID_CARD = "11010519491231002X"
PHONE = {"width": 390, "height": 844}


def accept(runtime: Runtime, reference: str) -> None:
    """What the office's console does when it accepts the application."""
    with runtime.store.session() as session:
        staff = Lawyer(username="centre", display_name="法律援助中心", password_hash="x", role="admin")
        session.add(staff)
        session.flush()
        found = apps.by_reference(session, reference)
        assert found is not None
        apps.act(session, found, "accept", staff)
        session.commit()


class Citizen:
    """The chat page as a citizen uses it: type and send, or tap one of the choices under the last reply."""

    def __init__(self, page: Any) -> None:
        from playwright.sync_api import expect

        self.page = page
        self.expect = expect

    def reply(self) -> Any:
        return self.page.locator(".msg-out").last

    def answered(self, expected: str, timeout: float = 5_000) -> str:
        self.expect(self.reply()).to_contain_text(expected, timeout=timeout)
        return str(self.reply().inner_text())

    def type(self, text: str, expected: str) -> str:
        self.page.fill("#text", text)
        self.page.click("#send")
        self.expect(self.page.locator(".msg[data-sender='citizen']").last).to_have_text(re.compile(re.escape(text)))
        return self.answered(expected)

    def tap(self, label: str, expected: str) -> str:
        self.choice(label).tap()
        return self.answered(expected)

    def choice(self, label: str) -> Any:
        return self.reply().locator("button.choice").filter(has_text=re.compile(f"^{re.escape(label)}$"))

    def choices(self) -> list[str]:
        return [str(t) for t in self.reply().locator("button.choice").all_inner_texts()]


def test_a_citizen_applies_on_a_phone_and_follows_the_application(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                                                  screenshots: Path) -> None:  # noqa: F811
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(server + "/")
    citizen = Citizen(page)

    citizen.type("申请法律援助", "请问您的姓名")
    citizen.type("张三", "身份证")
    citizen.type("110105194912310021", "身份证号码不对")
    citizen.type(ID_CARD, "电话")
    citizen.type("13912345678", "哪个区县")
    assert citizen.choices() == ["示例区", "示例新区", "示例县", "取消"]
    citizen.tap("示例区", "哪类事情")
    assert "工伤赔偿" in citizen.choices() and citizen.choice("其他").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing runs off the side
    page.screenshot(path=str(screenshots / "apply-form.png"))
    citizen.tap("追讨工资或确认劳动关系", "几口人")
    citizen.type("3", "收入")
    citizen.type("3000", "情况之一")
    citizen.tap("没有以下情况", "发生了什么")
    summary = citizen.type("老板拖欠三个月工资一直不给，想申请仲裁。", "请核对法律援助申请")
    for answer in ("张三", ID_CARD, "13912345678", "示例区", "追讨工资或确认劳动关系", "家庭人口：3", "3000"):
        assert answer in summary
    assert citizen.choices() == ["确认提交", "修改", "取消"]
    citizen.tap("确认提交", "敏感个人信息")
    done = citizen.tap("同意", "已提交。受理编号")
    reference = re.search(r"FY-\d{8}-\d{4}", done)
    assert reference and "法律援助中心" in done and "初步判断" in done, done
    assert citizen.choices() == ["查询进度"]
    page.screenshot(path=str(screenshots / "apply-submitted.png"))

    accept(runtime, reference.group(0))
    news = citizen.answered("已受理", timeout=10_000)  # the page polls every two seconds
    assert reference.group(0) in news
    timeline = citizen.tap("查询进度", "当前状态：已受理，办理中")
    assert reference.group(0) in timeline and "已提交" in timeline and "办理机构：示例市法律援助中心" in timeline
    assert len(re.findall(r"^· \d\d-\d\d \d\d:\d\d ", timeline, flags=re.MULTILINE)) == 2  # submitted, accepted
    page.screenshot(path=str(screenshots / "apply-progress.png"))
    context.close()
