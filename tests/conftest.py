"""Shared fixtures: the records database on SQLite and on the real PostgreSQL, apps and a two-firm world.

PostgreSQL (127.0.0.1:5432, trust auth) is a real server: in CI (``CI=true``) its absence fails the
run; on a laptop without it the PostgreSQL half is skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from smart365.bootstrap import bootstrap
from smart365.core import migrate
from smart365.core.accounts import ConsultantAssignment, create_user
from smart365.core.api_keys import create_key
from smart365.core.db import Database
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM, Role
from smart365.registry.models import Company, Equipment, Line, Site, Tag
from smart365.registry.schemas import CompanyIn
from smart365.registry.service import create_company
from smart365.sim.fleet import centre_database
from smart365.web.app import create_app

PG_ADMIN = os.environ.get("SMART365_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse 365"
SENTINEL = "SENTINEL-A"


def postgres_available() -> bool:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    message = f"PostgreSQL is not reachable at {PG_ADMIN}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI needs the real server")
    pytest.skip(message)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def records_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated records database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'records.db'}"
        migrate.upgrade(url)
        yield url
        return
    with postgres_records() as url:
        yield url


@contextmanager
def postgres_records() -> Iterator[str]:
    """A fresh, migrated records database on the PostgreSQL server, dropped afterwards."""
    require_postgres()
    with centre_database(PG_ADMIN, prefix="smart365_test") as url:
        yield url


@pytest.fixture
def db(records_url: str) -> Iterator[Database]:
    database = Database(records_url)
    yield database
    database.dispose()


@dataclass
class World:
    """Two firms and one user per role. Firm A's rows all carry :data:`SENTINEL` in their names."""

    db: Database
    firm_a: int
    firm_b: int
    ids_a: dict[str, int]
    emails: dict[str, str]


FIRM_A = CompanyIn(name=f"{SENTINEL} 정밀", brn="1018600011", ksic_code="29229", region="경기", employees=50)
FIRM_B = CompanyIn(name="비교 금속", brn="2028700024", ksic_code="25911", region="경남", employees=120)


def _plant(session: object, company: Company, label: str) -> dict[str, int]:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    site = Site(company_id=company.id, name=f"{label} 공장")
    session.add(site)
    session.flush()
    line = Line(company_id=company.id, site_id=site.id, name=f"{label} 라인")
    session.add(line)
    session.flush()
    equipment = Equipment(company_id=company.id, line_id=line.id, name=f"{label} MCT", kind="cnc")
    session.add(equipment)
    session.flush()
    tag = Tag(company_id=company.id, equipment_id=equipment.id, name=f"{label} spindle", unit="%", max_value=150)
    session.add(tag)
    session.flush()
    return {
        "company_id": company.id,
        "site_id": site.id,
        "line_id": line.id,
        "equipment_id": equipment.id,
        "tag_id": tag.id,
    }


def _campaign_of(session: object, company: Company) -> int:
    """A survey campaign inviting only firm A: firm B's people must not find it."""
    from datetime import date

    from smart365.assessment.campaigns import Population, create_campaign

    assert isinstance(session, Session)
    campaign = create_campaign(
        session, f"{SENTINEL} 캠페인", Population(ksic=company.ksic_code), date(2026, 3, 2), date(2026, 5, 29)
    )
    return campaign.id


@pytest.fixture
def world(db: Database) -> World:
    with db.session(SYSTEM) as session:
        a, b = create_company(session, FIRM_A), create_company(session, FIRM_B)
        ids_a = _plant(session, a, SENTINEL)
        _plant(session, b, "B")
        ids_a["campaign_id"] = _campaign_of(session, a)
        emails = {
            "admin": "admin@test.kr",
            "consultant_a": "ca@test.kr",
            "consultant_b": "cb@test.kr",
            "member_a": "ma@test.kr",
            "member_b": "mb@test.kr",
            "partner": "dp@test.kr",
            "partner_p": "pp@test.kr",  # the data partner firm A's offer names (the walk's partner is not it)
        }
        roles = {
            "admin": Role.CENTRE_ADMIN,
            "consultant_a": Role.CONSULTANT,
            "consultant_b": Role.CONSULTANT,
            "member_a": Role.COMPANY_MEMBER,
            "member_b": Role.COMPANY_MEMBER,
            "partner": Role.DATA_PARTNER,
            "partner_p": Role.DATA_PARTNER,
        }
        firm_of = {"member_a": a.id, "member_b": b.id}
        users = {k: create_user(session, emails[k], k, PASSWORD, roles[k], firm_of.get(k)) for k in emails}
        session.add_all(
            [
                ConsultantAssignment(consultant_id=users["consultant_a"].id, company_id=a.id),
                ConsultantAssignment(consultant_id=users["consultant_b"].id, company_id=b.id),
            ]
        )
        ids_a["user_id"] = users["member_a"].id  # the centre's user routes aim at firm A's member
        ids_a["api_key_id"] = create_key(session, a.id, f"{SENTINEL} gateway", created_by="test")[0].id
        ids_a["series_id"] = _inbox_series(session, a)
        ids_a |= _ticket(session, a, ids_a)
        ids_a["run_id"] = _testbed_run(session, a)
        ids_a["model_id"] = _model(session, a, ids_a)
        ids_a["channel_id"] = _channel(session, a)
        ids_a |= _application(session, a)
        ids_a |= _sourcing(session, a, users["partner_p"].id)
    ids_a |= _collab(db, a.id, ids_a["tag_id"], users["partner_p"].id)
    return World(db=db, firm_a=a.id, firm_b=b.id, ids_a=ids_a, emails=emails)


