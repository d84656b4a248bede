"""The FastAPI app factory: settings → database → middleware → error mapping → routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
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
from smart365.core.db import Database
from smart365.core.errors import AppError, Invalid, field_reason
from smart365.core.i18n import N_, current_locale, negotiate
from smart365.core.settings import Settings
from smart365.monitoring import analytics_pages
from smart365.monitoring import api as monitoring_api
from smart365.monitoring import pages as monitoring_pages
from smart365.registry import api as registry_api
from smart365.registry import pages as registry_pages
from smart365.registry import plant_pages
from smart365.telemetry import api as telemetry_api
from smart365.telemetry.store import open_store
from smart365.testbed import pages as testbed_pages
from smart365.testbed.service import TestbedWorker
from smart365.testbed.tables import Staging
from smart365.web import auth, home
from smart365.web.contract import install_api_contract
from smart365.web.deps import LoginRequired
from smart365.web.limits import install_body_limit
from smart365.web.metrics import MetricsMiddleware, metrics_endpoint
from smart365.web.templating import render

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
    return render(request, "error.html", status_code=exc.status, error=exc.localized())


async def _validation_error(request: Request, exc: Exception) -> Response:
    """422 with a readable reason per field, in the user's language and in English."""
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]), "reason": field_reason(err)}
        for err in exc.errors()
    ]
    body = Invalid(N_("The input is not valid.")).to_dict() | {"fields": fields}
    return JSONResponse({"error": body}, status_code=422)


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the Smart365 web app. Tests pass their own settings and database."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.testbed.start()  # marks runs a previous process left running as failed, requeues queued ones
        yield
        app.state.testbed.stop()
        app.state.store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Smart365",
        version=smart365.__version__,
        description="스마트공장 고도화 플랫폼 API / Smart-factory advancement platform API",
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.records_url)
    app.state.store = open_store(settings.timeseries_target)
    app.state.testbed = TestbedWorker(app.state.db, Staging(settings.data_dir / "testbed"))

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.signing_key,
        session_cookie="smart365_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=False,
    )
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(MetricsMiddleware)
    install_body_limit(app, settings)  # outermost: a body over the limit is refused before anything reads it
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
    install_api_contract(app)  # /openapi.json documents the error bodies as sent; database value errors are 422
    return app
