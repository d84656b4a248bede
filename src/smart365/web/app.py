"""The FastAPI app factory: the web face of a :class:`~smart365.bootstrap.System` (middleware, error mapping,
routers). The system is built by :func:`smart365.bootstrap.bootstrap`; its lifespan is the app's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

import smart365
from smart365.assessment import campaign_pages
from smart365.assessment import pages as assessment_pages
from smart365.centre import api as centre_api
from smart365.centre import pages as centre_pages
from smart365.collab import api as collab_api
from smart365.collab import pages as collab_pages
from smart365.core.errors import AppError, Invalid, field_reason
from smart365.core.i18n import N_, current_locale, negotiate
from smart365.fleet import pages as fleet_pages
from smart365.monitoring import analytics_pages
from smart365.monitoring import api as monitoring_api
from smart365.monitoring import pages as monitoring_pages
from smart365.programmes import api as programme_api
from smart365.programmes import pages as programme_pages
from smart365.programmes import sourcing_pages
from smart365.registry import api as registry_api
from smart365.registry import pages as registry_pages
from smart365.registry import plant_pages
from smart365.telemetry import api as telemetry_api
from smart365.telemetry import influx, opcua_pages, signal_pages
from smart365.testbed import pages as testbed_pages
from smart365.web import admin, api_keys, assets, auth, home
from smart365.web.contract import install_api_contract
from smart365.web.deps import LoginRequired
from smart365.web.limits import install_body_limit
from smart365.web.metrics import MetricsMiddleware, metrics_endpoint
from smart365.web.security import SecurityHeadersMiddleware
from smart365.web.templating import render

if TYPE_CHECKING:
    from smart365.bootstrap import System

STATIC_DIR = Path(__file__).parent / "static"


class LocaleMiddleware:
    """Sets the request's language from the ``lang`` cookie or Accept-Language (Korean by default)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        locale = negotiate(request.headers.get("accept-language"), request.cookies.get("lang"))
        scope.setdefault("state", {})["locale"] = locale
        token = current_locale.set(locale)
        try:
            await self.app(scope, receive, send)
        finally:
            current_locale.reset(token)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if isinstance(exc, LoginRequired):
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if _wants_json(request):
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)
    page = render(request, "error.html", status_code=exc.status, error=exc.localized())
    page.headers.update(headers or {})  # a 401 names its scheme to every client (a Prometheus scrape of /metrics)
    return page


async def _validation_error(request: Request, exc: Exception) -> Response:
    """422 with a readable reason per field, in the user's language and in English."""
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]), "reason": field_reason(err)}
        for err in exc.errors()
    ]
    body = Invalid(N_("The input is not valid.")).to_dict() | {"fields": fields}
    return JSONResponse({"error": body}, status_code=422)


def create_app(system: System) -> FastAPI:
    """The Smart365 web app over ``system``: starting the app starts the system, stopping it stops it."""
    settings = system.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await system.start()
        try:
            yield
        finally:
            await system.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Smart365",
        version=smart365.__version__,
        description="스마트공장 고도화 플랫폼 API / Smart-factory advancement platform API",
        docs_url=None,  # served offline by web.assets; FastAPI's own /docs and /redoc load from a CDN
        redoc_url=None,
    )
    app.state.system = system

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.signing_key,
        session_cookie="smart365_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.https,
    )
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(MetricsMiddleware)
    install_body_limit(app, settings)  # a body over the limit is refused before anything reads it
    app.add_middleware(SecurityHeadersMiddleware, https=settings.https)  # outermost: every response, 413s too
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_api_route("/healthz", lambda: {"status": "ok"}, include_in_schema=False)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    routers = (auth.pages, auth.api, home.pages, registry_api.router, registry_pages.pages, plant_pages.pages)
    monitoring = (monitoring_pages.pages, monitoring_api.router, analytics_pages.pages)
    centre = (centre_api.router, centre_pages.pages)
    for router in (*routers, assessment_pages.pages, telemetry_api.router, *centre, *monitoring):
        app.include_router(router)
    app.include_router(campaign_pages.pages)  # survey campaigns, population analytics, per-firm report
    app.include_router(testbed_pages.pages)  # AI test-bed: data, runs in the background, results, deploy
    app.include_router(fleet_pages.pages)  # the centre's connected plants: what each plant forwards
    app.include_router(programme_pages.pages)  # support programmes: calls, applications, review, selection
    app.include_router(sourcing_pages.pages)  # 판로: buyers' needs, ranked suppliers, answers and the pipeline
    app.include_router(programme_api.router)
    app.include_router(collab_pages.pages)  # data collaboration: offers, agreements, pulls, the usage log
    app.include_router(collab_api.router)
    app.include_router(assets.pages)  # /favicon.ico and /docs (Swagger UI from static/vendor)
    app.include_router(influx.router)  # InfluxDB-compatible /write, /api/v2/write, /query, /ping for Telegraf & co.
    for router in signal_pages.routers:  # a firm's new-signal inbox and series mappings
        app.include_router(router)
    app.include_router(opcua_pages.pages)  # OPC UA: a machine's variables browsed live; the trust list
    for router in (*admin.routers, *api_keys.routers):  # audit log, users, firms' API keys
        app.include_router(router)
    # the member's home: level and next step, open alarms, requests to the centre, the last test-bed run;
    # the consultant's worklist: level and gap, requests and their SLA, active alarms per assigned firm
    home.install_cards(
        [assessment_pages.home_card, monitoring_pages.home_card, centre_pages.home_card, testbed_pages.home_card],
        [assessment_pages.LEVEL_COLUMN, centre_pages.REQUEST_COLUMN, monitoring_pages.ALARM_COLUMN],
    )
    # what the centre received from a firm's plants on the firm page; plants reporting now on the centre's dashboard
    registry_pages.install_sections([fleet_pages.company_section])
    centre_pages.install_figures([fleet_pages.dashboard_figure, collab_pages.dashboard_figure])
    install_api_contract(app)  # /openapi.json documents the error bodies as sent; database value errors are 422
    return app
