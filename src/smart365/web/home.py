"""The dashboard, one per role: the centre's admin sees its population of firms; a consultant sees a worklist
of the firms assigned to them (level and gap to target, open requests and their SLA, active alarms), the most
urgent first; a firm member sees their own firm's day — its level and the next step to its target, open
alarms, open requests to the centre, the last AI test-bed run.

Each feature gives its member panel as a :class:`~smart365.web.templating.HomeCard` and its worklist column
as :class:`~smart365.web.templating.FirmCell` values through providers that the composition root installs
(:func:`install_cards`), so this page never imports the features it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.core.i18n import gettext
from smart365.core.tenancy import Principal, Role
from smart365.registry.models import Company
from smart365.registry.service import population_summary
from smart365.registry.vocab import REGIONS
from smart365.web.deps import PagePrincipal, PageSession
from smart365.web.templating import FirmColumn, HomeCard, render

pages = APIRouter(include_in_schema=False)

CardProvider = Callable[[Request, Session, Principal, int], HomeCard | None]
CARD_PROVIDERS: list[CardProvider] = []
WORKLIST_MAX = 300  # firms on one consultant's worklist


FIRM_COLUMNS: list[FirmColumn] = []


def install_cards(providers: Iterable[CardProvider], columns: Iterable[FirmColumn] = ()) -> None:
    """Set the features' panels of the member's home and columns of the consultant's worklist (called once
    by the composition root)."""
    CARD_PROVIDERS[:] = list(providers)
    FIRM_COLUMNS[:] = list(columns)


@pages.get("/")
def dashboard(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        return member_home(request, session, principal, principal.company_id)
    if principal.role is Role.CONSULTANT:
        return consultant_home(request, session)
    if principal.role is Role.DATA_PARTNER:  # a partner sees no firm's figures: its home is the offers naming it
        return RedirectResponse("/collab", status_code=303)
    summary = population_summary(session)
    charts = {
        "regions": {
            "labels": [gettext(REGIONS[r]) for r in summary.by_region],
            "values": list(summary.by_region.values()),
        },
        "systems": {"labels": list(summary.by_system), "values": list(summary.by_system.values())},
    }
    return render(request, "home.html", active="home", summary=summary, charts=charts)


def member_home(request: Request, session: Session, principal: Principal, company_id: int) -> Response:
    """The firm member's home: each feature's panel, in order."""
    company = session.get(Company, company_id)
    cards = [card for provide in CARD_PROVIDERS if (card := provide(request, session, principal, company_id))]
    cards.sort(key=lambda card: card.order)
    return render(request, "member_home.html", active="home", company=company, cards=cards)


def consultant_home(request: Request, session: Session) -> Response:
    """The consultant's worklist: every firm the caller's scope holds, one row each, the most urgent first."""
    firms = list(session.scalars(select(Company).order_by(Company.name).limit(WORKLIST_MAX)))
    ids = [firm.id for firm in firms]
    columns = [(column.title, column.cells(session, ids)) for column in FIRM_COLUMNS]
    rows = [(firm, [cells.get(firm.id) for _title, cells in columns]) for firm in firms]
    rows.sort(key=lambda row: -sum(cell.urgency for cell in row[1] if cell is not None))
    return render(request, "consultant_home.html", active="home", titles=[title for title, _cells in columns],
                  rows=rows, capped=len(firms) == WORKLIST_MAX)  # fmt: skip
