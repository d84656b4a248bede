"""Accounts: audited logins, login throttling, logout that ends the session on the server, the centre's
changes to users (role, disable) taking effect at once, and the admin's audit and users pages."""

from __future__ import annotations

import io
import re
from typing import Any

import limits.storage.memory
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from smart365.core import audit
from smart365.core.audit import AuditEntry
from smart365.core.tenancy import SYSTEM
from smart365.core.throttle import LoginThrottle
from tests.conftest import PASSWORD, World, bearer
from tests.web.test_tenancy_matrix import _csrf, _page_client


class FakeClock:
    """The time the throttle and its in-memory storage read; a test moves it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(app: Any, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)  # the library reads time.time()
    app.state.system.login_throttle = LoginThrottle(clock=fake.time)
    return fake


def _login(client: TestClient, email: str, password: str) -> Any:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=data, follow_redirects=False)


def _entries(world: World, action: str) -> list[AuditEntry]:
    with world.db.session(SYSTEM) as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def _token(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", data={"username": email, "password": password})


# -- logins -----------------------------------------------------------------------------------------------


def test_logins_and_failed_logins_are_audited_with_who_and_where(client: TestClient, world: World) -> None:
    email = world.emails["member_a"]
    assert _login(client, email, "wrong password").status_code == 401
    assert _login(client, email, PASSWORD).status_code == 303
    assert _token(client, email, "wrong password").status_code == 401
    assert _token(client, email, PASSWORD).status_code == 200
    entries = _entries(world, "auth.login")
    outcomes = [(e.outcome, e.details["via"], e.user_email, e.address) for e in entries]
    assert outcomes == [
        ("failed", "browser", email, "testclient"),
        ("ok", "browser", email, "testclient"),
        ("failed", "api", email, "testclient"),
        ("ok", "api", email, "testclient"),
    ]
    assert entries[0].user_id is None and entries[1].user_id is not None and entries[1].at.year >= 2026


def test_sixth_wrong_try_is_refused_even_with_the_right_password_until_the_window_passes(
    app: Any, client: TestClient, world: World, clock: FakeClock
) -> None:
    email = world.emails["member_a"]
    for _try in range(5):
        assert _login(client, email, "wrong password").status_code == 401
    refused = _login(client, email, PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 15 * 60
    assert "로그인에 여러 번 실패했습니다. 15분 후에 다시 시도하세요." in refused.text
    api = _token(client, email, PASSWORD)  # the API shares the counters: no way around the lock
    assert api.status_code == 429 and api.json()["error"]["code"] == "too_many_attempts"
    assert int(api.headers["retry-after"]) == 15 * 60
    # An attacker failing on purpose locks only their own address: the user at their desk still gets in.
    desk = TestClient(app, client=("203.0.113.20", 50000))
    assert _login(desk, email, PASSWORD).status_code == 303
    clock.advance(15 * 60 - 10)
    assert _login(client, email, PASSWORD).status_code == 429
    clock.advance(11)
    assert _login(client, email, PASSWORD).status_code == 303
    blocked = [e for e in _entries(world, "auth.login") if e.outcome == "blocked"]
    assert len(blocked) == 3 and blocked[0].details["retry_after_s"] == 15 * 60


def test_the_lock_grows_while_the_guessing_goes_on(client: TestClient, world: World, clock: FakeClock) -> None:
    email = world.emails["member_a"]
    for _round in range(2):  # 5 failures, wait out the 15 minutes, 5 more: 10 within the hour
        for _try in range(5):
            assert _login(client, email, "wrong password").status_code == 401
        clock.advance(15 * 60 + 1)
    refused = _login(client, email, PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 15 * 60


def test_one_address_trying_many_accounts_is_throttled(app: Any, world: World, clock: FakeClock) -> None:
    guesser = TestClient(app, client=("198.51.100.7", 40000))
    for n in range(30):
        assert _login(guesser, f"nobody{n}@test.kr", "wrong password").status_code == 401
    assert _login(guesser, world.emails["admin"], PASSWORD).status_code == 429
    assert _login(TestClient(app), world.emails["admin"], PASSWORD).status_code == 303


# -- logout ends the session on the server --------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_logout(app: Any, client: TestClient, world: World) -> None:
    assert _login(client, world.emails["member_a"], PASSWORD).status_code == 303
    copied = dict(client.cookies)
    assert client.get("/api/v1/me").status_code == 200
    client.post("/logout", data={"csrf_token": _csrf(client)})
    thief = TestClient(app, cookies=copied)
    response = thief.get("/companies", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert thief.get("/api/v1/me").status_code == 401
    (logout,) = _entries(world, "auth.logout")
    assert logout.user_email == world.emails["member_a"] and logout.details == {"via": "browser"}


def test_a_bearer_token_can_be_revoked(client: TestClient, world: World) -> None:
    headers = bearer(client, world.emails["member_a"])
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.post("/api/v1/auth/logout").status_code == 401
    assert _entries(world, "auth.logout")[0].details == {"via": "api"}


# -- the centre's changes to users ----------------------------------------------------------------------


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(app: Any, client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    member = _page_client(app, world.emails["member_a"])
    token = bearer(client, world.emails["member_a"])
    user_id = world.ids_a["user_id"]
    assert client.post(f"/api/v1/users/{user_id}/disable", headers=admin).json()["active"] is False
    assert member.get("/companies", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me", headers=token).status_code == 401
    assert _login(TestClient(app), world.emails["member_a"], PASSWORD).status_code == 401
    assert client.post(f"/api/v1/users/{user_id}/enable", headers=admin).json()["active"] is True
    assert client.get("/api/v1/me", headers=token).status_code == 401  # enabling gives no old login back
    assert _login(TestClient(app), world.emails["member_a"], PASSWORD).status_code == 303
    (disabled,), (enabled,) = _entries(world, "user.disable"), _entries(world, "user.enable")
    assert disabled.target == f"user:{user_id}" and disabled.user_email == world.emails["admin"]
    assert enabled.company_id == world.firm_a


def test_a_role_change_is_audited_and_takes_effect_on_the_next_request(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    member = bearer(client, world.emails["member_b"])
    user_id = client.get("/api/v1/me", headers=member).json()["id"]
    body = {"role": "company_member", "company_id": world.firm_a}
    assert client.put(f"/api/v1/users/{user_id}/role", json=body, headers=admin).status_code == 200
    assert client.get("/api/v1/me", headers=member).json()["company_id"] == world.firm_a
    missing_firm = client.put(f"/api/v1/users/{user_id}/role", json={"role": "company_member"}, headers=admin)
    assert missing_firm.status_code == 422
    (change,) = _entries(world, "user.role")
    assert change.details == {
        "before": {"role": "company_member", "company_id": world.firm_b},
        "after": {"role": "company_member", "company_id": world.firm_a},
    }


def test_an_admin_cannot_disable_or_demote_themself(client: TestClient, world: World) -> None:
    admin = bearer(client, world.emails["admin"])
    me = client.get("/api/v1/me", headers=admin).json()["id"]
    response = client.post(f"/api/v1/users/{me}/disable", headers=admin)
    assert response.status_code == 422 and "자신" in response.json()["error"]["message"]
    assert client.put(f"/api/v1/users/{me}/role", json={"role": "consultant"}, headers=admin).status_code == 422
    assert client.get("/api/v1/me", headers=admin).json()["role"] == "centre_admin"


def test_users_page_changes_role_and_disables(app: Any, world: World) -> None:
    admin = _page_client(app, world.emails["admin"])
    page = admin.get("/admin/users")
    assert page.status_code == 200 and world.emails["member_a"] in page.text and "사용자 관리" in page.text
    user_id, csrf = world.ids_a["user_id"], _csrf(admin)
    response = admin.post(f"/admin/users/{user_id}/role", data={"csrf_token": csrf, "role": "consultant"},
                          follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/admin/users?saved=1"
    refused = admin.post(f"/admin/users/{user_id}/role", data={"csrf_token": csrf, "role": "company_member"})
    assert "기업 회원은 소속 기업이 필요하고" in refused.text  # back on the page, nothing changed
    admin.post(f"/admin/users/{user_id}/active", data={"csrf_token": csrf, "active": "0"})
    assert [e.details["after"]["role"] for e in _entries(world, "user.role")] == ["consultant"]
    assert len(_entries(world, "user.disable")) == 1


# -- the audit page --------------------------------------------------------------------------------------


def test_audit_page_filters_pages_and_exports_and_the_export_is_audited(
    app: Any, client: TestClient, world: World
) -> None:
    for _try in range(3):
        _login(client, world.emails["member_b"], "wrong password")
    admin = _page_client(app, world.emails["admin"])
    page = admin.get("/admin/audit", params={"user": "mb@", "action": "auth.login"})
    assert page.status_code == 200 and "3건" in page.text and "실패" in page.text and "브라우저" in page.text
    assert world.emails["admin"] not in page.text.split('data-testid="audit-table"')[1]
    assert "0건" in admin.get("/admin/audit", params={"since": "2000-01-01", "until": "2000-01-02"}).text
    assert "3건" in admin.get("/admin/audit", params={"user": "mb@", "since": "2026-01-01"}).text
    assert admin.get("/admin/audit", params={"since": "yesterday"}).status_code == 422
    export = admin.get("/admin/audit/export.xlsx", params={"user": "mb@"})
    rows = list(load_workbook(io.BytesIO(export.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "일시 (한국 시간) (time (KST))" and len(rows) == 4 and rows[1][4] == "로그인"
    (exported,) = _entries(world, "data.export")
    assert exported.target == "audit" and exported.details == {"filters": {"user": "mb@"}}


def test_audit_page_pages_newest_first(app: Any, client: TestClient, world: World) -> None:
    for n in range(55):
        actor = audit.Actor(user_id=None, email=f"guess{n:02d}@test.kr", address="198.51.100.7")
        audit.record_in(world.db, audit.Action.LOGIN, outcome=audit.Outcome.FAILED, actor=actor)
    admin = _page_client(app, world.emails["admin"])
    first = admin.get("/admin/audit", params={"user": "guess"}).text
    second = admin.get("/admin/audit", params={"user": "guess", "page": "2"}).text
    assert "guess54@test.kr" in first and "guess00@test.kr" not in first and "1 / 2" in first
    assert "guess00@test.kr" in second and "guess54@test.kr" not in second


def test_only_the_centre_sees_the_admin_pages_and_their_links(app: Any, world: World) -> None:
    member = _page_client(app, world.emails["member_a"])
    assert 'href="/admin/audit"' not in member.get("/companies").text
    assert member.get("/admin/audit").status_code == 403
    assert member.get("/admin/users").status_code == 403
    admin = _page_client(app, world.emails["admin"])
    shell = admin.get("/companies").text
    assert 'href="/admin/audit"' in shell and 'href="/admin/users"' in shell
