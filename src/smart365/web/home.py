"""The dashboard: the centre sees its population of firms; a firm member goes to their own firm."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from smart365.core.i18n import gettext
from smart365.core.tenancy import Role
from smart365.registry.service import population_summary
from smart365.registry.vocab import REGIONS
from smart365.web.deps import PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)


@pages.get("/")
def dashboard(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        return RedirectResponse(f"/companies/{principal.company_id}", status_code=303)
    summary = population_summary(session)
    charts = {
        "regions": {
            "labels": [gettext(REGIONS[r]) for r in summary.by_region],
            "values": list(summary.by_region.values()),
        },
        "systems": {"labels": list(summary.by_system), "values": list(summary.by_system.values())},
    }
    return render(request, "home.html", active="home", summary=summary, charts=charts)
