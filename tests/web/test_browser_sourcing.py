"""Done-when of 판로, in Chromium over a five-firm demo: the partner reads its need's ranking with each criterion's
reason (the firms that answered by name, the others anonymous), moves the showcase firm's answer on, posts a need
(a bad quantity says why); the member sees the needs it matches and its reasons; the member's English menu keeps
to one line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sourcing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_demo(tmp_path_factory, "sourcing", firms=5) as url:
        yield url


def test_a_need_ranked_answered_and_moved_on(sourcing_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    partner = logged_in(browser, sourcing_server, "partner@smart365.kr")
    partner.get_by_test_id("nav-sourcing").click()
    expect(partner.get_by_test_id("need-row")).to_have_count(1)  # its own need; the centre's other buyer's is not
    partner.get_by_test_id("need-row").get_by_role("link").click()
    showcase = partner.get_by_test_id("match").filter(has_text="(주)한빛정밀")
    expect(showcase).to_have_count(1)
    expect(showcase.get_by_test_id("match-stage")).to_have_text("샘플")
    expect(showcase.locator("[data-criterion=certifications]")).to_contain_text("요구 인증을 모두 보유: IATF 16949.")
    expect(showcase.locator("[data-criterion=quality]")).to_contain_text("동의하에 공개: Cpk 1.46")
    shot(partner, "70-sourcing-need-ko")
    showcase.get_by_test_id("stage-form").locator("select").select_option("evaluation")
    showcase.get_by_role("button", name="단계 이동").click()
    expect(partner.get_by_test_id("match").filter(has_text="(주)한빛정밀").get_by_test_id("match-stage")).to_have_text(
        "평가")  # fmt: skip
    partner.get_by_role("link", name="← 전체 판로 수요").click()
    partner.get_by_text("새 판로 수요").click()
    partner.get_by_label("구매 기업").fill("한빛모빌리티")
    partner.get_by_label("품목", exact=True).fill("플라스틱 사출 커버")
    partner.get_by_label("월 수량").fill("많이")
    partner.get_by_test_id("need-submit").click()
    expect(partner.get_by_test_id("need-error")).to_have_text("“많이”는 정수가 아닙니다.")
    partner.get_by_label("월 수량").fill("8000")
    partner.get_by_test_id("need-submit").click()
    expect(partner.get_by_test_id("need-title")).to_contain_text("플라스틱 사출 커버")

    member = logged_in(browser, sourcing_server)
    member.get_by_test_id("nav-sourcing").click()
    expect(member.get_by_test_id("need-row").first).to_be_visible()
    member.get_by_test_id("need-row").filter(has_text="정밀 샤프트").get_by_role("link").click()
    expect(member.get_by_test_id("own-match")).to_contain_text("우리 기업 매칭: 1위")
    expect(member.get_by_test_id("ranking")).to_have_count(0)  # a firm sees its own row only
    member.get_by_role("link", name="English").click()
    expect(member.get_by_test_id("own-match")).to_contain_text("Our match: rank 1")
    shot(member, "71-sourcing-own-match-en")
    menu = member.locator("ul.menu")
    first = member.locator("ul.menu > li").first.bounding_box()
    box = menu.bounding_box()
    assert first and box and box["height"] < 1.8 * first["height"], "the member's English menu wraps"
