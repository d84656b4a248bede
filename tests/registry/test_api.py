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
