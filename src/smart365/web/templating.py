"""Jinja2 environment shared by every feature's pages: i18n and helpers (features add their own globals)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse

from smart365.core.db import to_local
from smart365.core.i18n import N_, current_locale, gettext, ngettext
from smart365.core.particles import attach
from smart365.web.security import csp_nonce

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _feature_template_dirs() -> list[str]:
    """Every ``templates/`` folder of the package: web's own first, then each feature's."""
    own = PACKAGE_DIR / "web" / "templates"
    others = sorted(p for p in PACKAGE_DIR.glob("*/templates") if p != own)
    return [str(own), *map(str, others)]


def _choose_particles(value: Any) -> Any:
    """Every printed value picks its Korean particles ("{model}이(가)" → "LightGBM이"), keeping it safe HTML."""
    if isinstance(value, str) and current_locale.get() == "ko":
        return type(value)(attach(value))  # Markup stays Markup: only Hangul replaces the markers
    return value


_env = Environment(
    loader=FileSystemLoader(_feature_template_dirs()),
    extensions=["jinja2.ext.i18n"],
    autoescape=True,
    finalize=_choose_particles,
)
_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
templates = Jinja2Templates(env=_env)
templates.env.globals["locale"] = current_locale.get
templates.env.policies["ext.i18n.trimmed"] = True
templates.env.globals["role_labels"] = {
    "centre_admin": N_("Centre administrator"),
    "consultant": N_("Consultant"),
    "company_member": N_("Company member"),
    "data_partner": N_("Data partner"),
}


templates.env.filters["local"] = to_local


@dataclass(frozen=True)
class HomeCard:
    """A panel a feature gives to another's page (a firm member's home, the firm page, the programme
    dashboard): its template, what it shows (``c`` in the template), its place."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 50


@dataclass(frozen=True)
class FirmCell:
    """One fact about one firm on a consultant's worklist, given by a feature. Firms with more ``urgency``
    come first, and a cell with any is marked."""

    text: str
    href: str | None = None
    urgency: int = 0


@dataclass(frozen=True)
class FirmColumn:
    """A feature's column on the consultant's worklist: its heading (a msgid) and its cells by firm id."""

    title: str
    cells: Callable[[Session, Sequence[int]], Mapping[int, FirmCell]]


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the user, locale, CSRF token and script nonce every template expects."""
    context.setdefault("principal", getattr(request.state, "principal", None))
    context.setdefault("user", getattr(request.state, "user", None))
    context["csrf_token"] = request.session.get("csrf", "") if "session" in request.scope else ""
    context["csp_nonce"] = csp_nonce(request)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
