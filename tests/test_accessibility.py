"""The citizen's page as a phone with large text and a screen reader meets it (issue 17, part 6): an
automated audit (axe-core, vendored under tests/vendor/) finds no serious or critical violation on the empty
page, after an answer, and while waiting for a lawyer; messages say who is speaking; phone numbers can be
tapped; text sizes follow the browser's setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.runtime import Runtime
from tests.test_browser import browser, screenshots, server  # noqa: F401  (fixtures)

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def audit(page: Any) -> list[dict[str, Any]]:
    """The serious and critical violations axe finds on the page at rest: nothing being sent, no transition
    under way (a button fading back in after a send is half-transparent for 150 ms)."""
    page.wait_for_function("() => !document.querySelector('#send').disabled && document.getAnimations().every(a => !(a instanceof CSSTransition))")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result if v["impact"] in ("serious", "critical")]


def test_the_citizens_page_passes_the_accessibility_audit(runtime: Runtime, server: str, browser,  # type: ignore[no-untyped-def]  # noqa: F811
                                                           screenshots: Path) -> None:  # noqa: F811
    # The page's Content-Security-Policy allows its own scripts only: the audit's is let in by the browser.
    page = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                               bypass_csp=True).new_page()
    page.goto(server + "/")
    page.wait_for_selector("#text")
    assert audit(page) == []
    page.fill("#text", "老板拖欠工资三个月了，怎么办")
    page.click("#send")
    page.wait_for_selector(".msg[data-sender='bot'] >> text=法律依据")
    assert audit(page) == []

    # A screen reader hears who speaks; 110 and 12348 can be tapped.
    assert page.locator(".msg[data-sender='citizen'] .visually-hidden").first.inner_text() == "我说："
    assert page.locator(".msg[data-sender='bot'] .visually-hidden").first.inner_text() == "智能助手说："
    assert page.locator("a.tel[href='tel:110']").count() >= 1

    # Text follows the browser's size setting (rem): a larger root font makes the messages larger.
    def bubble_px() -> float:
        return float(page.evaluate("parseFloat(getComputedStyle(document.querySelector('.msg-bubble')).fontSize)"))
    normal = bubble_px()
    page.evaluate("document.documentElement.style.fontSize = '150%'")
    assert bubble_px() == normal * 1.5
    page.evaluate("document.documentElement.style.fontSize = ''")

    page.fill("#text", "我想找律师帮我打官司")
    page.click("#send")
    page.wait_for_selector("text=已为您转接律师")
    # Cancelling stays at hand while waiting, whatever the newest message is.
    page.wait_for_selector("#status #cancel-wait")
    assert audit(page) == []
    page.screenshot(path=str(screenshots / "webchat-waiting.png"))
    page.fill("#text", "好的我等着")
    page.click("#send")
    page.wait_for_selector(".msg[data-sender='citizen'] >> text=好的我等着")
    page.click("#cancel-wait")
    page.wait_for_selector("#status", state="hidden")
    assert runtime.queue.tickets() == []

    # A returning visitor sees the history, not an empty welcome.
    page.reload()
    page.wait_for_selector(".msg[data-sender='bot'] >> text=法律依据")
    assert page.locator("#empty-hint").is_hidden() and page.locator("#loading").is_hidden()