def _channel(session: Session, company: Company) -> int:
    """Where firm A's alarms go: this machine's discard port, which a channel may not call (so tests send nothing)."""
    from smart365.monitoring.models import NotificationChannel

    channel = NotificationChannel(company_id=company.id, name=f"{SENTINEL} 생산팀", kind="text",
                                  target="http://127.0.0.1:9/hook", min_severity="warning")  # fmt: skip
    session.add(channel)
    session.flush()
    return channel.id


def _collab(db: Database, company_id: int, tag_id: int, partner_id: int) -> dict[str, int]:
    """Firm A's data offer naming partner P only, and P's finalized agreement on it."""
    from datetime import UTC, datetime

    from smart365.collab import service
    from smart365.core.audit import Actor

    offer_id = service.publish(
        db, service.SYSTEM_WHO, company_id=company_id, title=f"{SENTINEL} 가공 데이터", description="",
        tag_ids=[tag_id], data_start=datetime(2026, 1, 1, tzinfo=UTC), data_end=datetime(2026, 2, 1, tzinfo=UTC),
        form={"assignee_kind": "partner", "partner": str(partner_id), "purpose": ["quality"], "no_onward": "on"},
    )  # fmt: skip
    from smart365.core.tenancy import Principal

    partner = service.Who(Principal(user_id=partner_id, role=Role.DATA_PARTNER), Actor(partner_id, "pp@test.kr"))
    agreement_id = service.request(db, partner, offer_id, "quality")
    service.accept(db, service.SYSTEM_WHO, agreement_id)
    service.agree(db, partner, agreement_id)
    return {"offer_id": offer_id, "agreement_id": agreement_id}


def _inbox_series(session: Session, company: Company) -> int:
    """A series of firm A waiting in its new-signal inbox (a Telegraf metric no tag stands for yet)."""
    from smart365.telemetry.signals import HELD_BASE, resolve

    resolution = resolve(session, company.id, {f"cpu,host={SENTINEL} usage_idle"}, "db=telegraf")
    return next(iter(resolution.keys.values())) - HELD_BASE


def _ticket(session: object, company: Company, ids: dict[str, int]) -> dict[str, int]:
    """One helpdesk ticket of firm A (with an internal note and an attachment), and an expert for routing."""
    from sqlalchemy.orm import Session

    from smart365.centre.models import Expert, Ticket, TicketAttachment, TicketComment

    assert isinstance(session, Session)
    expert = Expert(name="김전문", region="gyeonggi", skills={"legacy_data": 4, "quality": 3}, equipment=["cnc"])
    session.add(expert)
    session.flush()
    ticket = Ticket(
        company_id=company.id, title=f"{SENTINEL} 데이터 수집", body=f"{SENTINEL} 구형 설비", category="legacy_data",
        category_confidence=0.9, equipment_id=ids["equipment_id"], expert_id=expert.id,
    )  # fmt: skip
    session.add(ticket)
    session.flush()
    session.add(TicketComment(company_id=company.id, ticket_id=ticket.id, author_name="x", body=f"{SENTINEL} note"))
    attachment = TicketAttachment(
        company_id=company.id, ticket_id=ticket.id, filename="a.txt", content_type="text/plain", size=10,
        sha256="0" * 64, content=SENTINEL.encode(),
    )  # fmt: skip
    session.add(attachment)
    session.flush()
    return {"ticket_id": ticket.id, "attachment_id": attachment.id, "expert_id": expert.id}


