"""Every audited act leaves its row where it happens: deletions, imports, exports and model deployments,
through the API and the pages alike, naming who did it and from where."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.analytics import registry as models
from smart365.analytics.anomaly import EwmaDetector
from smart365.core.audit import AuditEntry
from smart365.core.tenancy import SYSTEM
from tests.conftest import World, bearer
from tests.web.test_tenancy_matrix import _csrf, _page_client


def _trail(world: World, action: str) -> list[AuditEntry]:
    with world.db.session(SYSTEM) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_deletions_through_the_api_and_the_pages_are_audited(app: Any, client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    member = _page_client(app, world.emails["member_a"])
    tag, site = world.ids_a["tag_id"], world.ids_a["site_id"]
    assert member.post(f"/tags/{tag}/delete", data={"csrf_token": _csrf(member)}).status_code == 200
    assert client.delete(f"/api/v1/sites/{site}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/companies/{world.firm_b}", headers=admin).status_code == 204
    entries = _trail(world, "record.delete")
    assert [(e.target, e.company_id, e.user_email) for e in entries] == [
        (f"tags:{tag}", world.firm_a, world.emails["member_a"]),
        (f"sites:{site}", world.firm_a, world.emails["admin"]),
        (f"company:{world.firm_b}", world.firm_b, world.emails["admin"]),
    ]
    assert entries[0].details == {"name": "SENTINEL-A spindle"} and entries[0].address == "testclient"


def test_a_refused_deletion_leaves_no_deleted_row(client: TestClient, world: World) -> None:
    outsider = bearer(client, world.emails["member_b"])
    assert client.delete(f"/api/v1/sites/{world.ids_a['site_id']}", headers=outsider).status_code == 404
    assert _trail(world, "record.delete") == []


def test_exports_are_audited(app: Any, client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    assert client.get("/api/v1/companies/export?region=경기", headers=admin).status_code == 200
    page = _page_client(app, world.emails["admin"])
    assert page.get("/centre/export.xlsx").status_code == 200
    assert page.get(f"/campaigns/{world.ids_a['campaign_id']}/export.xlsx").status_code == 200
    entries = _trail(world, "data.export")
    assert [e.target for e in entries] == ["companies", "centre", f"campaign:{world.ids_a['campaign_id']}"]
    assert entries[0].details == {"filters": {"region": "경기"}} and entries[0].user_email == world.emails["admin"]


def test_imports_are_audited_when_they_store(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    csv = "회사명,사업자등록번호,업종코드,지역\n새 회사,3038100039,29229,경기\n"
    files = {"file": ("firms.csv", csv.encode(), "text/csv")}
    assert client.post("/api/v1/companies/import", files=files, headers=admin).status_code == 200  # a check
    assert client.post("/api/v1/companies/import?commit=true", files=files, headers=admin).status_code == 200
    history = f"timestamp,tag,value\n2026-01-05 09:00:00,{world.ids_a['tag_id']},55.5\n"
    url = f"/api/v1/companies/{world.firm_a}/telemetry/import"
    member = bearer(client, world.emails["member_a"])
    response = client.post(url, files={"file": ("h.csv", history.encode(), "text/csv")}, headers=member)
    assert response.status_code == 200, response.text
    firms, tags = _trail(world, "data.import")
    assert firms.target == "companies" and firms.details == {"file": "firms.csv", "rows": 1, "created": 1, "updated": 0}
    assert tags.target == f"history:{world.firm_a}" and tags.company_id == world.firm_a
    assert tags.details == {"file": "h.csv", "points": 1, "stored": 1} and tags.user_email == world.emails["member_a"]


def test_deploying_and_rolling_back_a_model_are_audited(client: TestClient, world: World) -> None:
    first = world.ids_a["model_id"]
    with world.db.session(SYSTEM) as session:
        history = pd.DataFrame({str(world.ids_a["tag_id"]): np.random.default_rng(1).normal(50, 2, 200)})
        second = models.register(
            session, company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="SENTINEL-A model",
            kind="anomaly.ewma", state=EwmaDetector().fit(history).state(), tag_ids=[world.ids_a["tag_id"]],
            trained_from=datetime(2026, 1, 6, tzinfo=UTC), trained_to=datetime(2026, 1, 7, tzinfo=UTC),
            metrics={}, created_by="test",
        ).id  # fmt: skip
    member = bearer(client, world.emails["member_a"])
    for model_id in (first, second, first):
        assert client.post(f"/api/v1/models/{model_id}/deploy", headers=member).status_code == 200
    deploys, rollbacks = _trail(world, "model.deploy"), _trail(world, "model.rollback")
    assert [(e.target, e.details["replaced"]) for e in deploys] == [(f"model:{first}", []), (f"model:{second}", [1])]
    assert [(e.target, e.details["version"], e.details["replaced"]) for e in rollbacks] == [(f"model:{first}", 1, [2])]
    assert rollbacks[0].user_email == world.emails["member_a"] and rollbacks[0].company_id == world.firm_a
