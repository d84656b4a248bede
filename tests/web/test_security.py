"""Security headers, the CSP nonce, Secure cookies over HTTPS, offline API docs, the metrics token, the icon."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smart365.core.settings import Settings
from smart365.web.templating import PACKAGE_DIR
from tests.conftest import PASSWORD, World, bearer


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The suite's settings, with what a test parametrizes (``indirect=True``) laid over them."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret", **overrides)


def _log_in(client: TestClient, email: str) -> Any:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    return client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )


def _nonce(response: Any) -> str:
    match = re.search(r"script-src 'self' 'nonce-([\w-]+)'", response.headers["content-security-policy"])
    assert match, response.headers["content-security-policy"]
    return match.group(1)


def test_pages_and_api_answers_carry_the_security_headers(client: TestClient, world: World) -> None:
    page = client.get("/login")
    api = client.get("/api/v1/me", headers=bearer(client, world.emails["admin"]))
    assert page.status_code == 200 and api.status_code == 200
    for response in (page, api):
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS


def test_inline_scripts_carry_the_nonce_of_their_own_response(client: TestClient, world: World) -> None:
    _log_in(client, world.emails["admin"])
    first, second = client.get("/"), client.get("/")
    assert _nonce(first) != _nonce(second)
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", first.text)
    assert inline, "the dashboard draws its charts from an inline script"
    assert all(f'nonce="{_nonce(first)}"' in attributes for attributes in inline)


def test_templates_have_no_inline_handler_and_no_script_without_the_nonce() -> None:
    """The CSP blocks ``onclick="…"`` and un-nonced inline scripts: no template may rely on either."""
    bad = []
    for template in sorted(PACKAGE_DIR.glob("*/templates/**/*.html")):
        text = template.read_text(encoding="utf-8")
        name = template.relative_to(PACKAGE_DIR)
        bad += [f"{name}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+=[\"']", text)]
        bad += [f"{name}: {m.group(0)}" for m in re.finditer(r"href=[\"']\s*javascript:", text)]
        for match in re.finditer(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            if 'nonce="{{ csp_nonce }}"' not in match.group(0):
                bad.append(f"{name}: {match.group(0)}")
    assert not bad, bad


@pytest.mark.parametrize("settings", [{"https": True}, {"https": False}], indirect=True, ids=["https", "http"])
def test_cookies_are_secure_and_hsts_is_sent_only_over_https(
    client: TestClient, world: World, settings: Settings
) -> None:
    if settings.https:
        client.base_url = "https://testserver"  # type: ignore[assignment]  # a browser sends Secure cookies only there
    login = _log_in(client, world.emails["admin"])
    cookies = login.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("smart365_session="))
    lang = next(c for c in cookies if c.startswith("lang="))
    switched = client.get("/lang/en?next=/login", follow_redirects=False)
    for cookie in (session, lang, switched.headers["set-cookie"]):
        assert ("; secure" in cookie.lower()) is settings.https, cookie
    assert switched.headers.get("strict-transport-security") == ("max-age=31536000" if settings.https else None)


def test_api_docs_load_only_vendored_files_and_admit_their_script(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "http://" not in docs.text and "https://" not in docs.text  # no CDN
    urls = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert set(urls) == {
        "/static/vendor/swagger-ui.css", "/static/vendor/swagger-ui-bundle.js", "/static/favicon.svg"
    }  # fmt: skip
    assert re.search(rf'<script nonce="{_nonce(docs)}">\s*const ui = SwaggerUIBundle', docs.text)
    assert '"validatorUrl": null' in docs.text  # the validator badge would be an image from the internet
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert "SwaggerUIBundle" in client.get("/static/vendor/swagger-ui-bundle.js").text
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc loads from a CDN


@pytest.mark.parametrize("settings", [{"metrics_token": "s3cret-365"}], indirect=True)
def test_metrics_want_the_token_when_one_is_set(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-366"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-365"}).status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-365"})
    assert right.status_code == 200 and "smart365_http_requests_total" in right.text


def test_the_site_icon_is_served_and_named_by_every_page(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and "<svg" in svg.text and ">365</text>" in svg.text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/login").text
