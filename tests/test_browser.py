"""A citizen chats in the web page, is handed off, and a lawyer resolves it in the console (headless Chromium)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import create_app
from bot.channels.base import Channel
from bot.runtime import Runtime
from bot.settings import PROJECT_ROOT
from handoff.auth import create_lawyer
from tests.conftest import require
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
CHROMIUM = "/usr/bin/chromium"
#: The committed screenshots are refreshed only on request, so a test run leaves no binary churn in git.
SCREENSHOTS_WANTED = os.environ.get("LEGALBOT_SCREENSHOTS") == "1"
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(runtime: Runtime) -> Iterator[str]:
    with serve_app(runtime) as url:
        yield url


@contextlib.contextmanager
def serve_app(runtime: Runtime, channels: list[Channel] | None = None) -> Iterator[str]:
    """The whole app on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    app = create_app(runtime, run_sweeper=False, channels=channels if channels is not None else [])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, timeout=20, message="the server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/screenshots/ with LEGALBOT_SCREENSHOTS=1, else this test's tmp_path.

    They are taken either way, so a page that cannot be captured still fails the test."""
    folder = SCREENSHOTS if SCREENSHOTS_WANTED else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    require(os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "Playwright's Python package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_citizen_is_handed_off_and_a_lawyer_resolves(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]
                                                    screenshots: Path) -> None:
    create_lawyer(runtime.store, "zhang", "correct horse", display_name="张")

    citizen = browser.new_page(viewport={"width": 390, "height": 1000}, device_scale_factor=2)
    citizen.goto(server + "/")
    citizen.fill("#text", "老板拖欠工资三个月了，怎么办")
    citizen.click("#send")
    citizen.wait_for_selector(".msg[data-sender='bot'] >> text=法律依据")
    citizen.screenshot(path=str(screenshots / "webchat.png"))
    # HTML typed by a citizen is shown as text, never run
    citizen.fill("#text", "<img src=x onerror=\"document.title='pwned'\">")
    citizen.click("#send")
    citizen.wait_for_selector(".msg[data-sender='citizen'] >> text=<img src=x")
    assert citizen.title() != "pwned"
    assert citizen.locator("#messages img").count() == 0

    citizen.fill("#text", "我想找律师帮我打官司")
    citizen.click("#send")
    citizen.wait_for_selector("text=已为您转接律师")

    # history is kept across a reload
    citizen.reload()
    citizen.wait_for_selector("text=已为您转接律师")

    lawyer = browser.new_page(viewport={"width": 1280, "height": 800})
    lawyer.goto(server + "/console")
    lawyer.fill("#username", "zhang")
    lawyer.fill("#password", "correct horse")
    lawyer.click("#login")
    lawyer.wait_for_selector(".ticket button.claim")
    lawyer.click(".ticket button.claim")
    lawyer.click(".ticket")
    lawyer.wait_for_selector("#reply-text")
    lawyer.fill("#reply-text", "您好，我是张律师。请问有劳动合同吗？")
    lawyer.click("#reply-send")
    lawyer.wait_for_selector("#transcript .msg[data-sender='lawyer']")
    # the citizen's HTML is text in the console too
    lawyer.wait_for_selector("#transcript >> text=<img src=x")
    assert lawyer.locator("#transcript img").count() == 0 and lawyer.title() != "pwned"
    lawyer.screenshot(path=str(screenshots / "console.png"))

    citizen.wait_for_selector(".msg[data-sender='lawyer'] >> text=请问有劳动合同吗", timeout=10_000)
    citizen.fill("#text", "有的，签了两年")
    citizen.click("#send")
    lawyer.wait_for_selector("#transcript >> text=有的，签了两年", timeout=10_000)

    lawyer.select_option("#outcome", "resolved_by_lawyer")
    lawyer.fill("#summary", "建议申请劳动仲裁")
    lawyer.click("#resolve")
    citizen.wait_for_selector("text=请为本次服务打分", timeout=10_000)

    with runtime.store.session() as session:
        from sqlmodel import select

        from bot.store import Conversation

        outcomes = [c.outcome for c in session.exec(select(Conversation)).all()]
    assert "resolved_by_lawyer" in outcomes


def test_english_switch(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(server + "/")
    page.click("#lang")
    page.wait_for_selector("text=Public Legal Service")
    assert shutil.which("chromium") or os.path.exists(CHROMIUM)


def test_a_citizen_in_danger_reads_the_emergency_number_first(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]
                                                             screenshots: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(server + "/")
    page.fill("#text", "他又在打我 我躲在厕所里 他说今晚弄死我")
    page.click("#send")
    page.wait_for_selector(".msg[data-sender='bot'] >> text=12338")
    replies = page.locator(".msg:not([data-sender='citizen'])").all_inner_texts()
    first = next(i for i, text in enumerate(replies) if "12338" in text)
    notice = next(i for i, text in enumerate(replies) if "隐私说明" in text)
    assert first < notice  # the emergency text above the long first-contact notice
    seen = [line for line in replies[first].splitlines() if line != "智能助手说："]  # the screen reader's label
    assert "110" in seen[0]
    page.wait_for_selector("text=第一个被处理")
    assert not any("前面" in text for text in replies)  # never told that others are ahead
    page.screenshot(path=str(screenshots / "webchat-danger.png"))
    [ticket] = runtime.queue.tickets()
    assert ticket.ticket.priority == "urgent"


def test_the_page_sends_its_chat_secret_in_a_header_never_in_a_url(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.add_init_script("localStorage.setItem('legalbot.client_id', 'old-client-0001')")  # before secrets
    requests: list[tuple[str, str | None]] = []
    page.on("request", lambda r: requests.append((r.url, r.headers.get("x-chat-secret"))))
    page.goto(server + "/")
    page.fill("#text", "老板拖欠工资三个月了，怎么办")
    page.click("#send")
    page.wait_for_selector(".msg[data-sender='bot'] >> text=法律依据")
    page.reload()  # the history comes back with the secret the page kept
    page.wait_for_selector(".msg[data-sender='bot'] >> text=法律依据")
    chat = json.loads(page.evaluate("localStorage.getItem('legalbot.chat')"))
    assert page.evaluate("localStorage.getItem('legalbot.client_id')") is None
    assert chat["id"] != "old-client-0001" and len(chat["secret"]) >= 43
    assert not any(chat["secret"] in url for url, _ in requests)
    assert any(secret == chat["secret"] for url, secret in requests if f"/api/chat/{chat['id']}/" in url)
    # the id alone, as an access log shows it, opens nothing
    assert httpx.get(f"{server}/api/chat/{chat['id']}/messages", trust_env=False).status_code == 403


def test_browser_tests_wait_on_functions_the_page_policy_lets_playwright_poll() -> None:
    """wait_for_function re-evaluates a bare expression with eval() on every poll, which the page's
    script-src 'self' refuses as soon as the first check is false; a function is evaluated once."""
    import ast
    import re

    function = re.compile(r"\s*(async\s+)?(\(\s*[\w\s,]*\)|\w+)\s*=>|\s*(async\s+)?function\b")
    bare = []
    for path in sorted((PROJECT_ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "wait_for_function" and node.args):
                continue
            first = node.args[0]
            if isinstance(first, ast.JoinedStr):
                first = first.values[0] if first.values else ast.Constant("")
            if isinstance(first, ast.Constant) and not function.match(str(first.value)):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == [], f"write these predicates as '() => …': {bare}"
