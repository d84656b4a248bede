"""A firm files a pain point in Korean; it is triaged and routed; the expert answers; the firm reads it."""

from __future__ import annotations

import re

import pytest

from smart365.sim.demo import DEMO_PASSWORD
from tests.web.conftest import shot

pytestmark = pytest.mark.browser

TITLE = "구형 프레스 데이터 수집"
BODY = (
    "2009년식 프레스 2대에 통신 기능이 없어 타발 수와 정지 시간을 작업일보에 손으로 적고 있습니다. "
    "자동으로 모을 방법이 있을까요?"
)


def _login(browser, live_server: str, email: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(locale="ko-KR", viewport={"width": 1360, "height": 900}).new_page()
    page.set_default_timeout(60_000)  # the first ticket trains the classifier on the centre's labelled cases
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.wait_for_url(re.compile(r"/$|/companies"))
    return page


def test_firm_files_a_ticket_and_reads_the_experts_answer(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    member = _login(browser, live_server, "member@hanbit.example")
    member.get_by_role("link", name="애로사항").first.click()
    member.get_by_test_id("new-ticket").click()
    member.get_by_test_id("title").fill(TITLE)
    member.get_by_test_id("body").fill(BODY)
    member.get_by_label("설비").select_option(label="PRS-01")
    shot(member, "30-ticket-form")
    member.get_by_test_id("submit-ticket").click()

    expect(member).to_have_url(re.compile(r"/tickets/\d+\?filed=1$"))
    ticket_url = member.url.split("?")[0]
    expect(member.get_by_test_id("category")).to_have_text("노후 설비 데이터 수집")
    expect(member.get_by_test_id("confidence")).to_contain_text(re.compile(r"신뢰도 \d+%"))
    expect(member.get_by_test_id("similar-case").first).to_be_visible()
    expect(member.get_by_test_id("expert")).to_have_text("김전문 컨설턴트")
    expect(member.get_by_test_id("assignment-reason")).to_contain_text("전담 전문가")
    expect(member.get_by_test_id("status")).to_have_text("배정")
    expect(member.get_by_test_id("sla-status").first).to_have_text(re.compile("정상|임박|초과"))
    shot(member, "31-ticket-triaged")

    consultant = _login(browser, live_server, "consultant@smart365.kr")
    consultant.goto(ticket_url)
    consultant.get_by_test_id("comment-body").fill(
        "프레스 컨트롤러의 카운터 접점에 IoT 게이트웨이를 연결하면 자동 수집이 됩니다."
    )
    consultant.get_by_test_id("send-comment").click()
    expect(consultant.get_by_test_id("status")).to_have_text("진행")

    member.reload()
    expect(member.get_by_test_id("comment").first).to_contain_text("IoT 게이트웨이")
    expect(member.get_by_test_id("sla").get_by_text("완료").first).to_be_visible()
    shot(member, "32-ticket-answered")

    consultant.goto(f"{live_server}/centre")
    expect(consultant.get_by_test_id("open-tickets")).not_to_have_text("0")
    expect(consultant.locator("#chart-category canvas")).to_be_visible()
    consultant.wait_for_timeout(600)
    shot(consultant, "33-centre-dashboard")
    member.close()
    consultant.close()
