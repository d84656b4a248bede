"""The main pages under the Content-Security-Policy: each draws its charts (its nonce'd inline script ran),
throws no script error and reports no violation; the behaviours that were inline handlers still work;
/docs renders Swagger UI from the vendored files with no network beyond the app.

The conftest's browser fails any browser test on a violation too; this walk visits every page kind on
purpose, as a firm member and as the centre, on a demo with the showcase plant live.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from smart365.sim.live import LiveConfig
from tests.web.conftest import logged_in, open_own_firm, serve_demo, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def plant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    live = LiveConfig(network=False, backfill_h=1.0, tick=1.0)
    with serve_demo(tmp_path_factory, "security", firms=5, live=live) as url:
        yield url


def _watch(page: Any, base_url: str) -> dict[str, list[str]]:
    """Script errors and requests to anywhere but the app, from now on."""
    seen: dict[str, list[str]] = {"errors": [], "offsite": []}
    page.on("pageerror", lambda error: seen["errors"].append(f"{page.url}: {error}"))
    host = urlparse(base_url).netloc

    def note(request: Any) -> None:
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != host:
            seen["offsite"].append(request.url)

    page.on("request", note)
    return seen


def test_member_pages_work_under_the_policy(plant_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, plant_server, width=1400))
    seen = _watch(page, plant_server)
    expect(page.get_by_test_id("company-name")).to_contain_text("(주)한빛정밀")
    company_url = page.url
    assert "script-src 'self' 'nonce-" in page.goto(company_url).headers.get("content-security-policy", "")

    page.get_by_test_id("nav-monitoring").click()
    updated = page.get_by_test_id("live-updated").text_content()
    expect(page.get_by_test_id("live-updated")).not_to_have_text(updated or "", timeout=10_000)  # SSE connected
    page.get_by_test_id("machine-MCT-01").get_by_role("link", name="MCT-01").click()
    expect(page.locator(".trend canvas").first).to_be_visible()  # the trends' inline script ran
    page.get_by_test_id("analytics-link").click()
    expect(page.locator("#spc-location canvas")).to_be_visible()
    expect(page.locator("#spc-cusum canvas")).to_be_visible()

    page.goto(f"{company_url}/diagnosis")
    expect(page.locator("#chart-radar canvas")).to_be_visible()
    page.goto(f"{company_url}/report")
    page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
    page.get_by_role("button", name="인쇄").click()  # was onclick="window.print()"
    expect(page.locator("body")).to_have_attribute("data-printed", "yes")

    page.get_by_test_id("nav-testbed").click()
    expect(page.get_by_role("heading", level=2).first).to_be_visible()
    page.goto(f"{plant_server}/tickets")
    expect(page.get_by_role("heading", level=2).first).to_be_visible()

    page.goto(company_url)
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    sites = page.locator("form.delete").count()
    page.locator("form.delete button").first.click()  # was onsubmit="return confirm(…)"
    assert questions == ["이 항목과 그 아래 모든 항목을 삭제할까요?"]
    expect(page.locator("form.delete")).to_have_count(sites)  # dismissed: nothing deleted
    assert not seen["errors"], seen["errors"]
    assert not seen["offsite"], seen["offsite"]
    page.close()


def test_centre_pages_and_the_api_docs_work_under_the_policy(plant_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, plant_server, "admin@smart365.kr")
    seen = _watch(page, plant_server)
    assert "frame-ancestors 'none'" in page.goto(plant_server).headers.get("content-security-policy", "")
    expect(page.locator("#chart-regions canvas")).to_be_visible()  # the dashboard
    page.wait_for_timeout(1200)  # let the charts finish animating before the screenshot
    shot(page, "security-01-dashboard")
    page.goto(f"{plant_server}/centre")
    expect(page.locator("#chart-category canvas")).to_be_visible()
    for path in ("/centre/priorities", "/centre/experts", "/companies", "/monitoring"):
        page.goto(f"{plant_server}{path}")
        expect(page.locator("main h2, main h1").first).to_be_visible()

    page.goto(f"{plant_server}/campaigns")
    page.get_by_role("link", name="2026 전수조사").click()
    page.get_by_test_id("analytics-link").click()
    expect(page.locator("#chart-overall canvas")).to_be_visible()
    page.locator("select[name=baseline]").select_option("none")  # was onchange="this.form.submit()"
    expect(page).to_have_url(re.compile(r"baseline=none"))
    expect(page.locator("#chart-heatmap canvas")).to_be_visible()

    page.goto(f"{plant_server}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Smart365")
    expect(page.locator(".opblock").first).to_be_visible()
    page.wait_for_timeout(500)
    shot(page, "security-02-docs")
    assert not seen["errors"], seen["errors"]
    assert not seen["offsite"], seen["offsite"]
    page.close()
