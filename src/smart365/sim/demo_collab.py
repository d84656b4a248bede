"""The demo's data collaboration: a handful of firms' offers over their own tags and one running agreement.

The showcase firm (주)한빛정밀 offers its machining line's spindle data to the demo's data partner for quality
and maintenance work, metered, and that agreement is finalized (the partner can pull it at once); four 소부장
firms of the population offer their data to the centre for benchmarking, to a group of firms, or to the
partner for research, so the catalogue, the requests and every firm's usage log show real content.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from smart365.collab import service
from smart365.collab.service import Who
from smart365.core.accounts import User
from smart365.core.audit import Actor
from smart365.core.db import SEOUL, Database, utcnow
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry.models import Company, Equipment, Tag

FORM_TIME = "%Y-%m-%dT%H:%M:%S"


def _tags(db: Database, company_id: int, names: tuple[str, ...], machines: int = 4) -> list[int]:
    with db.session(SYSTEM) as session:
        rows = session.execute(
            select(Tag.id, Equipment.name).join(Equipment, Tag.equipment_id == Equipment.id)
            .where(Tag.company_id == company_id, Tag.name.in_(names)).order_by(Equipment.name, Tag.name)
        ).all()  # fmt: skip
    chosen = sorted({m for _t, m in rows})[:machines]
    return [t for t, m in rows if m in chosen]


def seed_collab(db: Database, showcase_id: int, now: datetime | None = None) -> int:
    """Seed the offers and the running agreement; returns the agreement's id."""
    now = now or utcnow()
    today = now.astimezone(SEOUL).date()
    since = datetime.combine(today - timedelta(days=7), time(0, 0), tzinfo=SEOUL)
    until = datetime.combine(today + timedelta(days=1), time(0, 0), tzinfo=SEOUL)
    end = datetime.combine(today + timedelta(days=90), time(23, 59, 59)).strftime(FORM_TIME)
    with db.session(SYSTEM) as session:
        partner = session.scalar(select(User).where(User.role == Role.DATA_PARTNER).order_by(User.id))
        assert partner is not None, "the demo seeds its data partner first"
        firms = session.scalars(
            select(Company).where(Company.sobujang.is_(True), Company.id != showcase_id)
            .where(Company.id.in_(select(Tag.company_id))).order_by(Company.id).limit(4)
        ).all()  # fmt: skip
        firm_ids = [f.id for f in firms]
    spindle = ("spindle_load", "spindle_temp", "vibration")
    offer_id = service.publish(
        db, service.SYSTEM_WHO, company_id=showcase_id, title="가공라인 주축 부하·온도·진동 (지난 7일)",
        description="MCT 4대의 주축 부하·온도·진동 1초 데이터. 공구 마모와 이상 진동 분석용.",
        tag_ids=_tags(db, showcase_id, spindle), data_start=since, data_end=until,
        form={"assignee_kind": "partner", "partner": str(partner.id), "purpose": ["quality", "maintenance"],
              "end": end, "max_uses": "30", "no_onward": "on", "delete_after_days": "90", "attribution": "on",
              "notify": "on", "payment_model": "metered", "payment_amount": "50000"},
    )  # fmt: skip
    offers = [
        ("공정 KPI 벤치마킹용 가동 데이터", "centre", {"purpose": ["benchmark"], "payment_model": ""}),
        ("사출 조건·불량 분석 데이터", "group", {"purpose": ["quality", "process"], "max_uses": "12"}),
        ("설비 진동 연구용 데이터", "partner", {"purpose": ["research"], "payment_model": "lump_sum",
                                         "payment_amount": "1200000"}),
        ("협력사 공급망 납기 분석 데이터", "centre", {"purpose": ["supply_chain"], "delete_after_days": "30"}),
    ]  # fmt: skip
    for firm_id, (title, kind, extra) in zip(firm_ids, offers, strict=False):
        tags = _tags(db, firm_id, ("spindle_load", "cycle_time", "mould_temp", "injection_pressure", "vibration",
                                   "tonnage", "part_count"), machines=3)  # fmt: skip
        if not tags:
            continue
        form = {"assignee_kind": kind, "no_onward": "on", "attribution": "on", "end": end} | extra
        if kind == "partner":
            form["partner"] = str(partner.id)
        elif kind == "group":
            form["group"] = [str(i) for i in [showcase_id, *firm_ids] if i != firm_id]
        service.publish(db, service.SYSTEM_WHO, company_id=firm_id, title=title, description="", tag_ids=tags,
                        data_start=since, data_end=until, form=form)  # fmt: skip
    who = Who(Principal(user_id=partner.id, role=Role.DATA_PARTNER), Actor(partner.id, partner.email))
    agreement_id = service.request(db, who, offer_id, "maintenance")
    service.accept(db, service.SYSTEM_WHO, agreement_id)
    service.agree(db, who, agreement_id)
    return agreement_id


def seed_benchmarks(db: Database, showcase_id: int, limit: int = 60) -> int:
    """Put firms of the showcase's industry (2-digit KSIC) with a submitted survey in the peer-benchmark pool,
    their figures computed from their own data as a member's click would (here: their maturity domain scores;
    they have no plant in the demo); the showcase firm is left for its member to join. Returns how many joined
    (few in a five-firm demo, whose page then says which cells are suppressed)."""
    from smart365.assessment.models import SurveyResponse
    from smart365.collab import benchmarks

    with db.session(SYSTEM) as session:
        showcase = session.get(Company, showcase_id)
        ksic2 = (showcase.ksic_code if showcase else "")[:2]
        answered = select(SurveyResponse.company_id).where(SurveyResponse.status == "submitted")
        same = session.scalars(
            select(Company.id).where(Company.id != showcase_id, Company.id.in_(answered),
                                     Company.ksic_code.startswith(ksic2)).order_by(Company.id).limit(limit)
        ).all()  # fmt: skip
        others = session.scalars(
            select(Company.id).where(Company.id != showcase_id, Company.id.in_(answered), Company.id.not_in(same))
            .order_by(Company.id).limit(max(0, limit - len(same)))
        ).all()  # fmt: skip
        joined = 0
        for company_id in [*same, *others]:
            figures = {f.kpi.code: float(f.value) for f in benchmarks.firm_figures(session, None, company_id)
                       if f.value is not None}  # fmt: skip
            if figures:
                benchmarks.enter(session, company_id, figures, Actor(None, "demo"))
                joined += 1
        return joined
