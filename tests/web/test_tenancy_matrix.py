"""Walk EVERY route of the app as every role and as a member of another firm.

Firm A's rows all carry a sentinel in their names. For each route, outsiders (a member of firm B, a
consultant assigned only to B, a data partner) must get 403/404 for A's ids, see no sentinel in any
list or export, and leave A's rows byte-for-byte unchanged after every write they attempt. Insiders
(the centre, A's consultant, A's member) must see A through the same read routes, so a route that
answers 404 to everybody cannot pass.

A new route makes this test fail until it is covered: an unknown path parameter, a request body
without an example, or a route missing from the public list all stop the walk with a message.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from starlette.routing import Mount, Route

from smart365.core.db import Base, TenantScoped
from smart365.core.tenancy import SYSTEM
from tests.conftest import PASSWORD, SENTINEL, World, bearer

OUTSIDERS = ("member_b", "consultant_b", "partner")
INSIDERS = ("admin", "consultant_a", "member_a")
#: Routes anyone may call without logging in, and why.
PUBLIC = {
    ("POST", "/api/v1/auth/token"): "the login itself",
    ("GET", "/login"): "the login page",
    ("POST", "/login"): "the login form",
    ("GET", "/lang/{locale}"): "language switch",
    ("GET", "/healthz"): "liveness",
    ("GET", "/metrics"): "Prometheus scrape",
    ("POST", "/logout"): "ends one's own session",
    ("GET", "/openapi.json"): "the API description holds no firm data",
    ("GET", "/docs"): "API documentation",
    ("GET", "/favicon.ico"): "the site icon",
    ("GET", "/ping"): "InfluxDB clients' liveness check",
    ("GET", "/health"): "InfluxDB 2.x clients' health check",
}
#: InfluxDB-compatible routes for machines: a firm's API key only, every other caller (user, session, nobody)
#: gets 401. Their tenancy (a key writes into its own firm's series) is tested in tests/telemetry/test_influx_write.py.
MACHINE_ONLY = {
    ("POST", "/write"): "InfluxDB 1.x write",
    ("POST", "/api/v2/write"): "InfluxDB 2.x write",
    ("GET", "/query"): "InfluxDB start-up queries",
    ("POST", "/query"): "InfluxDB start-up queries (Telegraf's CREATE DATABASE)",
}
#: Routes that end the caller's own login: walked only anonymously (401), since ending the walkers' logins
#: would turn every later answer into 401.
ENDS_OWN_LOGIN = {("POST", "/api/v1/auth/logout"): "revokes the caller's own token"}
EXTRA_PARAMS = {"locale": "en"}


# a particle pair left for the reader to choose ("모델이(가)", "1.053(으)로"): every page must pick one
PARTICLE_MARKER = re.compile("|".join(re.escape(pair) for pair in (
    "이(가)", "가(이)", "을(를)", "를(을)", "은(는)", "는(은)", "과(와)", "와(과)", "(으)로", "(이)나", "(이)라")))


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, route) for every route, included routers flattened."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            continue  # static files
        methods = sorted((context.methods or set()) - {"HEAD"}) if isinstance(route, APIRoute | Route) else []
        found.extend((m, context.path, route) for m in methods)
    return found


def _url(path: str, ids: dict[str, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ids:
            return str(ids[name])
        if name in EXTRA_PARAMS:
            return EXTRA_PARAMS[name]
        pytest.fail(f"route {path}: no test value for path parameter '{name}'; add it to the world fixture")

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def _aim_at_a(example: Any, ids: dict[str, int]) -> Any:
    """The example with every id field that names one of firm A's rows pointed at A."""
    if isinstance(example, dict):
        return {k: ids[k] if k in ids else _aim_at_a(v, ids) for k, v in example.items()}
    if isinstance(example, list):
        return [_aim_at_a(v, ids) for v in example]
    return example


def _body(app: Any, method: str, path: str, ids: dict[str, int]) -> dict[str, Any]:
    """Request kwargs from the OpenAPI description: an example JSON body or a CSV aimed at firm A.

    Pages (not in the schema) get a form that tries to rename firm A.
    """
    if not path.startswith("/api/"):
        return {"data": {"name": f"{SENTINEL} HACKED"}}
    spec = app.openapi()
    body = spec["paths"][path][method.lower()].get("requestBody")
    if body is None:
        return {}
    content = body["content"]
    if "multipart/form-data" in content:
        csv = f"회사명,사업자등록번호,업종코드,지역\n{SENTINEL} HACKED,1018600011,29229,경기\n"
        return {"files": {"file": ("a.csv", csv.encode(), "text/csv")}, "params": {"commit": "true"}}
    if "application/x-www-form-urlencoded" in content:
        return {"data": {"username": "x", "password": "y"}}
    schema = content["application/json"]["schema"]
    if ref := schema.get("$ref", ""):
        schema = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    if not schema.get("examples"):
        pytest.fail(f"{method} {path}: request body {ref} has no example; add json_schema_extra examples")
    example = _aim_at_a(dict(schema["examples"][0]), ids)
    if "name" in example:
        example["name"] = f"{SENTINEL} HACKED"
    return {"json": example}


