"""A firm's member answers the maturity survey in the browser, submits it and reads the diagnosis."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import logged_in, open_own_firm, shot

pytestmark = pytest.mark.browser

NOT_APPLICABLE = ("DEV.3", "KPI.5")


def test_member_answers_the_survey_and_sees_level_two(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, live_server, height=900))
    expect(page.get_by_test_id("company-name")).to_contain_text("(주)한빛정밀")

    page.get_by_test_id("survey-link").click()
    expect(page).to_have_url(re.compile(r"/companies/\d+/survey$"))
    expect(page.get_by_test_id("progress")).to_have_text("0 / 42 응답")

    expect(page.get_by_test_id("survey-sections").locator("li")).to_have_count(11)  # ten domains, then the KPIs
    page.locator('input[type=radio][value="2"]').first.check()  # one answer, saved as it is chosen...
    expect(page.get_by_test_id("autosaved")).to_be_visible()
    page.reload()  # ...so leaving and coming back loses nothing
    expect(page.get_by_test_id("progress")).to_have_text("1 / 42 응답")
    answered = 0
    while page.get_by_test_id("next-section").count():  # one section at a time
        stage_two = page.locator('input[type=radio][value="2"]')
        for i in range(stage_two.count()):
            stage_two.nth(i).check()
        answered += stage_two.count()
        for item in NOT_APPLICABLE:
            choice = page.locator(f'input[name="item-{item}"][value="na"]')
            if choice.count():
                choice.check()
        if answered <= 8:
            shot(page, "20-survey-section")
        page.get_by_test_id("next-section").click()
        expect(page).to_have_url(re.compile(r"section=\w+&saved=1$"))
    assert answered == 42
    expect(page.get_by_test_id("survey-kpis")).to_be_visible()
    expect(page.get_by_test_id("progress")).to_have_text("42 / 42 응답")
    shot(page, "20-survey-answered")

    page.get_by_role("button", name="설문 제출").click()
    expect(page).to_have_url(re.compile(r"/companies/\d+/diagnosis$"))
    expect(page.get_by_test_id("level")).to_have_text("레벨 2 · 중간1")
    expect(page.get_by_test_id("total")).to_contain_text("400.0")
    expect(page.locator("#chart-radar canvas")).to_be_visible()
    expect(page.get_by_test_id("blocking-rule").first).to_contain_text("레벨 3에 필요한 550.0점")
    expect(page.get_by_test_id("roadmap-step").first).to_contain_text("2→3")
    page.wait_for_timeout(800)  # let the radar finish animating before the screenshot
    shot(page, "21-diagnosis")
    page.close()
