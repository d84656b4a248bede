"""The centre's pages of what plants forward: the connected plants (``/fleet``), a firm's section on its company
page, and one figure on the programme dashboard.

``/fleet`` is for the centre's staff: the administrator sees every plant, unregistered firms' too; a consultant
those of the firms assigned to them. The firm's section shows whoever may see the firm's page what the centre
received from its plants. The composition root puts the section and the figure on the pages of the features
that show them (:func:`smart365.registry.pages.install_sections`, :func:`smart365.centre.pages.install_figures`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from smart365.core.db import utcnow
from smart365.core.i18n import _
from smart365.core.tenancy import Principal, Role
from smart365.fleet import service
from smart365.fleet.service import Status
from smart365.monitoring.service import localtime, reading
from smart365.registry.models import Company
from smart365.web.deps import PagePrincipal, PageSession
from smart365.web.templating import HomeCard, render

pages = APIRouter(include_in_schema=False)
ROWS_MAX = 1000  # plants one page lists (the figures count them all)


def _helpers(now: Any) -> dict[str, Any]:
    return {
        "now": now,
        "ago": lambda moment: service.ago(moment, now),
        "when": lambda moment: localtime(moment, "%Y-%m-%d %H:%M"),
        "reading": reading,
        "status_labels": {s.value: _(s.label) for s in Status},
        "thousands": lambda n: f"{n:,}",
    }


@pages.get("/fleet")
def fleet_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The connected plants: each plant's firm, when first and last heard, its status and what it sent."""
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT)
    now = utcnow()
    fleet = service.fleet(session, now)
    wanted = request.query_params.get("status") or None
    rows = [p for p in fleet.plants if wanted is None or p.status.value == wanted]
    return render(
        request, "fleet/plants.html", active="centre", fleet=fleet, rows=rows[:ROWS_MAX],
        shown_capped=len(rows) > ROWS_MAX, wanted=wanted, statuses=list(Status), **_helpers(now),
    )  # fmt: skip


def company_section(request: Request, session: Session, principal: Principal, company: Company) -> HomeCard:
    """The firm page's section: the firm's plants as the centre last heard them, and each tag's latest values."""
    now = utcnow()
    firm = service.firm_fleet(session, company, now)
    series = [
        {"id": f"fleet-spark-{tag.plant}-{tag.tag_id}", "values": tag.hourly}
        for found in firm.tags.values()
        for tag in found
    ]
    context = {"firm": firm, "company": company, "series": series, "hours": service.chart_labels(firm.hours)}
    return HomeCard("fleet/company_section.html", context | _helpers(now), order=60)


def dashboard_figure(request: Request, session: Session, principal: Principal) -> HomeCard:
    """The programme dashboard's figure: plants reporting now and the firms they belong to."""
    plants, firms, total = service.reporting_now(session)
    return HomeCard("fleet/dashboard_figure.html", {"plants": plants, "firms": firms, "total": total}, order=50)
