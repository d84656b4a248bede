"""The programme pages through the app: the centre creates and opens a call (bad input says why), a member applies
and reads its eligibility reasons, a reviewer scores, the centre runs the selection and reads every firm's reason;
Korean first, English on request; another firm's member gets 404."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from tests.assessment.test_assessment_web import _login
from tests.conftest import SENTINEL, World


def _call_form(csrf: str, **changes: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf, "title": "2027 부산 소부장 지원사업", "budget": "300,000,000", "cap": "100000000",
        "deadline": (date.today() + timedelta(days=20)).isoformat(), "share_gov": "50", "share_partner": "30",
        "share_firm": "20", "regions": ["busan"], "sobujang_quota": "0", "weight_plan": "35", "weight_capability": "25",
        "weight_impact": "20", "weight_priority": "20",
    }  # fmt: skip
    return form | changes


def test_the_whole_round_from_call_to_selection(app: Any, world: World) -> None:
    admin, csrf = _login(app, world.emails["admin"])
    listing = admin.get("/programmes")
    assert listing.status_code == 200 and "지원사업" in listing.text and "새 공고" in listing.text
    bad = admin.post("/programmes", data=_call_form(csrf, share_firm="30"))
    assert bad.status_code == 422 and "정부·협력사·기업 분담 비율의 합은 100%여야 합니다(현재 110%)." in bad.text
    assert 'value="2027 부산 소부장 지원사업"' in bad.text and 'value="busan" checked' in bad.text  # kept as typed
    negative = admin.post("/programmes", data=_call_form(csrf, budget="-5"))
    assert negative.status_code == 422 and "예산은 0원보다 커야 합니다." in negative.text
    words = admin.post("/programmes", data=_call_form(csrf, cap="많이"))
    assert words.status_code == 422 and "“많이”는 정수가 아닙니다." in words.text
    huge = admin.post("/programmes", data=_call_form(csrf, budget="9" * 20, cap="9" * 19))
    assert huge.status_code == 422 and "숫자가 너무 큽니다" in huge.text  # past 64 bits: refused before the driver
    made = admin.post("/programmes", data=_call_form(csrf), follow_redirects=False)
    assert made.status_code == 303
    call_url = made.headers["location"]
    call_id = int(call_url.rsplit("/", 1)[1])
    page = admin.get(call_url)
    assert "작성 중" in page.text and "3억 원" in page.text and "정부 50 % · 협력사 30 % · 기업 20 %" in page.text
    assert admin.post(f"{call_url}/open", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    again = admin.post(f"{call_url}/open", data={"csrf_token": csrf})
    assert again.status_code == 409 and "작성 중인 공고만 게시할 수 있습니다." in again.text

    member, member_csrf = _login(app, world.emails["member_a"])
    assert (
        f'href="/companies/{world.firm_a}/programmes/{call_id}" data-testid="apply-link"'
        in member.get("/programmes").text
    )
    apply_url = f"/companies/{world.firm_a}/programmes/{call_id}"
    assert 'data-testid="application-form"' in member.get(apply_url).text
    form = {"csrf_token": member_csrf, "plan": "MES와 설비 데이터 수집을 연계해 불량을 줄이는 계획입니다.",
            "item_0": "MES", "amount_0": "100,000,000", "requested": "90000000", "kpi_0": "불량률",
            "target_0": "1%"}  # fmt: skip
    too_much = member.post(apply_url, data=form)
    assert too_much.status_code == 422 and "정부·협력사 분담분(80%)을 넘습니다" in too_much.text
    sent = member.post(apply_url, data=form | {"requested": "80000000"}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].endswith("#eligibility")
    mine = member.get(apply_url)
    assert 'data-testid="not-eligible"' in mine.text
    assert "부산 지역 기업만 신청할 수 있습니다. 이 기업은 경기에 있습니다." in mine.text
    assert member.get(call_url, follow_redirects=False).headers["location"] == apply_url  # a member reads its own

    other, _csrf = _login(app, world.emails["member_b"])
    assert other.get(apply_url).status_code == 404
    assert other.get(call_url).status_code == 404
    assert other.post(f"{call_url}/select", data={"csrf_token": _csrf}).status_code == 403

    admin.post(f"{call_url}/close", data={"csrf_token": csrf})
    selected = admin.post(f"{call_url}/select", data={"csrf_token": csrf}, follow_redirects=False)
    assert selected.status_code == 303
    result = admin.get(call_url)
    assert 'data-testid="selection-summary"' in result.text and "자격 미달: 부산 지역 기업만" in result.text
    admin.get("/lang/en?next=/")  # the app's language switch
    english = admin.get(call_url)
    assert "Not eligible: Only firms in Busan may apply; the firm is in Gyeonggi." in english.text
    assert "Result and reason" in english.text and "KRW 300,000,000" in english.text
    member.get("/lang/en?next=/")
    assert "Not eligible for this call:" in member.get(apply_url).text


def test_a_reviewer_scores_and_the_consultant_of_another_firm_cannot(app: Any, world: World) -> None:
    call_url = f"/programmes/{world.ids_a['call_id']}"
    application_id = world.ids_a["application_id"]
    consultant, csrf = _login(app, world.emails["consultant_a"])
    page = consultant.get(call_url)
    assert page.status_code == 200 and SENTINEL in consultant.get(f"/companies/{world.firm_a}/programmes/"
                                                                  f"{world.ids_a['call_id']}").text  # fmt: skip
    assert 'data-testid="score-form"' in page.text
    form = {"csrf_token": csrf, "score_plan": "82", "score_capability": "75", "score_impact": "70"}
    scored = consultant.post(f"/applications/{application_id}/scores", data=form, follow_redirects=False)
    assert scored.status_code == 303
    after = consultant.get(call_url)
    assert re.search(r"82\.0<br><small class=\"muted\">평가위원 1명", after.text)
    wrong = consultant.post(f"/applications/{application_id}/scores", data=form | {"score_plan": "120"})
    assert wrong.status_code == 409 and "점수는 0에서 100 사이입니다." in wrong.text
    outsider, other_csrf = _login(app, world.emails["consultant_b"])
    assert (
        outsider.post(f"/applications/{application_id}/scores", data=form | {"csrf_token": other_csrf}).status_code
        == 404
    )
    assert outsider.get(call_url).status_code == 404
