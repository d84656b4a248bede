"""A person in a browser: log in, see firms in Korean, switch language, search, open a firm."""

from __future__ import annotations

import re
import time

import pytest

from smart365.sim.demo import DEMO_PASSWORD
from tests.web.conftest import logged_in, open_own_firm, shot

pytestmark = pytest.mark.browser


def test_centre_admin_logs_in_searches_and_opens_a_firm(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = browser.new_page(locale="ko-KR", viewport={"width": 1360, "height": 900})
    page.goto(f"{live_server}/companies")
    expect(page).to_have_url(re.compile(r"/login\?next=/companies"))
    expect(page.get_by_role("heading", name="Smart365 로그인")).to_be_visible()
    shot(page, "01-login")

    page.get_by_label("이메일").fill("admin@smart365.kr")
    page.get_by_label("비밀번호").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("heading", name="기업")).to_be_visible()
    expect(page.get_by_test_id("result-count")).to_have_text("61개 기업")
    page.goto(f"{live_server}/")
    expect(page.get_by_test_id("companies-count")).to_have_text("61")
    page.wait_for_timeout(1500)  # let the charts finish animating before the screenshot
    shot(page, "02-dashboard-ko")

    page.goto(f"{live_server}/companies")
    page.get_by_test_id("company-search").fill("한빛정밀")
    expect(page.get_by_test_id("result-count")).to_have_text("1개 기업")
    expect(page).to_have_url(re.compile(r"q=%ED%95%9C%EB%B9%9B%EC%A0%95%EB%B0%80|q=한빛정밀"))
    shot(page, "03-search")
    page.get_by_role("link", name="(주)한빛정밀").click()
    expect(page.get_by_test_id("company-name")).to_contain_text("(주)한빛정밀")
    expect(page.get_by_text("MCT-01")).to_be_visible()
    shot(page, "04-company-ko")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Plant structure")).to_be_visible()
    expect(page.get_by_text("CNC machining centre").first).to_be_visible()
    shot(page, "05-company-en")
    page.close()


def test_company_member_edits_own_profile_with_a_clear_error_first(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, live_server))
    expect(page.get_by_test_id("company-name")).to_contain_text("(주)한빛정밀")
    page.get_by_text("기업 정보 수정").click()
    page.get_by_label("스마트공장 구축 연도").fill("1800")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_text("1990 이상이어야 합니다.")).to_be_visible()
    shot(page, "06-edit-error")
    page.get_by_label("스마트공장 구축 연도").fill("2022")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_text("저장했습니다.")).to_be_visible()
    expect(page.locator("dl.profile")).to_contain_text("2022")
    page.close()


def test_member_adds_a_machine_and_a_tag(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, live_server, height=900))
    page.get_by_text("+ 설비 추가").first.click()
    form = page.locator("details.add[open] form")
    form.get_by_label("이름").fill("MCT-05")
    form.get_by_label("통신 방식").select_option("opcua")
    form.get_by_label("접속 주소").fill("opc.tcp://127.0.0.1:4840")
    form.get_by_role("button", name="추가").click()
    page.get_by_role("link", name="MCT-05").click()
    expect(page.get_by_test_id("equipment-name")).to_contain_text("MCT-05")
    page.get_by_label("이름").fill("spindle_load")
    page.get_by_label("단위").fill("%")
    page.get_by_label("최댓값").fill("150")
    page.get_by_role("button", name="태그 추가").click()
    expect(page.get_by_role("cell", name="spindle_load")).to_be_visible()
    shot(page, "07-equipment")
    page.close()


def test_member_imports_tags_from_a_file_after_seeing_its_bad_row(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, live_server))
    page.get_by_role("link", name="태그 가져오기").click()
    sheet = "설비,태그,표시 이름,단위\nMCT-01,coolant_flow,절삭유 유량,L/min\n없는설비,feed,,\n"
    page.locator("input[type=file]").set_input_files(
        {"name": "tags.csv", "mimeType": "text/csv", "buffer": sheet.encode()}
    )
    page.get_by_role("button", name="파일 검사").click()
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("2개 행 중 1개 행이 올바릅니다.")
    expect(report.get_by_role("cell", name="설비", exact=True)).to_be_visible()
    shot(page, "08-tag-import-check")
    page.get_by_role("button", name="올바른 1개 행 가져오기").click()
    expect(report).to_contain_text("태그 1개 추가, 0개 갱신, 1개 행 제외.")
    shot(page, "09-tag-import-done")
    page.get_by_role("link", name="기업으로 돌아가기").click()
    page.get_by_role("link", name="MCT-01").first.click()
    expect(page.get_by_role("cell", name="coolant_flow")).to_be_visible()
    page.close()


def test_member_chooses_to_overwrite_corrections_and_reads_the_revision(live_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = open_own_firm(logged_in(browser, live_server))
    page.get_by_role("link", name="MCT-01").first.click()
    equipment = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.go_back()
    page.get_by_test_id("signals-link").click()
    page.get_by_label("새 값으로 덮어쓰기", exact=False).check()
    page.get_by_test_id("corrections-form").get_by_role("button", name="저장").click()
    expect(page.get_by_label("새 값으로 덮어쓰기", exact=False)).to_be_checked()

    token = page.request.post(f"{live_server}/api/v1/auth/token",
                              form={"username": "member@hanbit.example", "password": DEMO_PASSWORD}).json()  # fmt: skip
    headers = {"Authorization": f"Bearer {token['access_token']}", "Content-Type": "text/plain"}
    ts = (time.time_ns() // 10**9 - 60) * 10**9  # a point a gateway sends twice, the second time corrected
    answers = [page.request.post(f"{live_server}/api/v1/ingest", headers=headers,
                                 data=f"mct,equipment_id={equipment} spindle_load={v} {ts}").json()
               for v in (55.5, 57.25)]  # fmt: skip
    assert (answers[0]["stored"], answers[1]["conflicts"]) == (1, 1), answers
    page.reload()
    rows = page.get_by_test_id("revision-row")
    expect(rows.first).to_contain_text("55.5")
    expect(rows.first).to_contain_text("대체")
    shot(page, "10-signals-corrections-ko")
    page.context.add_cookies([{"name": "lang", "value": "en", "url": live_server}])
    page.reload()
    expect(page.get_by_test_id("revision-row").first).to_contain_text("replaced")
    shot(page, "10-signals-corrections-en")
    page.close()
