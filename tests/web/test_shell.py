"""The web shell: login with CSRF, tokens, language switch, health and metrics."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, World


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_login_requires_csrf_and_right_password(client: TestClient, world: World) -> None:
    page = client.get("/login")
    no_token = client.post("/login", data={"email": world.emails["admin"], "password": PASSWORD})
    assert no_token.status_code == 403
    wrong = client.post(
        "/login", data={"email": world.emails["admin"], "password": "nope", "csrf_token": _csrf(page.text)}
    )
    assert wrong.status_code == 401 and "이메일 또는 비밀번호" in wrong.text
    ok = client.post(
        "/login",
        data={"email": world.emails["admin"], "password": PASSWORD, "csrf_token": _csrf(client.get("/login").text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "SENTINEL-A" in client.get("/companies").text


def test_cookie_session_cannot_post_to_the_api_without_csrf(client: TestClient, world: World) -> None:
    client.post(
        "/login",
        data={"email": world.emails["admin"], "password": PASSWORD, "csrf_token": _csrf(client.get("/login").text)},
    )
    body = {"name": "x", "brn": "303-81-00039", "ksic_code": "29229", "region": "경기"}
    assert client.post("/api/v1/companies", json=body).status_code == 403
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/companies").text).group(1)  # type: ignore[union-attr]
    assert client.post("/api/v1/companies", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_pages_redirect_to_login_and_switch_language(client: TestClient, world: World) -> None:
    response = client.get("/companies", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/companies"
    assert "로그인" in client.get("/login").text
    client.get("/lang/en?next=/login")
    assert "Log in to Smart365" in client.get("/login").text


def test_expired_token_and_garbage_token_are_401(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_health_docs_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "Smart365"
    client.get("/login")
    metrics = client.get("/metrics").text
    assert 'smart365_http_requests_total{method="GET",route="/login",status="200"}' in metrics


def test_member_lands_on_own_firm_and_cannot_open_another(client: TestClient, world: World) -> None:
    client.post(
        "/login",
        data={"email": world.emails["member_b"], "password": PASSWORD, "csrf_token": _csrf(client.get("/login").text)},
    )
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200 and 'data-testid="member-home"' in home.text and "비교 금속" in home.text
    assert client.get(f"/companies/{world.firm_a}").status_code == 404
