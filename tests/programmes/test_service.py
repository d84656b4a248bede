"""Calls checked as data, eligibility with its reasons on submission, reviewers' scores, the selection stored with
every firm's reason, the audit trail, and tenancy (a member never reads another firm's application)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from smart365.core import audit
from smart365.core.db import Database, utcnow
from smart365.core.errors import Conflict, Forbidden, Invalid, NotFound
from smart365.core.i18n import use_locale
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.programmes import service
from smart365.programmes.models import Call, CallState, ReviewScore, SelectionResult
from smart365.programmes.selection import Infeasible
from smart365.registry.models import Company
from smart365.sim.population import generate_population
from tests.conftest import World

ADMIN = Principal(user_id=1, role=Role.CENTRE_ADMIN)


def _call(**changes: object) -> service.CallIn:
    base = {"title": "시험 공고", "budget": 300_000_000, "cap": 100_000_000, "deadline": utcnow() + timedelta(days=9)}
    return service.CallIn(**(base | changes))  # type: ignore[arg-type]


def _app(requested: int = 80_000_000, total: int = 100_000_000) -> service.ApplicationIn:
    plan = "설비 데이터를 자동으로 모아 MES와 연계하는 계획입니다."
    kpis = [{"name": "불량률", "target": "2% → 1%"}]
    return service.ApplicationIn(plan, [{"item": "MES", "amount": total}], requested, kpis)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"share_firm": 30}, "must add up to 100 % (now 110 %)"),
        ({"share_gov": -10, "share_firm": 80}, "cannot be negative"),
        ({"budget": -5}, "The budget must be more than 0 won."),
        ({"cap": 400_000_000}, "at most the budget"),
        ({"title": "  "}, "needs a title"),
        ({"sobujang_quota": 120}, "between 0 and 100"),
        ({"region_minimums": {"atlantis": 1}}, "Unknown region: atlantis"),
        ({"eligibility": {"level_min": 3, "level_max": 1}}, "cannot be above the highest"),
        ({"eligibility": {"colour": "blue"}}, "Unknown eligibility rule: colour"),
        ({"criteria": [{"id": "plan", "weight": 0}]}, "needs a weight above 0"),
    ],
)
def test_a_bad_call_is_refused_with_its_reason(db: Database, changes: dict[str, object], reason: str) -> None:
    with db.session(SYSTEM) as session, pytest.raises(Invalid, match=reason.replace("(", r"\(").replace(")", r"\)")):
        service.create_call(session, _call(**changes))


def test_only_the_centre_creates_and_opens_calls(db: Database) -> None:
    with db.session(Principal(user_id=9, role=Role.COMPANY_MEMBER, company_id=1)) as session, pytest.raises(Forbidden):
        service.create_call(session, _call())


def test_eligibility_reasons_name_each_failed_rule_in_korean_and_english(db: Database) -> None:
    firm = Company(name="가나 금속", sobujang=False, region="seoul", employees=30)
    call = Call(title="공고", eligibility=service.check_eligibility_rules({
        "sobujang_only": True, "level_min": 2, "level_max": 3, "regions": ["busan", "ulsan"], "sizes": ["ge300"],
        "exclude_prior_support": True,
    }))  # fmt: skip
    prior = Call(title="2026 지원사업")
    reasons = service.eligibility_reasons(call, firm, service.Standing(level=1.4, priority=55.0), prior)
    assert [r["rule"] for r in reasons] == ["sobujang", "level", "region", "size", "prior"]
    with use_locale("ko"):
        texts = [service.reason_text(r) for r in reasons]
    assert texts[1] == "이 기업의 수준(레벨 1.4)이 공고의 최저 요건인 레벨 2보다 낮습니다."
    assert texts[2] == "부산, 울산 지역 기업만 신청할 수 있습니다. 이 기업은 서울에 있습니다."
    assert texts[3] == "종업원 300명 이상 기업 대상 공고입니다. 이 기업의 종업원은 30명입니다."
    assert "“2026 지원사업”에 선정되었고" in texts[4]
    with use_locale("en"):
        assert service.reason_text(reasons[2]) == "Only firms in Busan, Ulsan may apply; the firm is in Seoul."
    no_level = service.eligibility_reasons(call, firm, service.Standing(None, None))
    assert "no submitted maturity survey" in no_level[1]["msgid"]
    fine = Company(name="다라 정밀", sobujang=True, region="busan", employees=400)
    assert service.eligibility_reasons(call, fine, service.Standing(2.5, 70.0), None) == []


def test_a_submitted_application_keeps_its_eligibility_and_bad_ones_say_why(db: Database, world: World) -> None:
    with db.session(SYSTEM) as session:
        call = service.create_call(session, _call(eligibility={"regions": ["busan"], "sobujang_only": True}))
        service.open_call(session, call)
        a = session.get(Company, world.firm_a)
        assert a is not None
        with pytest.raises(Invalid, match="cap per firm"):
            service.submit_application(session, call, a, _app(requested=150_000_000, total=200_000_000))
        with pytest.raises(Invalid, match=r"government and partner shares \(80 %\)"):
            service.submit_application(session, call, a, _app(requested=90_000_000, total=100_000_000))
        with pytest.raises(Invalid, match="at least one budget line"):
            service.submit_application(session, call, a, service.ApplicationIn("x" * 30, [], 1, [{"name": "k"}]))
        application = service.submit_application(session, call, a, _app())
        assert not application.eligible and [r["rule"] for r in application.reasons] == ["region"]
        with pytest.raises(Conflict, match="already applied"):
            service.submit_application(session, call, a, _app())
        acts = session.scalars(select(audit.AuditEntry.action).order_by(audit.AuditEntry.id)).all()
        assert acts[-3:] == ["programme.call_create", "programme.call_open", "programme.apply"]


def _population(session: object, n: int) -> list[Company]:
    from smart365.sim.demo import add_firm

    return [add_firm(session, firm) for firm in generate_population(n, seed=11)]  # type: ignore[arg-type]


def test_the_selection_is_stored_with_every_firms_reason_and_audited(db: Database) -> None:
    with db.session(SYSTEM) as session:
        firms = _population(session, 4)
        call = service.create_call(session, _call(budget=160_000_000, cap=100_000_000, region_minimums={}))
        service.open_call(session, call)
        apps = [service.submit_application(session, call, f, _app()) for f in firms]
    with db.session(ADMIN) as session:
        call = session.get(Call, call.id)
        assert call is not None
        with pytest.raises(Conflict, match="still taking applications"):
            service.run_selection(session, call)
        service.close_call(session, call)
        with pytest.raises(Conflict, match="4 eligible applications still lack"):
            service.run_selection(session, call)
        for score, application in zip((90, 80, 70, 60), apps, strict=True):
            for criterion in ("plan", "capability", "impact"):
                service.record_score(session, session.merge(application), criterion, score)
        with pytest.raises(Invalid, match="between 0 and 100"):
            service.record_score(session, session.merge(apps[0]), "plan", 101)
        selection = service.run_selection(session, call)
        assert call.state == CallState.SELECTED and len(selection.chosen) == 2 and selection.cost == 160_000_000
    with db.session(SYSTEM) as session, use_locale("ko"):
        results = {r.application_id: r for r in session.scalars(select(SelectionResult))}
        assert [results[a.id].selected for a in apps] == [True, True, False, False]
        third = service.selection_texts(results[apps[2].id].reason)
        assert third[0].startswith("미선정: 총점이 더 높은 신청 조합이 예산을 사용했습니다")
        # unreviewed priority (20 of 100) counts 0: 0.8 × 70 = 56; beating the second (0.8 × 80 = 64) needs 64.01
        assert third[1] == "총점이 64.01점 이상이었다면 선정되었을 것입니다."
        assert results[apps[2].id].score == pytest.approx(56.0)
        assert session.scalar(select(audit.AuditEntry).where(audit.AuditEntry.action == "programme.select"))


def test_a_member_reads_only_its_own_firms_application(db: Database, world: World) -> None:
    application_id = world.ids_a["application_id"]
    member_b = Principal(user_id=99, role=Role.COMPANY_MEMBER, company_id=world.firm_b)
    with db.session(member_b) as session:
        with pytest.raises(NotFound):
            service.get_application(session, application_id)
        assert service.applications(session, world.ids_a["call_id"]) == []
        with pytest.raises(NotFound):
            service.reviewed_call(session, world.ids_a["call_id"])
    member_a = Principal(user_id=98, role=Role.COMPANY_MEMBER, company_id=world.firm_a)
    with db.session(member_a) as session:
        assert service.get_application(session, application_id).company_id == world.firm_a
    partner = Principal(user_id=97, role=Role.DATA_PARTNER)
    with db.session(partner) as session, pytest.raises(Forbidden):
        service.list_calls(session)


def test_an_impossible_quota_is_a_409_that_names_it(db: Database) -> None:
    with db.session(SYSTEM) as session:
        firms = _population(session, 2)
        call = service.create_call(session, _call(region_minimums={"jeju": 1}))
        service.open_call(session, call)
        apps = [service.submit_application(session, call, f, _app()) for f in firms]
        for application in apps:
            for criterion in ("plan", "capability", "impact"):
                session.add(ReviewScore(application_id=application.id, company_id=application.company_id,
                                        reviewer_id=1, criterion=criterion, score=70.0))  # fmt: skip
        service.close_call(session, call)
        with use_locale("ko"), pytest.raises(Infeasible) as caught:
            service.run_selection(session, call)
        assert caught.value.status == 409 and caught.value.localized().startswith("제주 지역은 최소 1개 기업을 선정")
        assert call.state == CallState.CLOSED
