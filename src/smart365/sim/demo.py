"""Seeding the demo: a synthetic population, a showcase firm and one user per role.

Idempotent: a database that already has firms is left as it is, so running the demo again reuses data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smart365.core.accounts import ConsultantAssignment, User, create_user
from smart365.core.db import Database, utcnow
from smart365.core.tenancy import SYSTEM, Role
from smart365.registry.models import Company, Equipment, Line, Site, Tag
from smart365.registry.schemas import CompanyIn
from smart365.registry.service import create_company
from smart365.sim.demo_campaigns import seed_campaigns
from smart365.sim.demo_collab import seed_benchmarks, seed_collab
from smart365.sim.demo_fleet import seed_fleet
from smart365.sim.demo_programmes import seed_programmes
from smart365.sim.demo_sourcing import seed_sourcing
from smart365.sim.factory.runner import Endpoints
from smart365.sim.helpdesk import seed_helpdesk
from smart365.sim.live import point_endpoints, seed_showcase
from smart365.sim.population import MAKERS, TAGS_BY_KIND, SyntheticFirm, generate_population

DEMO_PASSWORD = "smart365!"
SHOWCASE = SyntheticFirm(
    company=CompanyIn(
        name="(주)한빛정밀",
        brn="1348152358",
        ksic_code="29229",
        region="gyeonggi",
        address="경기도 안산시 단원구 성곡동",
        employees=86,
        revenue_band="10b-50b",
        systems=["ERP", "MES"],
        smart_factory_year=2021,
    ),
    sites={
        "안산 본공장": {
            "가공라인": [("cnc", f"MCT-{i:02d}") for i in range(1, 5)],
            "사출라인": [("injection", f"IMM-{i:02d}") for i in range(1, 4)],
            "프레스라인": [("press", f"PRS-{i:02d}") for i in range(1, 3)],
        }
    },
)
PROTOCOL_BY_KIND = {"cnc": "opcua", "lathe": "opcua", "injection": "sparkplug", "press": "modbus", "robot": "mqtt"}


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    email: str
    name: str


DEMO_LOGINS = (
    DemoLogin(Role.CENTRE_ADMIN, "admin@smart365.kr", "박센터 팀장"),
    DemoLogin(Role.CONSULTANT, "consultant@smart365.kr", "김전문 컨설턴트"),
    DemoLogin(Role.COMPANY_MEMBER, "member@hanbit.example", "이한빛 과장"),
    DemoLogin(Role.DATA_PARTNER, "partner@smart365.kr", "데이터 파트너"),
)


def add_firm(session: Session, firm: SyntheticFirm) -> Company:
    """Insert a firm with its sites, lines, machines and tags."""
    company = create_company(session, firm.company)
    for site_name, lines in firm.sites.items():
        site = Site(company_id=company.id, name=site_name)
        session.add(site)
        session.flush()
        for line_name, machines in lines.items():
            line = Line(company_id=company.id, site_id=site.id, name=line_name)
            session.add(line)
            session.flush()
            for kind, name in machines:
                equipment = Equipment(
                    company_id=company.id,
                    line_id=line.id,
                    name=name,
                    kind=kind,
                    maker=MAKERS[kind],
                    protocol=PROTOCOL_BY_KIND.get(kind, "none"),
                )
                session.add(equipment)
                session.flush()
                session.add_all(
                    Tag(
                        company_id=company.id,
                        equipment_id=equipment.id,
                        name=tag,
                        unit=unit or None,
                        min_value=low,
                        max_value=high,
                    )
                    for tag, unit, low, high in TAGS_BY_KIND[kind]
                )
    return company


def register_showcase(session: Session, endpoints: Endpoints | None = None) -> Company:
    """The showcase firm and its plant as the simulator serves it: machines, tags with their addresses, alarm
    rules and OEE settings (sim/live.py), the endpoints pointed at ``endpoints`` (else the simulator's
    defaults). Idempotent: a firm already registered keeps its data and gets only the new endpoints."""
    company = session.scalar(select(Company).where(Company.brn == SHOWCASE.company.brn))
    if company is None:
        company = add_firm(session, SHOWCASE)
        seed_showcase(session, company)
    if endpoints is not None:
        point_endpoints(session, company.id, endpoints)
    return company


def seed_demo(db: Database, firms: int = 320, progress: Callable[[int, int], None] | None = None) -> bool:
    """Seed an empty database; return False (and change nothing) when it already has firms."""
    with db.session(SYSTEM) as session:
        if session.scalar(select(func.count()).select_from(Company)):
            return False
        showcase = register_showcase(session)
        population = generate_population(firms, seed=365)
        for i, firm in enumerate(population, start=1):
            add_firm(session, firm)
            if progress:
                progress(i, len(population))
        users = {
            login.role: create_user(
                session,
                login.email,
                login.name,
                DEMO_PASSWORD,
                login.role,
                company_id=showcase.id if login.role is Role.COMPANY_MEMBER else None,
            )
            for login in DEMO_LOGINS
        }
        _assign_consultant(session, users[Role.CONSULTANT], showcase.id)
        seed_helpdesk(session, users[Role.CONSULTANT], showcase.id)
        seed_campaigns(session)  # survey campaigns: 2025, the completed 2026 전수조사 and an open round
        seed_fleet(session, utcnow(), showcase_id=showcase.id)  # what a dozen firms' plants forwarded to the centre
        reviewers = [users[Role.CENTRE_ADMIN].id, users[Role.CONSULTANT].id]
        seed_programmes(session, reviewers, showcase.id)  # a selected 2026 support call and an open 2027 one
        seed_sourcing(session, users[Role.DATA_PARTNER].id, showcase.id)  # 판로: two buyers' needs, ranked suppliers
        showcase_id = showcase.id
    seed_collab(db, showcase_id)  # a handful of firms' data offers and the partner's running agreement
    seed_benchmarks(db, showcase_id)  # firms of the showcase's industry in the peer-benchmark pool
    return True


def _assign_consultant(session: Session, consultant: User, showcase_id: int) -> None:
    """The demo consultant looks after the showcase firm and 24 소부장 firms in 경기."""
    ids = session.scalars(
        select(Company.id)
        .where(Company.sobujang.is_(True), Company.region == "gyeonggi", Company.id != showcase_id)
        .order_by(Company.id)
        .limit(24)
    )
    session.add_all(ConsultantAssignment(consultant_id=consultant.id, company_id=cid) for cid in [showcase_id, *ids])
