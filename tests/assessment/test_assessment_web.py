"""The survey in the browser, through the app: save and resume, refused submission, result, tenancy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.assessment.instrument import default_instrument
from smart365.assessment.models import SurveyResponse
from smart365.core.tenancy import SYSTEM
from tests.conftest import PASSWORD, World

ITEMS = default_instrument().item_ids


def _login(app: Any, email: str) -> tuple[TestClient, str]:
    """A browser-like client logged in as ``email`` and its CSRF token."""
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/companies").text)
    assert csrf
    return client, csrf.group(1)


def _form(csrf: str, answers: dict[str, str], **extra: str) -> dict[str, str]:
    return {"csrf_token": csrf, **{f"item-{k}": v for k, v in answers.items()}, **extra}


def _responses(world: World, firm: int) -> list[SurveyResponse]:
    with world.db.session(SYSTEM) as session:
        return list(session.scalars(select(SurveyResponse).where(SurveyResponse.company_id == firm)))


def _checked(html: str, item: str) -> str | None:
    match = re.search(rf'name="item-{re.escape(item)}" value="(\w+)" checked', html)
    return match.group(1) if match else None


def test_member_saves_part_and_resumes_later(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["member_a"])
    url = f"/companies/{world.firm_a}/survey"
    page = client.get(url)
    assert page.status_code == 200
    assert "0 / 42 응답" in page.text
    assert _responses(world, world.firm_a) == []  # looking does not create a draft

    saved = client.post(url, data=_form(csrf, {"STR.1": "3", "KPI.5": "na"}, save="1"), follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("/survey?saved=1")

    again = client.get(url + "?section=all&saved=1")
    assert "2 / 42 응답" in again.text
    assert _checked(again.text, "STR.1") == "3" and _checked(again.text, "KPI.5") == "na"
    assert _checked(again.text, "STR.2") is None
    [draft] = _responses(world, world.firm_a)
    assert draft.status == "draft" and draft.answers == {"STR.1": 3, "KPI.5": None}


def test_the_survey_goes_section_by_section_and_resumes_where_the_firm_left_off(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["member_a"])
    url = f"/companies/{world.firm_a}/survey"
    first = client.get(url).text  # a new survey opens at its first section, with the others listed
    assert 'data-domain="STR"' in first and 'data-domain="DEV"' not in first and 'data-testid="next-section"' in first
    strategy = {item: "2" for item in ITEMS if item.startswith("STR.")}
    moved = client.post(url, data=_form(csrf, strategy, section="STR", next="DEV"), follow_redirects=False)
    assert moved.headers["location"].endswith("/survey?section=DEV&saved=1")
    client.post(url, data=_form(csrf, {"DEV.1": "4"}, section="DEV"))  # a section posts only its own answers...
    [draft] = _responses(world, world.firm_a)
    assert {k: v for k, v in draft.answers.items() if k.startswith("STR.")} == dict.fromkeys(strategy, 2)
    assert draft.answers["DEV.1"] == 4  # ...and the other sections' answers stay as saved
    resumed = client.get(url).text  # coming back opens the first section with questions left
    assert 'data-domain="DEV"' in resumed and 'data-domain="STR"' not in resumed
    assert re.search(r'data-section="STR">.*?<small class="muted done">\d+/\d+', resumed, re.S)
    bad = client.post(url, data=_form(csrf, {}, section="DEV", next="https://evil.example"), follow_redirects=False)
    assert bad.headers["location"].endswith("/survey?section=DEV&saved=1")  # an unknown section is not followed
    assert draft.on_behalf is False and draft.level is None


def test_submit_is_refused_while_items_are_missing_but_the_answers_are_kept(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["member_a"])
    answers = {item: "2" for item in ITEMS if item not in ("SYS.3", "CTL.4")}
    response = client.post(f"/companies/{world.firm_a}/survey", data=_form(csrf, answers, submit="1"))
    assert response.status_code == 422
    assert "아직 응답하지 않은 항목이 2개 있습니다: SYS.3, CTL.4" in response.text
    [draft] = _responses(world, world.firm_a)
    assert draft.status == "draft" and len(draft.answers) == 40 and draft.level is None


def test_consultant_submits_on_behalf_and_the_diagnosis_shows_the_level(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["consultant_a"])
    low = {item: "1" for item in ITEMS if item.startswith(("SYS.", "CTL."))}
    answers = dict.fromkeys(ITEMS, "3") | low | {"DEV.3": "na", "KPI.5": "na"}
    response = client.post(
        f"/companies/{world.firm_a}/survey", data=_form(csrf, answers, submit="1"), follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"/companies/{world.firm_a}/diagnosis"
    [result] = _responses(world, world.firm_a)
    assert result.status == "submitted" and result.on_behalf is True and result.submitted_at is not None
    assert result.instrument_version == default_instrument().version
    assert result.level == 1 and result.total == pytest.approx(440.0)  # 60 + 240 + 80 + 60: enough points...

    page = client.get(f"/companies/{world.firm_a}/diagnosis")
    assert page.status_code == 200
    assert "레벨 1 · 기초" in page.text and "440.0" in page.text
    # ...but not connected: the systems rule is the one that stops Level 2, and only that one
    assert "시스템·자동화 영역 단계 1.0이 레벨 2에 필요한 1.5에 못 미칩니다" in page.text
    assert page.text.count("총점") == 1  # the card label only: the points threshold is met
    assert 'id="chart-radar"' in page.text and "SYS.1" in page.text
    assert "컨설턴트가 기업을 대신해 응답" in page.text


def test_stage_two_everywhere_reaches_level_two_in_english_too(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["member_a"])
    answers = dict.fromkeys(ITEMS, "2")
    client.post(f"/companies/{world.firm_a}/survey", data=_form(csrf, answers, submit="1", priority_kpis="KPI.6"))
    korean = client.get(f"/companies/{world.firm_a}/diagnosis")
    assert "레벨 2 · 중간1" in korean.text and "400.0" in korean.text
    assert "레벨 3 달성 로드맵" in korean.text
    client.get("/lang/en")
    english = client.get(f"/companies/{world.firm_a}/diagnosis")
    assert "Level 2 · intermediate 1 (monitor)" in english.text and "Roadmap to Level 3" in english.text
    assert "The total score 400.0 is below the 550.0 points that Level 3 needs." in english.text
    [result] = _responses(world, world.firm_a)
    assert result.priority_kpis == ["KPI.6"] and result.level == 2


def test_centre_views_but_does_not_answer(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["admin"])
    page = client.get(f"/companies/{world.firm_a}/survey")
    assert page.status_code == 200 and 'data-testid="view-only"' in page.text
    refused = client.post(f"/companies/{world.firm_a}/survey", data=_form(csrf, {"STR.1": "1"}, save="1"))
    assert refused.status_code == 403
    assert client.get(f"/companies/{world.firm_a}/diagnosis").status_code == 200
    assert _responses(world, world.firm_a) == []


@pytest.mark.parametrize("who", ["member_b", "consultant_b", "partner"])
def test_outsiders_get_404_on_both_pages(app: Any, world: World, who: str) -> None:
    client, csrf = _login(app, world.emails[who])
    for path in ("survey", "diagnosis"):
        assert client.get(f"/companies/{world.firm_a}/{path}").status_code == 404
    posted = client.post(f"/companies/{world.firm_a}/survey", data=_form(csrf, {"STR.1": "5"}, submit="1"))
    assert posted.status_code == 404
    assert _responses(world, world.firm_a) == []


def test_an_invalid_stage_is_refused(app: Any, world: World) -> None:
    client, csrf = _login(app, world.emails["member_a"])
    response = client.post(f"/companies/{world.firm_a}/survey", data=_form(csrf, {"STR.1": "9"}, save="1"))
    assert response.status_code == 422 and "STR.1" in response.text
    assert _responses(world, world.firm_a) == []
