"""Demo support programmes over the synthetic population: a 2026 call already selected (reviewed by the centre
and the consultant, the selection run, every firm's reason stored) and a 2027 소부장 call open for applications,
with some firms' applications in, ineligible ones among them (firms the 2026 call selected are excluded).

Applications go through the same service as the browser's (eligibility checked on submission); only the
reviewers' scores are drawn (seeded), as two reviewers would give them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core.db import SEOUL, as_utc, to_local, utcnow
from smart365.programmes import service
from smart365.programmes.models import Call, CallState, ReviewScore
from smart365.programmes.selection import Infeasible
from smart365.registry.models import Company

SEED = 2027
PLANS = (
    "설비 {n}대의 가동 데이터를 자동 수집하고 MES와 연계해 실시간 모니터링 체계를 구축합니다. 현재 수기로 쓰는 "
    "작업일보를 없애고 비가동 원인을 분류해 설비종합효율을 높입니다.",
    "검사 공정에 비전 검사와 SPC를 도입해 불량을 조기에 잡습니다. 측정값을 로트별로 추적하고 공정 이상을 "
    "경보로 알려 고객 클레임을 줄입니다.",
    "주요 설비 {n}대에 진동·전류 센서를 달아 고장 징후를 미리 찾는 예지보전을 시작합니다. 돌발 정지를 줄이고 "
    "보전 이력을 데이터로 남깁니다.",
    "ERP와 생산 현장을 연결해 수주부터 출하까지 진행 상황을 한눈에 봅니다. 자재 소요를 자동 계산하고 납기 "
    "준수율을 높입니다.",
)
KPIS = (
    [("설비종합효율(OEE)", "62% → 75%"), ("비가동 시간", "월 40시간 → 25시간")],
    [("공정 불량률", "2.4% → 1.2%"), ("고객 클레임", "연 12건 → 6건")],
    [("돌발 정지", "월 6회 → 2회"), ("보전 비용", "15% 절감")],
    [("납기 준수율", "88% → 97%"), ("재고 회전일", "35일 → 25일")],
)
LINES = (("MES·데이터 수집 소프트웨어", 0.45), ("센서·IoT 게이트웨이", 0.3), ("구축 컨설팅·교육", 0.25))


def _closing(moment: datetime) -> datetime:
    """18:00 Korean time on the day of ``moment``: when a call closes."""
    return as_utc(datetime.combine(to_local(moment).date(), time(18, 0), SEOUL))  # stored in UTC, as every time


def _application(rng: np.random.Generator, company: Company, cap: int, funded: int) -> service.ApplicationIn:
    kind = int(rng.integers(len(PLANS)))
    requested = int(min(cap, max(30, round(float(rng.lognormal(np.log(90.0), 0.35))))) // 1 * 1_000_000)
    requested = min(requested, cap)
    total = -(-requested * 100 // funded)  # the whole cost, of which the programme pays the funded share
    total = -(-total // 1_000_000) * 1_000_000
    amounts = [int(total * share) // 100_000 * 100_000 for _item, share in LINES]
    amounts[-1] = total - sum(amounts[:-1])
    return service.ApplicationIn(
        plan=PLANS[kind].format(n=int(rng.integers(4, 16))),
        budget_lines=[{"item": item, "amount": amount} for (item, _s), amount in zip(LINES, amounts, strict=True)],
        requested=requested,
        kpis=[{"name": name, "target": target} for name, target in KPIS[kind]],
    )


def _review(session: Session, rng: np.random.Generator, call: Call, reviewers: list[int], share: float = 1.0) -> None:
    """Two reviewers' scores on every review criterion of ``share`` of the call's eligible applications."""
    for application in service.applications(session, call.id):
        if not application.eligible or rng.random() > share:
            continue
        quality = float(rng.normal(70.0, 10.0))
        for criterion in (c["id"] for c in call.criteria if c["kind"] == "review"):
            for reviewer in reviewers:
                score = float(np.clip(round(quality + rng.normal(0.0, 6.0), 1), 0.0, 100.0))
                session.add(ReviewScore(application_id=application.id, company_id=application.company_id,
                                        reviewer_id=reviewer, criterion=criterion, score=score))  # fmt: skip
    session.flush()


def seed_programmes(session: Session, reviewers: list[int], showcase_id: int) -> None:
    """The selected 2026 call and the open 2027 call, with applications from the population (SYSTEM session)."""
    rng = np.random.default_rng(SEED)
    now = utcnow()
    standings = service.standings(session)
    firms = [
        c
        for c in session.scalars(select(Company).where(Company.id != showcase_id).order_by(Company.id))
        if c.id in standings
    ]
    done = service.create_call(session, service.CallIn(
        title="2026 스마트공장 고도화 지원사업 (2차)",
        description="스마트공장을 운영 중인 중소 제조기업의 수준 향상(레벨 3 이상)을 지원합니다.",
        budget=3_000_000_000, cap=150_000_000, deadline=now + timedelta(days=1),
        share_gov=50, share_partner=30, share_firm=20,
        eligibility={"level_max": 3.0}, sobujang_quota=50,
    ))  # fmt: skip
    service.open_call(session, done)
    applicants = firms[: min(24, len(firms))]
    sent = [_application(rng, firm, done.cap, 80) for firm in applicants]
    done.budget = int(sum(a.requested for a in sent) * 0.4) // 10_000_000 * 10_000_000
    for firm, data in zip(applicants, sent, strict=True):
        service.submit_application(session, done, firm, data, standing=standings[firm.id])
    region_of = {firm.id: firm.region for firm in applicants}
    eligible = [region_of[a.company_id] for a in service.applications(session, done.id) if a.eligible]
    regions = Counter(region for region in eligible if region != "gyeonggi")
    done.region_minimums = {region: 1 for region, _n in regions.most_common(2)}
    _review(session, rng, done, reviewers)
    done.deadline, done.state = _closing(now - timedelta(days=20)), CallState.CLOSED
    try:
        service.run_selection(session, done)
    except Infeasible:  # a small demo population (a test's few firms) cannot meet the quota: select without it
        done.region_minimums, done.sobujang_quota = {}, 0
        service.run_selection(session, done)

    open_call = service.create_call(session, service.CallIn(
        title="2027 소부장 스마트공장 고도화 지원사업 (1차)",
        description="소재·부품·장비 기업의 데이터 기반 공정 고도화를 지원합니다. 이전 공고에 선정된 기업은 제외합니다.",
        budget=1_500_000_000, cap=150_000_000, deadline=_closing(now + timedelta(days=30)),
        share_gov=50, share_partner=30, share_firm=20,
        eligibility={"sobujang_only": True, "level_min": 1.0, "level_max": 3.0, "exclude_prior_support": True},
        sobujang_quota=0, region_minimums={},
    ))  # fmt: skip
    service.open_call(session, open_call)
    later = [f for f in firms if f not in applicants[6:]][: min(10, len(firms))]
    for firm in later:
        service.submit_application(session, open_call, firm, _application(rng, firm, open_call.cap, 80),
                                   standing=standings[firm.id])  # fmt: skip
    _review(session, rng, open_call, reviewers[:1], share=0.5)
