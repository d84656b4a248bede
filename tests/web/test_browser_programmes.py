"""Support programmes in the browser: the centre creates and opens a call, a firm member applies and reads why it
is not eligible, reviewers' scores go in, and the centre runs the selection and reads every firm's reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from smart365.bootstrap import System
from smart365.core.tenancy import SYSTEM
from smart365.programmes import service
from smart365.programmes.models import Call
from smart365.registry.models import Company
from tests.web.conftest import logged_in, serve_demo, shot

pytestmark = pytest.mark.browser

TITLE = "2027 동남권 소부장 공정 고도화"
#: Firms of the seeded population in the call's regions (부산, 울산, 경남) that apply besides the showcase firm.
OTHERS = (
    "주식회사 동아메탈",
    "태광모터스부품 주식회사",
    "해성오토텍 주식회사",
    "새한가구 주식회사",
    "주식회사 동아식품",
)
PLAN = "가공 설비 12대의 가동 데이터를 모아 비가동 원인을 찾고 OEE를 높입니다."


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, System]]:
    systems: list[System] = []
    with serve_demo(tmp_path_factory, "programmes", firms=60, prepare=systems.append) as url:
        yield url, systems[0]


def _others_apply(system: System) -> None:
    """Five more firms file applications through the same service the form uses."""
    with system.db.session(SYSTEM) as session:
        call = session.scalars(select(Call).where(Call.title == TITLE)).one()
        for i, name in enumerate(OTHERS):
            firm = session.scalars(select(Company).where(Company.name == name)).one()
            requested = (30 + 10 * i) * 1_000_000
            plan = f"{name}의 설비 데이터 수집과 공정 모니터링 구축 계획입니다."
            data = service.ApplicationIn(plan, [{"item": "MES", "amount": requested * 2}], requested,
                                         [{"name": "불량률", "target": "2% → 1%"}])  # fmt: skip
            service.submit_application(session, call, firm, data)


def test_a_call_from_opening_to_selection_with_every_firms_reason(served: tuple[str, System], browser: Any) -> None:
    from playwright.sync_api import expect

    url, system = served
    admin = logged_in(browser, url, "admin@smart365.kr", height=1000)
    admin.get_by_test_id("nav-programmes").click()
    expect(admin.get_by_test_id("call-row")).to_have_count(2)  # the demo's selected 2026 call and open 2027 call
    shot(admin, "60-programmes-ko")
    admin.get_by_text("새 공고").click()
    admin.get_by_label("제목").fill(TITLE)
    admin.get_by_label("예산(원)").fill("120000000")
    admin.get_by_label("기업당 지원 한도(원)").fill("80000000")
    for region in ("busan", "ulsan", "gyeongnam"):
        admin.locator(f"input[name=regions][value={region}]").check()
    shot(admin, "61-programme-new-call-ko")
    admin.get_by_test_id("call-submit").click()
    expect(admin.get_by_test_id("call-state")).to_have_text("작성 중")
    admin.get_by_test_id("open-call").click()
    expect(admin.get_by_test_id("call-state")).to_have_text("접수 중")
    expect(admin.get_by_test_id("call-facts")).to_contain_text("1억 2,000만 원")

    member = logged_in(browser, url, height=1000)
    member.get_by_test_id("nav-programmes").click()
    member.get_by_test_id("call-row").filter(has_text=TITLE).get_by_test_id("apply-link").click()
    member.get_by_label("사업계획: 무엇을 왜 구축하는지").fill(PLAN)
    member.get_by_label("항목 1").fill("MES 라이선스")
    member.get_by_label("금액(원) 1").fill("90,000,000")
    member.get_by_label("신청액(원)").fill("70000000")
    member.get_by_label("KPI 1").fill("설비종합효율(OEE)")
    member.get_by_label("목표 1").fill("62% → 75%")
    shot(member, "62-programme-apply-ko")
    member.get_by_test_id("application-submit").click()
    reason = member.get_by_test_id("eligibility-reason")
    expect(reason).to_have_count(1)
    expect(reason).to_contain_text("부산, 경남, 울산 지역 기업만 신청할 수 있습니다. 이 기업은 경기에 있습니다.")
    shot(member, "63-programme-application-ko")
    member.get_by_role("link", name="English").click()
    expect(member.get_by_test_id("eligibility-reason")).to_contain_text(
        "Only firms in Busan, Gyeongnam, Ulsan may apply"
    )
    shot(member, "63-programme-application-en")

    _others_apply(system)
    admin.reload()
    expect(admin.get_by_test_id("application-row")).to_have_count(6)
    forms = admin.get_by_test_id("score-form")
    expect(forms).to_have_count(5)  # the five eligible firms: the showcase firm (경기) is not
    scores = ((82, 75, 70), (64, 70, 58), (90, 85, 80), (55, 60, 66), (77, 72, 69))
    for i, (plan, capability, impact) in enumerate(scores):
        form = admin.get_by_test_id("score-form").nth(i)
        form.get_by_label("사업계획의 타당성").fill(str(plan))
        form.get_by_label("추진 역량").fill(str(capability))
        form.get_by_label("기대 효과").fill(str(impact))
        form.get_by_role("button", name="저장").click()
        expect(admin.get_by_test_id("score-form").nth(i).locator("xpath=ancestor::tr")).to_contain_text("평가위원 1명")
    shot(admin, "64-programme-review-ko")
    admin.get_by_test_id("close-call").click()
    admin.get_by_test_id("run-selection").click()
    expect(admin.get_by_test_id("call-state")).to_have_text("선정")
    rows = admin.get_by_test_id("application-row")
    expect(rows).to_have_count(6)
    expect(admin.get_by_test_id("reason")).to_have_count(6)  # every firm has its reason
    for row in rows.all():
        expect(row.get_by_test_id("reason")).not_to_be_empty()
    showcase = rows.filter(has_text="(주)한빛정밀")
    expect(showcase.get_by_test_id("result")).to_have_text("미선정")
    expect(showcase.get_by_test_id("reason")).to_contain_text("자격 미달: 부산, 경남, 울산 지역 기업만")
    expect(rows.get_by_test_id("result").filter(has_text="미선정")).not_to_have_count(6)
    expect(admin.get_by_test_id("reason").filter(has_text="선정: 총점")).not_to_have_count(0)
    shot(admin, "65-programme-selection-ko")
    admin.get_by_role("link", name="English").click()
    expect(admin.get_by_test_id("call-state")).to_have_text("Selected")
    expect(showcase.get_by_test_id("reason")).to_contain_text("Not eligible: Only firms in Busan, Gyeongnam, Ulsan")
    shot(admin, "65-programme-selection-en")
    admin.goto(f"{url}/programmes")
    shot(admin, "60-programmes-en")
    admin.get_by_role("link", name="2026 스마트공장 고도화 지원사업 (2차)").click()  # the demo's selected call
    expect(admin.get_by_test_id("reason")).to_have_count(24)
    shot(admin, "66-programme-demo-selected-en")
    admin.get_by_role("link", name="한국어").click()
    expect(admin.get_by_test_id("call-state")).to_have_text("선정")
    shot(admin, "66-programme-demo-selected-ko")
    admin.goto(f"{url}/programmes")  # English views of the forms: the new call, the review, an application
    admin.get_by_role("link", name="English").click()
    admin.get_by_text("New call").click()
    expect(admin.get_by_test_id("call-form")).to_be_visible()
    shot(admin, "61-programme-new-call-en")
    admin.get_by_role("link", name="2027 소부장 스마트공장 고도화 지원사업 (1차)").click()
    expect(admin.get_by_test_id("score-form").first).to_be_visible()
    shot(admin, "64-programme-review-en")
    member.goto(f"{url}/programmes")
    member.get_by_test_id("call-row").filter(has_text="(1차)").get_by_test_id("apply-link").click()
    expect(member.get_by_test_id("application-form")).to_contain_text("Submit the application")
    shot(member, "62-programme-apply-en")
    member.close()
    admin.close()
