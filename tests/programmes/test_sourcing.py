"""판로: matching explains every criterion (in other words than the need's too), consent hides measured quality,
a firm answers for its own firm only, the pipeline's steps and the amount won, and bad input says why (4xx)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core import audit
from smart365.core.errors import Conflict, Forbidden, Invalid, NotFound
from smart365.core.i18n import use_locale
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.programmes import matching, sourcing
from smart365.programmes.models import NeedState, SourcingNeed, Stage
from smart365.registry.models import Company
from tests.conftest import SENTINEL, World, bearer


def _need(**changes: Any) -> sourcing.NeedIn:
    base: dict[str, Any] = {"buyer": "파트너 P", "item": "스테인리스 샤프트", "material": "SUS304",
                            "process": "CNC 가공", "quantity": 5000, "certifications": ["iso9001"],
                            "region": "gyeonggi"}  # fmt: skip
    return sourcing.NeedIn(**(base | changes))


def _as(world: World, who: str) -> Principal:
    from smart365.core.accounts import User

    with world.db.session(SYSTEM) as session:
        user = session.scalar(select(User).where(User.email == world.emails[who]))
        assert user is not None
        assigned = frozenset({world.firm_a}) if who == "consultant_a" else frozenset()
        return Principal(user_id=user.id, role=Role(user.role), company_id=user.company_id, assigned=assigned)


def test_matching_reads_other_words_and_explains_every_criterion() -> None:
    profiles = [
        matching.Profile("molder", products=("PC/ABS 외함",), processes=("플라스틱 성형",), region="chungnam",
                         certifications=("ISO 9001",), capacity=50_000),
        matching.Profile("words", products=("사출 케이스",), processes=("사출",), region="chungnam"),
        matching.Profile("press", products=("강판 브래킷",), processes=("프레스",), region="busan",
                         certifications=("iso9001",)),
    ]  # fmt: skip
    need = matching.Need(item="케이스", process="사출", material="폴리카보네이트", quantity=20_000,
                         certifications=("iso9001",), region="daejeon")  # fmt: skip
    ranked = matching.Matcher(profiles).rank(need)
    assert ranked[0].key == "molder"  # no word in common with the need, every criterion met
    assert {c.id for c in ranked[0].criteria} == {"text", "process", "material", "item", "certifications", "region",
                                                  "capacity"}  # fmt: skip
    words = next(r for r in ranked if r.key == "words")
    why = {c.id: matching.criterion_text(c.as_dict()) for c in words.criteria}
    assert why["certifications"] == "요구 인증 미보유: ISO 9001."
    assert why["region"] == "납품 지역과 같은 권역(충남)."
    assert why["capacity"] == "기업이 월 생산 능력을 적지 않음."
    with use_locale("en"):
        assert matching.criterion_text(words.criteria[1].as_dict()) == "Same Process: 사출."
    keyword = matching.keyword_rank(profiles, [need])[0]
    assert "molder" not in keyword  # plain keyword search misses it


def test_consent_decides_whether_the_buyer_sees_measured_quality(world: World) -> None:
    partner = _as(world, "partner_p")
    with world.db.session(SYSTEM) as session:
        need_id = session.scalar(select(SourcingNeed.id))
    with world.db.session(partner) as session:
        need = sourcing.get_need(session, need_id)
        (shown,) = [m for m in sourcing.need_matches(session, need) if m.company_id == world.firm_a]
        assert shown.profile is not None and shown.profile.cpk is None and shown.profile.fpy is None
        assert "quality" not in {c["id"] for c in shown.criteria}
    with world.db.session(SYSTEM) as session:
        company = session.get(Company, world.firm_a)
        assert company is not None
        sourcing.save_profile(session, company, sourcing.ProfileIn(
            products=["정밀 샤프트"], processes=["CNC 가공"], materials=["SUS304"], certifications=["iso9001"],
            capacity=10_000, cpk=1.5, fpy=0.98, share_quality=True))  # fmt: skip
        need = session.get(SourcingNeed, need_id)
        assert need is not None
        sourcing.match_need(session, need)
        logged = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == "sourcing.profile")).all()
        assert logged[-1].details["consent_changed"] is True
    with world.db.session(partner) as session:
        (shown,) = [m for m in sourcing.need_matches(session, sourcing.get_need(session, need_id))
                    if m.company_id == world.firm_a]  # fmt: skip
        assert shown.profile is not None and shown.profile.cpk == 1.5
        quality = next(c for c in shown.criteria if c["id"] == "quality")
        assert matching.criterion_text(quality) == "동의하에 공개: Cpk 1.50, 직행률 98.0%, 수준 –."
    with world.db.session(SYSTEM) as session:  # consent withdrawn: the stored ranking hides it too
        company = session.get(Company, world.firm_a)
        assert company is not None
        sourcing.save_profile(session, company, sourcing.ProfileIn(processes=["CNC 가공"], cpk=1.5))
    with world.db.session(partner) as session:
        (shown,) = [m for m in sourcing.need_matches(session, sourcing.get_need(session, need_id))
                    if m.company_id == world.firm_a]  # fmt: skip
        assert "quality" not in {c["id"] for c in shown.criteria} and shown.profile and shown.profile.cpk is None


def test_the_buyer_knows_a_firm_only_once_it_answers(world: World) -> None:
    with world.db.session(SYSTEM) as session:
        company = session.get(Company, world.firm_a)
        assert company is not None
        need = sourcing.post_need(session, _need(item="SUS 축"))
        need.posted_by = _as(world, "partner_p").user_id
        need_id = need.id
    with world.db.session(_as(world, "partner_p")) as session:
        (anonymous,) = sourcing.need_matches(session, sourcing.get_need(session, need_id))
        assert anonymous.company is None and anonymous.company_id is None and anonymous.criteria
    with world.db.session(_as(world, "member_a")) as session:
        company = session.get(Company, world.firm_a)
        assert company is not None
        sourcing.answer(session, sourcing.get_need(session, need_id), company, Stage.INTEREST, "가능합니다")
    with world.db.session(_as(world, "partner_p")) as session:
        (named,) = sourcing.need_matches(session, sourcing.get_need(session, need_id))
        assert named.company == f"{SENTINEL} 정밀" and named.response is not None


def test_a_firm_answers_for_its_own_firm_only(world: World) -> None:
    with world.db.session(SYSTEM) as session:
        need_id = session.scalar(select(SourcingNeed.id))
    with world.db.session(_as(world, "member_b")) as session:
        with pytest.raises(NotFound):
            sourcing.get_need(session, need_id)  # B is not ranked for it
        assert session.get(Company, world.firm_a) is None  # nor can it reach firm A
        assert sourcing.list_needs(session) == []
    with world.db.session(_as(world, "member_a")) as session:
        need = sourcing.get_need(session, need_id)
        with pytest.raises(NotFound):  # a firm not ranked for the need cannot answer it, even the centre's way
            company_b = Company(id=world.firm_b, name="x", brn="0", ksic_code="25911", region="gyeongnam")
            sourcing.answer(session, need, company_b, Stage.INTEREST)
    with world.db.session(_as(world, "partner")) as session, pytest.raises(Forbidden):
        sourcing.answer(session, need, Company(id=world.firm_a), Stage.INTEREST)
    with world.db.session(_as(world, "consultant_a")) as session:
        assert [n.id for n in sourcing.list_needs(session)] == [need_id]  # sees it, cannot answer
        with pytest.raises(Forbidden):
            sourcing.answer(session, sourcing.get_need(session, need_id), Company(id=world.firm_a), Stage.INTEREST)


def test_the_pipeline_moves_step_by_step_and_the_order_carries_the_amount_won(world: World) -> None:
    partner, member = _as(world, "partner_p"), _as(world, "member_a")
    response_id = world.ids_a["response_id"]
    with world.db.session(member) as session, pytest.raises(Forbidden, match="Only the buyer"):
        sourcing.move(session, response_id, Stage.RFQ)
    with world.db.session(partner) as session:
        with pytest.raises(Conflict, match="cannot move to order"):
            sourcing.move(session, response_id, Stage.ORDER, won=10)
        for stage in (Stage.RFQ, Stage.SAMPLE, Stage.EVALUATION):
            sourcing.move(session, response_id, stage, note=f"{stage} 단계")
        with pytest.raises(Invalid, match="amount won"):
            sourcing.move(session, response_id, Stage.ORDER)
        with pytest.raises(Invalid, match="Unknown stage: shipped"):
            sourcing.move(session, response_id, "shipped")
        sourcing.move(session, response_id, Stage.ORDER, won=120_000_000)
    with world.db.session(partner) as session:
        response, need = sourcing.get_response(session, response_id)
        assert response.stage == Stage.ORDER and response.won == 120_000_000 and need.state == NeedState.ORDERED
        assert [h["stage"] for h in response.history] == ["interest", "rfq", "sample", "evaluation", "order"]
        result = sourcing.outcomes(session, [need.id])
        assert result.won == 120_000_000 and result.orders == 1 and result.by_stage["interest"] == 0
        with pytest.raises(Conflict):
            sourcing.move(session, response_id, Stage.DECLINED)  # an order is final
    with world.db.session(_as(world, "partner")) as session, pytest.raises(NotFound):
        sourcing.move(session, response_id, Stage.DECLINED)  # another buyer
    with world.db.session(SYSTEM) as session:
        stages = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == "sourcing.stage")).all()
        assert [e.details["stage"] for e in stages] == ["rfq", "sample", "evaluation", "order"]


def test_the_firm_may_withdraw_but_not_advance(world: World) -> None:
    with world.db.session(_as(world, "member_a")) as session:
        response = sourcing.move(session, world.ids_a["response_id"], Stage.DECLINED, note="일정이 맞지 않음")
        assert response.stage == Stage.DECLINED


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"buyer": " "}, "Name the buying firm."),
        ({"item": "x"}, "at least 2 characters"),
        ({"quantity": 0}, "more than 0 a month"),
        ({"certifications": ["CE"]}, "Unknown certification: CE"),
        ({"region": "atlantis"}, "Unknown region: atlantis"),
    ],
)
def test_a_bad_need_is_refused_with_its_reason(world: World, changes: dict[str, Any], reason: str) -> None:
    with world.db.session(_as(world, "partner_p")) as session, pytest.raises(Invalid, match=reason):
        sourcing.post_need(session, _need(**changes))


def test_members_and_consultants_do_not_post_needs(world: World) -> None:
    for who in ("member_a", "consultant_a"):
        with world.db.session(_as(world, who)) as session, pytest.raises(Forbidden):
            sourcing.post_need(session, _need())


def test_the_api_and_pages_answer_bad_input_and_outsiders_with_4xx(app: Any, client: TestClient, world: World) -> None:
    partner = bearer(client, world.emails["partner_p"])
    bad = client.post("/api/v1/sourcing/needs", headers=partner | {"Accept-Language": "ko"},
                      json={"buyer": "P", "item": "샤프트", "certifications": ["CE"]})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["message"] == "알 수 없는 인증: CE"
    made = client.post("/api/v1/sourcing/needs", headers=partner,
                       json={"buyer": "P", "item": "스테인리스 샤프트", "process": "CNC 가공", "material": "SUS304",
                             "certifications": ["ISO 9001"], "region": "gyeonggi"})  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["matches"] and body["matches"][0]["company"] is None  # not answered yet: anonymous
    assert {c["id"] for c in body["matches"][0]["criteria"]} >= {"process", "certifications", "region"}
    member_b = bearer(client, world.emails["member_b"])
    theirs = client.post(f"/api/v1/sourcing/needs/{body['id']}/answers", headers=member_b,
                         json={"company_id": world.firm_a, "stage": "interest"})  # fmt: skip
    assert theirs.status_code == 404
    member_a = bearer(client, world.emails["member_a"])
    wrong = client.post(f"/api/v1/sourcing/needs/{body['id']}/answers", headers=member_a,
                        json={"company_id": world.firm_a, "stage": "order"})  # fmt: skip
    assert wrong.status_code == 422 and "interest" in wrong.json()["error"]["message_en"]
    ok = client.post(f"/api/v1/sourcing/needs/{body['id']}/answers", headers=member_a,
                     json={"company_id": world.firm_a, "stage": "interest"})  # fmt: skip
    assert ok.status_code == 201
    early = client.post(f"/api/v1/sourcing/responses/{ok.json()['id']}/stage", headers=partner,
                        json={"stage": "order", "won": 5})  # fmt: skip
    assert early.status_code == 409
    named = client.get(f"/api/v1/sourcing/needs/{body['id']}", headers=partner).json()
    assert named["matches"][0]["company"] == f"{SENTINEL} 정밀"
    profile = client.get(f"/api/v1/companies/{world.firm_a}/sourcing/profile", headers=member_a).json()
    assert profile["stored"] and profile["certifications"] == ["iso9001"]


def test_the_pages_in_korean(app: Any, world: World) -> None:
    from tests.assessment.test_assessment_web import _login

    partner, csrf = _login(app, world.emails["partner_p"])
    listing = partner.get("/sourcing")
    assert listing.status_code == 200 and "새 판로 수요" in listing.text and "성과" in listing.text
    bad = partner.post("/sourcing", data={"csrf_token": csrf, "buyer": "P", "item": "샤프트", "quantity": "많이"})
    assert bad.status_code == 422 and "“많이”는 정수가 아닙니다." in bad.text
    need = partner.get(f"/sourcing/needs/{world.ids_a['need_id']}")
    assert need.status_code == 200 and "추천 공급기업 순위" in need.text
    assert "요구 인증을 모두 보유: ISO 9001." in need.text
    member, member_csrf = _login(app, world.emails["member_a"])
    page = member.get(f"/companies/{world.firm_a}/sourcing")
    assert page.status_code == 200 and "역량 프로필" in page.text and "우리 기업에 맞는 수요" in page.text
    saved = member.post(f"/companies/{world.firm_a}/sourcing", data={"csrf_token": member_csrf, "processes": "사출",
                                                                     "fpy": "120"}, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 422 and "직행률은 0%에서 100% 사이입니다." in saved.text
    mine = member.get(f"/sourcing/needs/{world.ids_a['need_id']}")
    assert mine.status_code == 200 and "우리 기업 매칭: 1위" in mine.text and "추천 공급기업 순위" not in mine.text


def test_first_pass_yield_is_measured_from_the_machines_part_counters(app: Any, world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from smart365.monitoring.models import OeeSetting
    from smart365.registry.models import Tag
    from smart365.telemetry.batch import Batch

    store = app.state.system.store
    with world.db.session(SYSTEM) as session:
        assert sourcing.measured_fpy(session, store, world.firm_a) is None  # no machine counts parts yet
        tags = {}
        for name in ("state", "count", "bad"):
            tag = Tag(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name=f"oee {name}")
            session.add(tag)
            session.flush()
            tags[name] = tag.id
        session.add(OeeSetting(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], ideal_cycle_s=30.0,
                               state_tag_id=tags["state"], count_tag_id=tags["count"],
                               bad_tag_id=tags["bad"]))  # fmt: skip
    start = datetime.now(UTC) - timedelta(hours=10)
    ts = [start + timedelta(minutes=10 * i) for i in range(61)]
    store.append(Batch.from_columns(tags["state"], ts, [1.0] * len(ts)))
    store.append(Batch.from_columns(tags["count"], ts, [20.0 * i for i in range(len(ts))]))  # 1,200 parts
    store.append(Batch.from_columns(tags["bad"], ts, [0.5 * i for i in range(len(ts))]))  # 30 of them bad
    with world.db.session(SYSTEM) as session:
        measured = sourcing.measured_fpy(session, store, world.firm_a)
        assert measured is not None and measured.fpy == 0.975 and measured.machines == 1 and measured.parts == 1200
        company = session.get(Company, world.firm_a)
        assert company is not None
        sourcing.save_profile(session, company, sourcing.ProfileIn(processes=["CNC 가공"], certifications=["iso9001"],
                                                                   fpy=0.80, share_quality=True))  # fmt: skip
        (mine,) = [p for p in sourcing.supplier_profiles(session, store) if p.key == str(world.firm_a)]
        assert mine.quality is not None and mine.quality.fpy == 0.975  # measured beats stated
    from tests.web.test_tenancy_matrix import _page_client

    page = _page_client(app, world.emails["member_a"]).get(f"/companies/{world.firm_a}/sourcing")
    assert page.status_code == 200 and "1,200개 중 97.5 %" in page.text  # the profile says the figure is measured
