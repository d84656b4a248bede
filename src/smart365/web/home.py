"""The dashboard: the centre sees its population of firms; a firm member sees their own firm's day — its
level and the next step to its target, open alarms, open requests to the centre, the last AI test-bed run.

Each feature gives its panel as a :class:`~smart365.web.templating.HomeCard` through a provider that the
composition root installs (:func:`install_cards`), so this page never imports the features it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from smart365.core.i18n import gettext
from smart365.core.tenancy import Principal, Role
from smart365.registry.models import Company
from smart365.registry.service import population_summary
from smart365.registry.vocab import REGIONS
from smart365.web.deps import PagePrincipal, PageSession
from smart365.web.templating import HomeCard, render

pages = APIRouter(include_in_schema=False)

CardProvider = Callable[[Request, Session, Principal, int], HomeCard | None]
CARD_PROVIDERS: list[CardProvider] = []


def install_cards(providers: Iterable[CardProvider]) -> None:
    """Set the features' panels of the member's home (called once by the composition root)."""
    CARD_PROVIDERS[:] = list(providers)


@pages.get("/")
def dashboard(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        return member_home(request, session, principal, principal.company_id)
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