def _testbed_run(session: object, company: Company) -> int:
    """A finished AI test-bed run of firm A (its report names the sentinel), so its pages are walked."""
    from smart365.testbed.models import TestbedRun

    assert isinstance(session, Session)
    result = {"model": f"{SENTINEL} model", "baseline": False, "metric": "rmse", "mean": 1.0, "sd": 0.1,
              "metrics": {"rmse": 1.0}, "folds": [], "fit_seconds_per_fold": 0.01,
              "rows_per_second": 1000.0}  # fmt: skip
    baseline = result | {"model": "mean (training)", "baseline": True, "mean": 2.0, "metrics": {"rmse": 2.0}}
    report = {"data": {"rows": 100, "features": ["x"], "dropped": {}, "encoded": []}, "task": "regression",
              "target": "y", "time": None, "classes": [], "folds": [{"train_rows": 50, "test_rows": 50}],
              "notes": [], "findings": [], "results": [result, baseline],
              "winner": {"model": result["model"], "metric": "rmse", "mean": 1.0, "beats_baselines": True}}  # fmt: skip
    run = TestbedRun(company_id=company.id, created_by="x", source_kind="file", source=f"{SENTINEL}.csv",
                     source_spec={"token": "0" * 32}, target="y", status="done", progress=1.0,
                     report=report)  # fmt: skip
    session.add(run)
    session.flush()
    return run.id


def _model(session: Session, company: Company, ids: dict[str, int]) -> int:
    """An anomaly model of firm A's machine (a candidate: deploying it is a change outsiders must not make)."""
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    from smart365.analytics import registry
    from smart365.analytics.anomaly import EwmaDetector

    history = pd.DataFrame({str(ids["tag_id"]): np.random.default_rng(0).normal(50, 2, 200)})
    row = registry.register(
        session, company_id=company.id, equipment_id=ids["equipment_id"], name=f"{SENTINEL} model",
        kind="anomaly.ewma", state=EwmaDetector().fit(history).state(), tag_ids=[ids["tag_id"]],
        trained_from=datetime(2026, 1, 5, tzinfo=UTC), trained_to=datetime(2026, 1, 6, tzinfo=UTC),
        metrics={"rows": 200.0}, created_by="test",
    )  # fmt: skip
    return row.id


def _application(session: Session, company: Company) -> dict[str, int]:
    """A support call open to every firm, and firm A's application to it (its plan carries the sentinel)."""
    from datetime import timedelta

    from smart365.core.db import utcnow
    from smart365.programmes import service

    deadline = utcnow() + timedelta(days=30)
    call = service.create_call(session, service.CallIn("공개 지원사업", 500_000_000, 100_000_000, deadline))
    service.open_call(session, call)
    plan, lines = f"{SENTINEL} 설비 데이터 수집과 MES 연계 계획", [{"item": "MES", "amount": 100_000_000}]
    data = service.ApplicationIn(plan, lines, 80_000_000, [{"name": "불량률", "target": "1%"}])
    return {"call_id": call.id, "application_id": service.submit_application(session, call, company, data).id}


def _sourcing(session: Session, company: Company, partner_id: int) -> dict[str, int]:
    """Partner P's sourcing need that ranks firm A only (B lacks the certification), and A's answer to it."""
    from smart365.programmes import sourcing

    profile = sourcing.ProfileIn(products=[f"{SENTINEL} 정밀 샤프트"], processes=["CNC 가공"], materials=["SUS304"],
                                 certifications=["ISO 9001"], capacity=10_000, cpk=1.5, fpy=0.98)  # fmt: skip
    sourcing.save_profile(session, company, profile)
    wanted = sourcing.NeedIn("파트너 P", "스테인리스 샤프트", material="SUS304", process="CNC 가공", quantity=5000,
                             certifications=["iso9001"], region="gyeonggi")  # fmt: skip
    need = sourcing.post_need(session, wanted)
    need.posted_by = partner_id
    response = sourcing.answer(session, need, company, "interest", f"{SENTINEL} 샘플 가능")
    return {"need_id": need.id, "response_id": response.id}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret", warm_up=False)


@pytest.fixture
def app(settings: Settings, world: World):  # type: ignore[no-untyped-def]
    return create_app(bootstrap(settings, db=world.db))


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


def bearer(client: TestClient, email: str) -> dict[str, str]:
    """Authorization header for ``email`` via the OAuth2 password flow."""
    response = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
