"""The pages and the API: bad input is a 4xx with its reason, a refused pull is 403 with the reason, and the
partner sees only what names it."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, World, bearer


def _page_client(app: Any, email: str) -> tuple[TestClient, str]:
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/collab").text).group(1)  # type: ignore[union-attr]
    return client, csrf


def test_publish_refuses_bad_input_with_the_reason(app: Any, world: World) -> None:
    member, csrf = _page_client(app, world.emails["member_a"])
    base = {"csrf_token": csrf, "title": "주축 데이터", "tags": str(world.ids_a["tag_id"]), "data_from": "2026-01-01",
            "data_to": "2026-01-31", "assignee_kind": "centre", "purpose": "quality"}  # fmt: skip
    cases = {
        "purpose": ({"purpose": "espionage"}, "espionage"),
        "uses": ({"max_uses": "many"}, "이용 횟수은(는)"),
        "period": ({"data_to": "2025-01-01"}, "데이터 기간의 끝"),
        "tags": ({"tags": "999999"}, "이 기업의 태그가 아닙니다"),
        "group": ({"assignee_kind": "group", "group_brns": "0000000000"}, "등록되지 않은 기업"),
        "window": ({"start": "2027-01-02T00:00:00", "end": "2027-01-01T00:00:00"}, "이용 기간의 끝"),
    }
    for name, (change, reason) in cases.items():
        response = member.post("/collab/offers", data=base | change)
        assert response.status_code == 422, (name, response.status_code)
        assert reason.replace("은(는)", "") in response.text, name
    ok = member.post("/collab/offers", data=base, follow_redirects=False)
    assert ok.status_code == 303 and re.search(r"/collab/offers/\d+$", ok.headers["location"])
    reading = member.post("/collab/offers/reading", data=base | {"max_uses": "7"})
    assert "최대 7회 쓸 수 있습니다." in reading.text and "스마트365 센터만" in reading.text


def test_api_pull_is_403_with_the_reason_and_the_partner_sees_only_its_offers(app: Any, client: TestClient,
                                                                            world: World) -> None:  # fmt: skip
    partner = bearer(client, world.emails["partner_p"])
    other = bearer(client, world.emails["partner"])
    offers = client.get("/api/v1/collab/offers", headers=partner).json()
    assert [o["id"] for o in offers] == [world.ids_a["offer_id"]]
    assert offers[0]["policy"]["@type"] == "Offer" and offers[0]["policy"]["@context"][0].endswith("odrl.jsonld")
    assert client.get("/api/v1/collab/offers", headers=other).json() == []
    agreement = f"/api/v1/collab/agreements/{world.ids_a['agreement_id']}"
    assert client.get(agreement, headers=partner).json()["state"] == "FINALIZED"
    assert client.get(agreement, headers=other).status_code == 404
    pulled = client.post(f"{agreement}/pull", headers=partner)
    assert pulled.status_code == 200 and pulled.text.lstrip("\ufeff").startswith("time,tag_id")
    assert client.post(f"{agreement}/pull", headers=other).status_code == 404
    again = client.post(f"/api/v1/collab/offers/{world.ids_a['offer_id']}/agreements", headers=partner,
                        json={"purpose": "quality"})  # fmt: skip
    assert again.status_code == 409  # one open agreement per party and offer
    wrong = client.post(f"/api/v1/collab/offers/{world.ids_a['offer_id']}/agreements", headers=other,
                        json={"purpose": "quality"})  # fmt: skip
    assert wrong.status_code == 404

    member, csrf = _page_client(app, world.emails["member_a"])
    revoked = member.post(f"/collab/agreements/{world.ids_a['agreement_id']}/terminate",
                          data={"csrf_token": csrf, "reason": "품질 과제 종료"}, follow_redirects=False)  # fmt: skip
    assert revoked.status_code == 303
    refused = client.post(f"{agreement}/pull", headers=partner)
    assert refused.status_code == 403
    body = refused.json()["error"]
    assert body["code"] == "pull_refused" and "품질 과제 종료" in body["message"] and "ended" in body["message_en"]
    log = client.get(f"/api/v1/collab/companies/{world.firm_a}/log", headers=bearer(client, world.emails["member_a"]))
    assert log.json()["verified"] is True
    assert [line["kind"] for line in log.json()["lines"]][:2] == ["transfer.refused", "agreement.revoked"]
    assert client.get(f"/api/v1/collab/companies/{world.firm_a}/log", headers=partner).status_code == 404
