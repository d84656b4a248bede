"""The centre reads a seeded campaign's analytics in the browser; a firm member finds its invitation."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import logged_in, open_own_firm, shot

pytestmark = pytest.mark.browser


def test_centre_admin_reads_the_level_distribution_of_the_2026_survey(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = logged_in(browser, live_server, "admin@smart365.kr", height=900)
    page.get_by_role("link", name="설문 캠페인").click()
    expect(page.get_by_test_id("campaign-row")).to_have_count(3)
    shot(page, "30-campaigns")
    page.get_by_role("link", name="2026 전수조사").click()
    expect(page.get_by_test_id("campaign-name")).to_contain_text("2026 전수조사")
    expect(page.get_by_test_id("response-rate")).to_have_text(re.compile(r"^\d+\.\d%$"))
    shot(page, "31-campaign")

    page.get_by_test_id("analytics-link").click()
    expect(page.get_by_test_id("analytics-title")).to_contain_text("모집단 분석")
    expect(page.locator("#chart-overall canvas")).to_be_visible()
    expect(page.locator("#chart-heatmap canvas")).to_be_visible()
    counts = [int(c) for c in page.get_by_test_id("level-count").all_inner_texts()]
    scored = int(page.get_by_test_id("firms-scored").inner_text())
    assert sum(counts) == scored > 0
    assert counts[1] + counts[2] > scored / 2, counts  # most firms at Levels 1–2
    assert sum(counts[3:]) < scored / 4, counts  # few at 3 or above
    expect(page.get_by_test_id("moved-climbed")).to_have_text(re.compile(r"^\d+$"))  # compared with 2025
    page.wait_for_timeout(1200)  # let the charts finish animating before the screenshot
    shot(page, "32-analytics")

    page.goto(f"{live_server}/campaigns")
    page.get_by_role("link", name="2026 전수조사").click()
    page.locator("[data-testid=member-row] a", has_text="진단 결과").first.click()
    page.get_by_test_id("report-link").click()
    expect(page.get_by_test_id("report-title")).to_have_text("스마트공장 수준진단 결과")
    expect(page.locator("#chart-radar canvas")).to_be_visible()
    expect(page.get_by_test_id("evidence-row")).to_have_count(6)
    shot(page, "33-report-ko")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_test_id("report-title")).to_have_text("Smart factory maturity diagnosis")
    page.emulate_media(media="print")
    shot(page, "34-report-en-print")
    page.close()


def test_firm_member_sees_the_open_campaign_invitation(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, live_server, height=900))
    page.get_by_test_id("survey-link").click()
    invitation = page.get_by_test_id("campaign-invitation")
    expect(invitation).to_contain_text("2026 하반기 경기 소부장 추적조사")
    expect(invitation).to_contain_text("미응답")
    shot(page, "35-member-invitation")
    page.close()
