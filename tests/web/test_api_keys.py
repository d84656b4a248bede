"""A firm's API keys: shown once and stored as a hash, good for ingesting that firm's tags and nothing else,
revocable at once, their last use noted at most once a minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.api_keys import ApiKey
from smart365.core.audit import AuditEntry
from smart365.core.db import as_utc, utcnow
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Tag
from tests.conftest import World, bearer
from tests.web.test_tenancy_matrix import MACHINE_ONLY, PUBLIC, _call, _csrf, _page_client, _routes


def _new_key(client: TestClient, world: World, who: str = "member_a", firm: int | None = None) -> Any:
    headers = bearer(client, world.emails[who])
    return client.post(f"/api/v1/companies/{firm or world.firm_a}/api-keys", json={"name": "1공장 게이트웨이"},
                       headers=headers)  # fmt: skip


def _points(tag_id: int) -> dict[str, Any]:
    return {"points": [{"tag_id": tag_id, "ts": "2026-11-25T09:00:00+09:00", "value": 55.2}]}


def _tag_of_b(world: World) -> int:
    with world.db.session(SYSTEM) as session:
        return int(session.scalar(select(Tag.id).where(Tag.company_id == world.firm_b)))  # type: ignore[arg-type]


def test_a_key_is_shown_once_and_only_its_hash_is_stored(client: TestClient, world: World) -> None:
    response = _new_key(client, world)
    assert response.status_code == 201, response.text
    body = response.json()
    key = body["key"]
    assert key.startswith("s365_") and body["shown"].endswith("_…") and key.startswith(body["shown"][:-1])
    with world.db.session(SYSTEM) as session:
        row = session.get(ApiKey, body["id"])
        assert row is not None and row.created_by_name.startswith("member_a")
        stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
        made = (AuditEntry.action == "api_key.create", AuditEntry.target == f"api_key:{row.id}")
        entry = session.scalar(select(AuditEntry).where(*made))
    secret = key.split("_", 2)[2]
    assert secret not in stored and key not in stored
    listed = client.get(f"/api/v1/companies/{world.firm_a}/api-keys", headers=bearer(client, world.emails["admin"]))
    assert body["id"] in [k["id"] for k in listed.json()] and secret not in listed.text
    assert entry is not None and entry.company_id == world.firm_a and entry.user_email == world.emails["member_a"]
    assert secret not in str(entry.details)


def test_a_key_ingests_its_firms_tags_and_no_other(app: Any, client: TestClient, world: World) -> None:
    key = _new_key(client, world).json()["key"]
    own = client.post("/api/v1/ingest", json=_points(world.ids_a["tag_id"]), headers={"Authorization": f"Bearer {key}"})
    assert own.status_code == 200 and own.json()["stored"] == 1
    other = client.post("/api/v1/ingest", json=_points(_tag_of_b(world)), headers={"X-API-Key": key})
    assert other.status_code == 200 and other.json()["stored"] == 0 and other.json()["dead_letter"] == 1
    assert len(app.state.system.store.read(_tag_of_b(world), "2000-01-01", "2100-01-01")) == 0
    lines = f"mct,equipment_id={world.ids_a['equipment_id']} spindle=1.0 1764028800"
    text = client.post("/api/v1/ingest?precision=s", content=lines.encode(),
                       headers={"X-API-Key": key, "Content-Type": "text/plain"})  # fmt: skip
    assert text.status_code == 200, text.text


#: What a firm's key may call: ingest, and reading its tags' latest values and series (dashboards).
KEY_ROUTES = {("POST", "/api/v1/ingest"), ("GET", "/api/v1/tags/{tag_id}/latest"),
              ("GET", "/api/v1/tags/{tag_id}/series")}  # fmt: skip


def test_a_key_is_refused_on_every_other_route(app: Any, client: TestClient, world: World) -> None:
    key = _new_key(client, world).json()["key"]
    walked = 0
    for method, path, _route in _routes(app):
        if (method, path) in PUBLIC or (method, path) in MACHINE_ONLY or (method, path) in KEY_ROUTES:
            continue
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            response = _call(app, client, method, path, world.ids_a, headers)
            assert response.status_code == 403, f"{method} {path} with {next(iter(headers))}: {response.status_code}"
        walked += 1
    assert walked > 25


def test_a_revoked_key_gets_401_at_once(app: Any, client: TestClient, world: World) -> None:
    created = _new_key(client, world).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.post("/api/v1/ingest", json=_points(world.ids_a["tag_id"]), headers=headers).status_code == 200
    member = bearer(client, world.emails["member_a"])
    revoked = client.post(f"/api/v1/companies/{world.firm_a}/api-keys/{created['id']}/revoke", headers=member)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    response = client.post("/api/v1/ingest", json=_points(world.ids_a["tag_id"]), headers=headers)
    assert response.status_code == 401 and "폐기" in response.json()["error"]["message"]
    forged = created["key"][:-2] + ("xx" if not created["key"].endswith("xx") else "yy")
    assert client.post("/api/v1/ingest", json=_points(1), headers={"X-API-Key": forged}).status_code == 401
    with world.db.session(SYSTEM) as session:
        assert session.scalar(select(AuditEntry.target).where(AuditEntry.action == "api_key.revoke")) == (
            f"api_key:{created['id']}"
        )


def test_the_centre_and_the_firms_own_members_may_make_keys(client: TestClient, world: World) -> None:
    assert _new_key(client, world, "admin").status_code == 201
    assert _new_key(client, world, "admin", firm=world.firm_b).status_code == 201
    assert _new_key(client, world, "member_b", firm=world.firm_b).status_code == 201
    assert _new_key(client, world, "consultant_a").status_code == 403  # a consultant of the firm reads only
    assert _new_key(client, world, "member_b").status_code == 404
    assert _new_key(client, world, "partner").status_code == 404
    listed = client.get(f"/api/v1/companies/{world.firm_a}/api-keys", headers=bearer(client, world.emails["member_b"]))
    assert listed.status_code == 404


def test_last_use_is_written_at_most_once_a_minute(client: TestClient, world: World) -> None:
    created = _new_key(client, world).json()
    headers = {"X-API-Key": created["key"]}

    def use() -> Any:
        client.post("/api/v1/ingest", json=_points(world.ids_a["tag_id"]), headers=headers)
        with world.db.session(SYSTEM) as session:
            return session.get(ApiKey, created["id"]).last_used_at  # type: ignore[union-attr]

    def set_last_use(ago: timedelta) -> Any:
        with world.db.session(SYSTEM) as session:
            row = session.get(ApiKey, created["id"])
            assert row is not None
            row.last_used_at = utcnow() - ago
            return row.last_used_at

    assert use() is not None
    recent = set_last_use(timedelta(seconds=30))
    assert as_utc(use()) == as_utc(recent)
    stale = set_last_use(timedelta(minutes=2))
    assert as_utc(use()) > as_utc(stale)


def test_the_keys_page_shows_a_new_key_once(app: Any, world: World) -> None:
    member = _page_client(app, world.emails["member_a"])
    assert f'href="/companies/{world.firm_a}/api-keys"' in member.get(f"/companies/{world.firm_a}").text
    page = member.get(f"/companies/{world.firm_a}/api-keys")
    assert page.status_code == 200 and "SENTINEL-A gateway" in page.text and "키 발급" in page.text
    made = member.post(f"/companies/{world.firm_a}/api-keys", data={"csrf_token": _csrf(member), "name": "프레스 2호"})
    assert made.status_code == 201 and "이번 한 번만 보이며" in made.text
    key = made.text.split('data-testid="new-key-value">')[1].split("<")[0]
    assert key.startswith("s365_")
    again = member.get(f"/companies/{world.firm_a}/api-keys").text
    assert "프레스 2호" in again and key not in again and key.split("_", 2)[2] not in again
    consultant = _page_client(app, world.emails["consultant_a"]).get(f"/companies/{world.firm_a}/api-keys")
    assert (
        consultant.status_code == 200 and "SENTINEL-A gateway" in consultant.text and "키 발급" not in consultant.text
    )
