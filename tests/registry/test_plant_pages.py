"""Building a plant in the browser forms: add site → line → machine → tag, a clear error, delete."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Equipment, Site, Tag
from tests.conftest import PASSWORD, World


def _login(client: TestClient, email: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    return re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/companies").text).group(1)  # type: ignore[union-attr]


def test_member_builds_and_prunes_own_plant(client: TestClient, world: World) -> None:
    csrf = _login(client, world.emails["member_b"])
    firm = world.firm_b
    client.post(f"/companies/{firm}/sites", data={"name": "제2공장", "csrf_token": csrf})
    with world.db.session(SYSTEM) as session:
        site = session.scalars(select(Site).where(Site.name == "제2공장")).one()
    client.post(f"/sites/{site.id}/lines", data={"name": "도금라인", "csrf_token": csrf})
    assert "도금라인" in client.get(f"/companies/{firm}").text
    with world.db.session(SYSTEM) as session:
        line = session.scalars(select(Site).where(Site.id == site.id)).one().lines[0]
    machine_form = {"name": "PLT-01", "kind": "other", "protocol": "modbus", "csrf_token": csrf}
    refused = client.post(f"/lines/{line.id}/equipment", data=machine_form | {"endpoint": "10.0.0.5:502"})
    # Modbus needs modbus://host:port
    assert "설비 'PLT-01': 설비의 접속 주소가 통신 방식과 맞지 않습니다." in html.unescape(refused.text)
    response = client.post(
        f"/lines/{line.id}/equipment", data=machine_form | {"endpoint": "modbus://10.0.0.5:502"}, follow_redirects=False
    )
    assert response.headers["location"] == f"/companies/{firm}"
    with world.db.session(SYSTEM) as session:
        machine = session.scalars(select(Equipment).where(Equipment.name == "PLT-01")).one()
        assert (machine.company_id, machine.protocol) == (firm, "modbus")

    bad = client.post(f"/equipment/{machine.id}/tags", data={"name": "current", "min_value": "abc", "csrf_token": csrf})
    assert "최솟값: 숫자여야 합니다." in bad.text
    unreadable = client.post(
        f"/equipment/{machine.id}/tags", data={"name": "current", "address": "holding:x", "csrf_token": csrf}
    )
    assert unreadable.status_code == 422 and "태그 'current': Modbus 주소는" in html.unescape(unreadable.text)
    client.post(f"/equipment/{machine.id}/tags", data={"name": "current", "unit": "A", "csrf_token": csrf})
    page = client.get(f"/equipment/{machine.id}").text
    assert "current" in page and "등록된 태그가 없습니다." not in page

    client.post(f"/sites/{site.id}/delete", data={"csrf_token": csrf})
    with world.db.session(SYSTEM) as session:
        assert session.get(Site, site.id) is None
        assert session.scalars(select(Tag).where(Tag.name == "current")).first() is None  # cascaded


def test_form_without_csrf_token_changes_nothing(client: TestClient, world: World) -> None:
    _login(client, world.emails["member_b"])
    response = client.post(f"/companies/{world.firm_b}/sites", data={"name": "몰래"})
    assert response.status_code == 403
    with world.db.session(SYSTEM) as session:
        assert session.scalars(select(Site).where(Site.name == "몰래")).first() is None