def _snapshot(world: World, app: Any) -> str:
    """A digest of every tenant-scoped row belonging to firm A, and of its time series."""
    digest = hashlib.sha256()
    series = app.state.system.store.read(world.ids_a["tag_id"], "2000-01-01", "2100-01-01")
    digest.update(repr(series.to_arrow().to_pylist()).encode())
    with world.db.session(SYSTEM) as session:
        for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
            cls = mapper.class_
            if issubclass(cls, TenantScoped):
                key = getattr(cls, cls.tenant_key)
                for row in session.scalars(select(cls).where(key == world.firm_a).order_by(*mapper.primary_key)):
                    digest.update(repr(sorted((c.key, getattr(row, c.key)) for c in mapper.column_attrs)).encode())
    return digest.hexdigest()


def _text_of(response: Any) -> str:
    if "spreadsheetml" in response.headers.get("content-type", ""):
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        return " ".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row)
    return response.text


def _page_client(app: Any, email: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return client


def _csrf(client: TestClient) -> str:
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/companies").text)
    assert match, "pages must carry the CSRF token"
    return match.group(1)


def _call(app: Any, client: TestClient, method: str, path: str, ids: dict[str, int], headers: dict[str, str]) -> Any:
    kwargs = _body(app, method, path, ids)
    if not path.startswith("/api/"):
        kwargs["data"]["csrf_token"] = headers.get("X-CSRF-Token", "")
    return client.request(method, _url(path, ids), headers=headers, follow_redirects=False, **kwargs)


def test_every_route_is_scoped_for_every_role(app: Any, client: TestClient, world: World) -> None:
    skipped = PUBLIC.keys() | ENDS_OWN_LOGIN.keys() | MACHINE_ONLY.keys()
    routes = [(m, p, r) for m, p, r in _routes(app) if (m, p) not in skipped]
    assert len(routes) > 25, "the walk must see the whole app"
    before = _snapshot(world, app)
    api_headers = {who: bearer(client, world.emails[who]) for who in OUTSIDERS + INSIDERS}
    page_clients = {who: _page_client(app, world.emails[who]) for who in OUTSIDERS + INSIDERS}
    page_headers = {who: {"X-CSRF-Token": _csrf(c)} for who, c in page_clients.items()}
    ids = dict(world.ids_a)

    for method, path, _route in routes:
        is_api = path.startswith("/api/")
        targets_a = "{" in path
        url = _url(path, ids)
        for who in OUTSIDERS:
            c = client if is_api else page_clients[who]
            response = _call(app, c, method, path, ids, api_headers[who] if is_api else page_headers[who])
            where = f"{method} {path} as {who}"
            if targets_a:
                assert response.status_code in (403, 404), f"{where}: {response.status_code} {response.text[:200]}"
            else:
                assert SENTINEL not in _text_of(response), f"{where} leaked firm A"
            assert _snapshot(world, app) == before, f"{where} changed firm A"
        if method == "GET":  # the positive control: whoever may see A does, through the same route
            for who in INSIDERS if targets_a else ("admin",):
                c = client if is_api else page_clients[who]
                response = c.get(url, headers=api_headers[who] if is_api else {}, follow_redirects=False)
                assert response.status_code in (200, 303), f"GET {path} as {who}: {response.status_code}"
                if "text/html" in response.headers.get("content-type", ""):  # Korean as a person writes it
                    marker = PARTICLE_MARKER.search(response.text)
                    assert marker is None, f"GET {path} as {who}: {response.text[marker.start() - 40:marker.end()]}"


def test_anonymous_callers_are_turned_away_everywhere(app: Any, world: World) -> None:
    anonymous = TestClient(app)
    for method, path, _route in _routes(app):
        if (method, path) in PUBLIC:
            continue
        if (method, path) in MACHINE_ONLY:
            response = anonymous.request(method, path, content=b"m v=1")
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            continue
        response = _call(app, anonymous, method, path, world.ids_a, {})
        expected = (401,) if path.startswith("/api/") else (303, 403)
        assert response.status_code in expected, f"{method} {path}: {response.status_code}"
