"""Demo 판로: capability profiles for the showcase firm and part of the population, and two buyers' needs with
their suppliers ranked — the partner's own (posted by the demo's data partner) and one the centre posted for
another large firm — with answers along the pipeline, one of them ordered with its amount won.

Works with a handful of firms (the browser tests seed five): the first two firms other than the showcase get
the profiles the needs are written for, so each need has ranked suppliers whatever the population's size.
Everything goes through :mod:`smart365.programmes.sourcing`, as the browser's would.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.programmes import sourcing
from smart365.programmes.models import Stage
from smart365.registry.models import Company

SEED = 2028
#: Profiles written for the two needs: (products, processes, materials, certifications, capacity, cpk, fpy).
SHOWCASE_PROFILE = sourcing.ProfileIn(
    products=["정밀 샤프트", "유압 밸브 바디", "기어 블랭크"], processes=["CNC 가공", "선반 가공", "연삭"],
    materials=["S45C", "SUS304", "SCM440"], description="자동차·건설기계 1차 협력사, 공차 ±0.005 mm 가공",
    certifications=["iso9001", "iatf16949", "iso14001"], capacity=12_000, cpk=1.46, fpy=0.972, share_quality=True,
)  # fmt: skip
WRITTEN_FOR = (
    sourcing.ProfileIn(products=["ADC12 주조 케이스", "모터 하우징"], processes=["다이캐스팅", "CNC 가공"],
                       materials=["ADC12", "알루미늄 합금"], certifications=["iso9001", "iatf16949"],
                       capacity=30_000, cpk=1.21, fpy=0.941, share_quality=False),
    sourcing.ProfileIn(products=["스테인리스 축", "핀"], processes=["선반 가공", "열처리"], materials=["STS304"],
                       certifications=["iso9001"], capacity=8_000, cpk=1.33, fpy=0.958, share_quality=True),
)  # fmt: skip
OTHER_PROCESSES = ("프레스", "사출", "용접", "도금", "단조", "열처리", "CNC 가공", "다이캐스팅")
OTHER_MATERIALS = ("SPCC", "ABS", "SUS304", "ADC12", "S45C", "황동", "Al6061")
NEEDS = (
    sourcing.NeedIn(buyer="한빛모빌리티 (협력 대기업)", item="전동 조향장치 정밀 샤프트", material="S45C 탄소강",
                    process="CNC 선삭·연삭", spec="외경 공차 ±0.005 mm, 표면 거칠기 Ra 0.4", quantity=5_000,
                    certifications=["iatf16949"], region="gyeonggi"),
    sourcing.NeedIn(buyer="대한중공업", item="전기차 인버터 알루미늄 하우징", material="알루미늄 합금",
                    process="다이캐스팅 후 가공", spec="기밀 시험 0.5 bar, 평면도 0.05 mm", quantity=20_000,
                    certifications=["iso9001"], region=None),
)  # fmt: skip


def seed_sourcing(session: Session, partner_id: int, showcase_id: int) -> list[int]:
    """Profiles, the two needs ranked, and answers along the pipeline (SYSTEM session); the needs' ids."""
    rng = np.random.default_rng(SEED)
    firms = list(session.scalars(select(Company).order_by(Company.id)))
    showcase = next(c for c in firms if c.id == showcase_id)
    others = [c for c in firms if c.id != showcase_id]
    sourcing.save_profile(session, showcase, SHOWCASE_PROFILE)
    for company, profile in zip(others, WRITTEN_FOR, strict=False):
        sourcing.save_profile(session, company, profile)
    for company in others[len(WRITTEN_FOR):]:
        if rng.random() > 0.4:
            continue  # the rest keep the profile the registry gives them
        defaults = sourcing.profile_of(session, company)
        certs = [c for c, share in (("iso9001", 0.6), ("iatf16949", 0.2), ("iso14001", 0.3)) if rng.random() < share]
        sourcing.save_profile(session, company, sourcing.ProfileIn(
            products=defaults.products, processes=[*defaults.processes, str(rng.choice(OTHER_PROCESSES))],
            materials=[str(rng.choice(OTHER_MATERIALS))], certifications=certs,
            capacity=int(rng.integers(2, 60)) * 1_000, cpk=round(float(rng.uniform(0.9, 1.8)), 2),
            fpy=round(float(rng.uniform(0.85, 0.995)), 3), share_quality=bool(rng.random() < 0.5),
        ))  # fmt: skip
    ids = []
    for i, data in enumerate(NEEDS):
        need = sourcing.post_need(session, data)
        if i == 0:
            need.posted_by = partner_id  # the partner's own need; the second the centre posted for its buyer
        ids.append(need.id)
        ranked = [m for m in sourcing.need_matches(session, need) if m.company_id is not None][:3]
        responses = []
        for k, match in enumerate(ranked):
            supplier = session.get(Company, match.company_id)
            assert supplier is not None
            stage = Stage.DECLINED if k == 2 else Stage.INTEREST
            note = "납기 일정이 맞지 않습니다." if stage == Stage.DECLINED else "샘플 3주 내 제출 가능합니다."
            responses.append(sourcing.answer(session, need, supplier, stage, note))
        plan = ((Stage.RFQ, Stage.SAMPLE), (Stage.RFQ,)) if i == 0 else ((Stage.RFQ, Stage.SAMPLE, Stage.EVALUATION,
                                                                           Stage.ORDER),)  # fmt: skip
        for response, steps in zip(responses, plan, strict=False):
            for step in steps:
                if response.stage != Stage.DECLINED:
                    sourcing.move(session, response.id, step, won=186_000_000 if step == Stage.ORDER else None)
    return ids
