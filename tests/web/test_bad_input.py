"""Bad input is a 4xx with a reason, never a 500: numbers past 64 bits anywhere, nulls for required fields,
values the database cannot hold, unknown addresses and methods."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from tests.conftest import PASSWORD, World, bearer

HUGE = "99999999999999999999"  # past 64 bits: SQLite's driver raised OverflowError (a 500) on these


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/companies/{HUGE}",
        f"/api/v1/companies/{HUGE}/sites",
        f"/api/v1/tags/{HUGE}/latest",
        f"/api/v1/tags/{HUGE}/series",
        f"/api/v1/tickets/{HUGE}",
        f"/api/v1/equipment/{HUGE}/models",
        f"/api/v1/companies?page={HUGE}",
        "/api/v1/companies?page=18446744073709551615&size=500",  # a page whose offset passes 64 bits
    ],
)
def test_a_number_past_64_bits_in_a_path_or_query_is_a_422_with_the_reason(
    client: TestClient, world: World, url: str
) -> None:
    answer = client.get(url, headers=bearer(client, world.emails["admin"]) | {"Accept-Language": "en"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] | {"params": None} == {
        "code": "out_of_range",
        "message": "A number in the request is too large: at most 9223372036854775807.",
        "message_en": "A number in the request is too large: at most 9223372036854775807.",
        "params": None,
    }


def test_a_number_past_64_bits_in_a_body_or_on_a_page_is_refused_too(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    ticket = {"title": "x", "body": "y", "company_id": world.firm_a, "equipment_id": int(HUGE)}
    assert client.post("/api/v1/tickets", headers=admin, json=ticket).status_code == 422
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": world.emails["admin"], "password": PASSWORD, "csrf_token": token.group(1)})
    page = client.get(f"/companies/{HUGE}")
    assert page.status_code == 422 and "요청에 든 숫자가 너무 큽니다" in page.text


@pytest.mark.parametrize("field", ["systems", "name", "region"])
def test_a_patch_that_empties_a_required_field_is_a_422_naming_it(client: TestClient, world: World, field: str) -> None:
    admin = bearer(client, world.emails["admin"]) | {"Accept-Language": "en"}
    answer = client.patch(f"/api/v1/companies/{world.firm_a}", headers=admin, json={field: None})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["message_en"] == f"{field} cannot be empty; leave it out to keep it as it is."
    site = client.patch(f"/api/v1/sites/{world.ids_a['site_id']}", headers=admin, json={"name": None})
    assert site.status_code == 422 and site.json()["error"]["params"] == {"field": "name"}


def test_systems_of_the_wrong_shape_and_texts_longer_than_their_column_are_422(
    client: TestClient, world: World
) -> None:
    admin = bearer(client, world.emails["admin"])
    firm = {"name": "새정밀", "brn": "303-81-00039", "ksic_code": "29229", "region": "경기", "systems": 1.5}
    assert client.post("/api/v1/companies", headers=admin, json=firm).status_code == 422
    site = client.post(
        f"/api/v1/companies/{world.firm_a}/sites", headers=admin, json={"name": "x", "address": "y" * 301}
    )
    assert site.status_code == 422 and site.json()["error"]["fields"][0]["field"] == "address"


def test_a_value_the_database_refuses_is_a_422_and_unknown_addresses_keep_the_error_body(
    app: FastAPI, client: TestClient
) -> None:
    def refuse() -> None:
        raise DataError("INSERT ...", {}, Exception("value too long for type character varying(300)"))

    app.add_api_route("/api/v1/probe-data-error", refuse)
    answer = client.get("/api/v1/probe-data-error", headers={"Accept-Language": "en"})
    assert answer.status_code == 422
    assert answer.json()["error"]["message_en"] == "A value in the request is too long or out of range for its field."
    assert client.get("/api/v1/no-such-thing").json()["error"]["code"] == "not_found"
    assert client.put("/api/v1/companies").json()["error"]["code"] == "method_not_allowed"
