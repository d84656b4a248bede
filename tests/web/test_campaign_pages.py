"""Campaign pages through the app: create from a filter, live response rate, import with row + column errors
then commit, analytics and Excel export, the printable report, and what each role gets."""

from __future__ import annotations

import io
import re
from typing import Any

from openpyxl import load_workbook

from smart365.assessment.instrument import default_instrument
from tests.assessment.test_assessment_web import _form, _login
from tests.conftest import World

ITEMS = default_instrument().item_ids


def test_centre_creates_a_campaign_and_bad_input_says_why(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["admin"])
    page = client.get("/campaigns")
    assert page.status_code == 200 and "SENTINEL-A 캠페인" in page.text and "새 캠페인" in page.text
    form = {"csrf_token": csrf, "name": "경기 소부장", "region": "gyeonggi", "sobujang": "1", "ksic": "", "size": ""}
    bad = client.post("/campaigns", data=form | {"opens_on": "2026-05-01", "closes_on": "2026-04-01"})
    assert bad.status_code == 422 and "캠페인 종료일이 시작일보다 빠를 수 없습니다." in bad.text
    assert 'value="경기 소부장"' in bad.text  # the form keeps what was typed
    bad_date = client.post("/campaigns", data=form | {"opens_on": "someday", "closes_on": "2026-04-01"})
    assert bad_date.status_code == 422 and "2026-03-31 형식" in bad_date.text
    made = client.post(
        "/campaigns", data=form | {"opens_on": "2026-03-02", "closes_on": "2026-05-29"}, follow_redirects=False
    )
    assert made.status_code == 303
    page = client.get(made.headers["location"])
    assert "경기 소부장" in page.text and "응답률" in page.text and "SENTINEL-A 정밀" in page.text
    assert 'hx-trigger="every 5s"' in page.text


def test_the_progress_panel_follows_answers(app: Any, world: World) -> None:
    member, member_csrf = _login(app, world.emails["member_a"])
    survey = member.get(f"/companies/{world.firm_a}/survey")
    assert 'data-testid="campaign-invitation"' in survey.text and "SENTINEL-A 캠페인" in survey.text
    assert "미응답" in survey.text
    answers = dict.fromkeys(ITEMS, "2")
    member.post(f"/companies/{world.firm_a}/survey", data=_form(member_csrf, answers, submit="1"))
    admin, _csrf = _login(app, world.emails["admin"])
    panel = admin.get(f"/campaigns/{world.ids_a['campaign_id']}/progress")
    assert panel.status_code == 200 and "<html" not in panel.text
    assert re.search(r'data-testid="response-rate">100\.0%', panel.text)
    assert "초대 1개 기업 중 1개 제출" in panel.text


def test_import_on_the_page_checks_first_then_imports_the_good_rows(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["admin"])
    url = f"/campaigns/{world.ids_a['campaign_id']}/import"
    header = ",".join(["company_id", *ITEMS])
    rows = [[world.firm_a, *["3"] * 42], [world.firm_b, *["3"] * 42], [world.firm_a, "9", *["3"] * 41]]
    content = "\n".join([header, *(",".join(map(str, row)) for row in rows)]) + "\n"
    checked = client.post(url, data={"csrf_token": csrf}, files={"file": ("paper.csv", content.encode(), "text/csv")})
    assert checked.status_code == 200
    errors = re.findall(r'data-testid="import-error"><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td>', checked.text)
    assert [(row, column) for row, column, _reason in errors] == [
        ("3", "company_id"),
        ("4", "company_id"),
        ("4", "STR.1"),
    ]
    assert errors[0][2] == f"{world.firm_b}는 이 캠페인에 초대된 기업이 아닙니다"
    token = re.search(r'name="token" value="([0-9a-f]+)"', checked.text)
    assert token is not None and "올바른 1개 행 가져오기" in checked.text
    done = client.post(url, data={"csrf_token": csrf, "token": token.group(1)})
    assert done.status_code == 200 and "응답 1건 추가" in done.text
    assert "종이·엑셀에서 가져옴" in done.text and "레벨 3" in done.text
    again = client.post(url, data={"csrf_token": csrf, "token": token.group(1)})
    assert again.status_code == 422  # the checked file is used once


def test_analytics_export_and_report_for_the_centre(app: Any, world: World) -> None:
    member, member_csrf = _login(app, world.emails["member_a"])
    member.post(f"/companies/{world.firm_a}/survey", data=_form(member_csrf, dict.fromkeys(ITEMS, "2"), submit="1"))
    client, _csrf = _login(app, world.emails["admin"])
    campaign = world.ids_a["campaign_id"]
    page = client.get(f"/campaigns/{campaign}/analytics")
    assert page.status_code == 200 and 'data-testid="level-chart"' in page.text
    counts = re.findall(r'data-testid="level-count">(\d+)<', page.text)
    assert counts == ["0", "0", "1", "0", "0", "0"]
    assert client.get(f"/campaigns/{campaign}/analytics?by=region").status_code == 200
    assert client.get(f"/campaigns/{campaign}/analytics?by=colour").status_code == 422
    assert client.get(f"/campaigns/{campaign}/analytics?baseline=abc").status_code == 422
    export = client.get(f"/campaigns/{campaign}/export.xlsx")
    assert export.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(export.content), read_only=True)
    assert [row[7] for row in book["firms"].iter_rows(min_row=2, values_only=True)] == [2]
    report = client.get(f"/companies/{world.firm_a}/report")
    assert report.status_code == 200 and "스마트공장 수준진단 결과" in report.text and "@media print" not in report.text
    assert 'data-testid="evidence-row" data-item="CTL.4"' in report.text
    client.get("/lang/en?next=/")  # the app's language switch
    english = client.get(f"/companies/{world.firm_a}/report")
    assert "Smart factory maturity diagnosis" in english.text and "Self-reported vs measured" in english.text
    client.get("/lang/ko?next=/")
    diagnosis = client.get(f"/companies/{world.firm_a}/diagnosis")
    assert 'data-testid="evidence"' in diagnosis.text and "자가 응답 대 측정값" in diagnosis.text


def test_roles_land_where_they_should(app: Any, world: World) -> None:
    campaign = world.ids_a["campaign_id"]
    member, _ = _login(app, world.emails["member_a"])
    for path in ("", "/analytics", "/progress", "/export.xlsx"):
        moved = member.get(f"/campaigns/{campaign}{path}", follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"] == f"/companies/{world.firm_a}/survey"
    consultant, _ = _login(app, world.emails["consultant_a"])
    page = consultant.get(f"/campaigns/{campaign}")
    assert 'data-testid="answer-on-behalf"' in page.text and "종이·엑셀 응답 가져오기" not in page.text
    assert "설문 캠페인" in consultant.get("/").text  # the menu link
    partner, _ = _login(app, world.emails["partner"])
    assert partner.get("/campaigns").status_code == 403
