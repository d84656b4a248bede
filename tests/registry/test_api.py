"""The registry API as a client uses it: create, read, change, delete, and clear errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World, bearer


def test_centre_builds_a_plant_through_the_api(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    firm = client.post(
        "/api/v1/companies",
        headers=admin,
        json={
            "name": "신규정밀",
            "brn": "303-81-00039",
            "ksic_code": "29229",
            "region": "경기",
            "systems": ["MES"],
        },
    )
    assert firm.status_code == 201 and firm.json()["sobujang"] is True
    cid = firm.json()["id"]
    site = client.post(f"/api/v1/companies/{cid}/sites", headers=admin, json={"name": "본공장"}).json()
    line = client.post(f"/api/v1/sites/{site['id']}/lines", headers=admin, json={"name": "1라인"}).json()
    machine = client.post(
        f"/api/v1/lines/{line['id']}/equipment",
        headers=admin,
        json={"name": "MCT-01", "kind": "cnc", "protocol": "opcua"},
    ).json()
    tag = client.post(
        f"/api/v1/equipment/{machine['id']}/tags", headers=admin, json={"name": "spindle_load", "unit": "%"}
    ).json()
    assert tag["company_id"] == cid and tag["equipment_id"] == machine["id"]
    patched = client.patch(f"/api/v1/tags/{tag['id']}", headers=admin, json={"unit": "kW"})
    assert patched.json()["unit"] == "kW"
    assert client.delete(f"/api/v1/sites/{site['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/tags/{tag['id']}", headers=admin).status_code == 404  # cascaded


def test_bad_input_gets_a_reason_per_field_in_korean_and_english(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    response = client.post(
        "/api/v1/companies",
        headers=admin | {"Accept-Language": "ko"},
        json={"name": "x", "brn": "123", "ksic_code": "29229", "region": "경기"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "입력값이 올바르지 않습니다." and error["message_en"] == "The input is not valid."
    assert error["fields"] == [
        {"field": "brn", "reason": "올바른 사업자등록번호가 아닙니다(검증번호가 맞는 10자리 숫자)."}
    ]


def test_duplicate_registration_number_is_a_conflict(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    response = client.post(
        "/api/v1/companies",
        headers=admin,
        json={"name": "x", "brn": "1018600011", "ksic_code": "29229", "region": "경기"},
    )
    assert response.status_code == 409


def test_member_edits_own_firm_but_cannot_register_firms(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"])
    assert (
        client.patch(f"/api/v1/companies/{world.firm_a}", headers=member, json={"employees": 77}).json()["employees"]
        == 77
    )
    created = client.post(
        "/api/v1/companies",
        headers=member,
        json={"name": "x", "brn": "303-81-00039", "ksic_code": "29229", "region": "경기"},
    )
    assert created.status_code == 403


def test_list_filters_and_paging(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    assert client.get("/api/v1/companies?region=gyeongnam", headers=admin).json()["total"] == 1
    assert client.get("/api/v1/companies?sobujang=true", headers=admin).json()["total"] == 2
    assert client.get("/api/v1/companies?q=1018600011", headers=admin).json()["items"][0]["id"] == world.firm_a
    page = client.get("/api/v1/companies?size=1&page=2", headers=admin).json()
    assert (page["total"], len(page["items"])) == (2, 1)


def test_a_password_in_a_machines_address_is_masked_everywhere_and_kept_when_sent_back(
    client: TestClient, world: World
) -> None:
    from sqlalchemy import select

    from smart365.core.tenancy import SYSTEM
    from smart365.registry.models import Equipment
    from smart365.telemetry.sources import SourceRow, connector_configs
    from tests.web.test_tenancy_matrix import _page_client

    member = bearer(client, world.emails["member_a"])
    line = client.get(f"/api/v1/equipment/{world.ids_a['equipment_id']}", headers=member).json()["line_id"]
    secret = "opc.tcp://operator:s3cret@127.0.0.1:4840/ua"
    made = client.post(f"/api/v1/lines/{line}/equipment", headers=member,
                       json={"name": "MCT-09", "protocol": "opcua", "endpoint": secret})  # fmt: skip
    assert made.status_code == 201 and made.json()["endpoint"] == "opc.tcp://operator:****@127.0.0.1:4840/ua"
    machine = made.json()["id"]
    page = _page_client(client.app, world.emails["member_a"]).get(f"/equipment/{machine}").text
    assert "operator:****@127.0.0.1" in page and "s3cret" not in page

    moved = client.patch(f"/api/v1/equipment/{machine}", headers=member,
                         json={"endpoint": "opc.tcp://operator:****@127.0.0.1:4841/ua"})  # fmt: skip
    assert moved.status_code == 200 and "s3cret" not in moved.text

    def stored() -> str | None:
        with world.db.session(SYSTEM) as session:
            return session.scalar(select(Equipment.endpoint).where(Equipment.id == machine))

    assert stored() == "opc.tcp://operator:s3cret@127.0.0.1:4841/ua"  # the mask kept the password
    changed = {"endpoint": "opc.tcp://operator:n3w@127.0.0.1:4841/ua"}  # a new password replaces the old one
    assert client.patch(f"/api/v1/equipment/{machine}", headers=member, json=changed).status_code == 200
    assert stored() == "opc.tcp://operator:n3w@127.0.0.1:4841/ua"

    specs, problems = connector_configs([SourceRow("opcua", stored() or "", 1, "ns=2;s=Plant/x")])
    assert not problems and specs[0].name == "opcua opc.tcp://operator:****@127.0.0.1:4841/ua"
    assert "operator:n3w@" in specs[0].config["endpoint"]  # the connector still logs in with it
