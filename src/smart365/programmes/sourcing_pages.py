"""The pages of 판로 (sales channels).

``/sourcing``: a buyer's needs and the form to post one, the centre's every need with the pipeline's outcomes,
a firm's (or a consultant's) needs it is ranked for; ``/sourcing/needs/{need_id}``: a need with its ranking and
each criterion's reason (the buyer sees a firm's name once it answered), the firm's answer form, the buyer's
pipeline steps; ``/companies/{company_id}/sourcing``: a firm's capability profile (built from the registry until
it keeps its own, with its consent to show measured quality) and the needs it matches.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from smart365.core.db import to_local
from smart365.core.errors import AppError, Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.tenancy import Principal, Role
from smart365.programmes import matching, sourcing
from smart365.programmes.models import NEED_STATE_LABELS, STAGE_LABELS, NeedState, SourcingNeed, Stage
from smart365.programmes.service import won
from smart365.registry.models import Company
from smart365.registry.vocab import REGIONS
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, system_of
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)


def _helpers() -> dict[str, Any]:
    return {
        "won": won,
        "criterion_text": matching.criterion_text,
        "labels": matching.LABELS,
        "certifications": matching.CERTIFICATIONS,
        "need_states": NEED_STATE_LABELS,
        "stage_labels": STAGE_LABELS,
        "regions": REGIONS,
        "next_stages": sourcing.next_stages,
        "when": lambda moment: to_local(moment).strftime("%Y-%m-%d %H:%M"),
        "Stages": Stage,
    }


def _int(text: str) -> int | None:
    text = text.replace(",", "").replace(" ", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise Invalid(N_("“{value}” is not a whole number."), value=text) from exc


def _float(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise Invalid(N_("“{value}” is not a number."), value=text) from exc


def _date(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise Invalid(N_("Dates must look like 2026-03-31.")) from exc


def _fields(posted: Any) -> dict[str, str]:
    return {k: str(v).strip() for k, v in posted.items() if k != "csrf_token"}


# --------------------------------------------------------------------------- needs


@pages.get("/sourcing")
def need_list(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The needs the reader may see; a buyer's post form; the outcomes for the centre and the buyer."""
    return _list_page(request, session, principal)


def _list_page(
    request: Request, session: Session, principal: Principal, *, error: str | None = None, form: Any = None
) -> Response:
    needs = sourcing.list_needs(session)
    buyer = sourcing.is_buyer(principal)
    scope = None if principal.sees_everything else [n.id for n in needs]
    results = sourcing.outcomes(session, scope) if buyer else None
    mine: dict[int, Any] = {}
    if principal.company_id is not None:
        company = session.get(Company, principal.company_id)
        if company is not None:
            mine = {n.id: (m, r) for n, m, r in sourcing.firm_needs(session, company)}
    return render(
        request, "programmes/sourcing_needs.html", status_code=422 if error else 200, active="sourcing",
        needs=needs, can_post=buyer, outcomes=results, mine=mine, error=error, form=form or {}, **_helpers(),
    )  # fmt: skip


@pages.post("/sourcing", dependencies=[Csrf])
def need_post(request: Request, principal: PagePrincipal, session: PageSession, posted: PageForm) -> Response:
    """Post a need from the form; bad input comes back on the form with its reason (422)."""
    principal.require(Role.CENTRE_ADMIN, Role.DATA_PARTNER)
    form = _fields(posted)
    try:
        data = sourcing.NeedIn(
            buyer=form.get("buyer", ""), item=form.get("item", ""), material=form.get("material", ""),
            process=form.get("process", ""), spec=form.get("spec", ""), quantity=_int(form.get("quantity", "")),
            certifications=[str(c) for c in posted.getlist("certifications")],
            region=form.get("region") or None, target_date=_date(form.get("target_date", "")),
        )  # fmt: skip
        need = sourcing.post_need(session, data, store=system_of(request).store)
    except AppError as exc:
        session.rollback()
        form["certifications"] = posted.getlist("certifications")  # type: ignore[assignment]
        return _list_page(request, session, principal, error=exc.localized(), form=form)
    return RedirectResponse(f"/sourcing/needs/{need.id}", status_code=303)


@pages.get("/sourcing/needs/{need_id}")
def need_page(request: Request, need_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """A need, its ranking with each criterion's reason, the answers and the pipeline."""
    return _need_page(request, session, principal, sourcing.get_need(session, need_id))


def _need_page(
    request: Request, session: Session, principal: Principal, need: SourcingNeed, *, error: str | None = None
) -> Response:
    matches = sourcing.need_matches(session, need)
    own = None
    if principal.role is Role.COMPANY_MEMBER and principal.company_id is not None:
        own = next((m for m in matches if m.company_id == principal.company_id), None)
    return render(
        request, "programmes/sourcing_need.html", status_code=409 if error else 200, active="sourcing", need=need,
        matches=matches, own=own, buyer=sourcing.owns(principal, need), error=error,
        open_now=need.state == NeedState.OPEN, **_helpers(),
    )  # fmt: skip


@pages.post("/sourcing/needs/{need_id}/close", dependencies=[Csrf])
def need_close(request: Request, need_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Stop taking answers (the buyer who posted it, or the centre)."""
    need = sourcing.get_need(session, need_id)
    try:
        sourcing.close_need(session, need)
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        return _need_page(request, session, principal, sourcing.get_need(session, need_id), error=exc.localized())
    return RedirectResponse(f"/sourcing/needs/{need_id}", status_code=303)


@pages.post("/sourcing/responses/{response_id}/stage", dependencies=[Csrf])
def response_stage(
    request: Request, response_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """Move an answer along the pipeline (the buyer; the firm may withdraw); an order needs the amount won."""
    _response, need = sourcing.get_response(session, response_id)
    form = _fields(posted)
    try:
        sourcing.move(session, response_id, form.get("stage", ""), won=_int(form.get("won", "")),
                      note=form.get("note", ""))  # fmt: skip
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        return _need_page(request, session, principal, sourcing.get_need(session, need.id), error=exc.localized())
    return RedirectResponse(f"/sourcing/needs/{need.id}#pipeline", status_code=303)


# --------------------------------------------------------------------------- a firm's profile and answers


def _company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)  # scoped: another firm's is not found
    if company is None:
        raise NotFound()
    return company


@pages.get("/companies/{company_id}/sourcing")
def profile_page(request: Request, company_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """The firm's capability profile and the needs it matches."""
    return _profile_page(request, session, principal, _company(session, company_id))


def _profile_page(
    request: Request, session: Session, principal: Principal, company: Company, *, error: str | None = None,
    form: Any = None,
) -> Response:  # fmt: skip
    profile = sourcing.profile_of(session, company)
    measured = sourcing.measured_fpy(session, system_of(request).store, company.id)
    can_edit = principal.role in (Role.COMPANY_MEMBER, Role.CENTRE_ADMIN) and principal.can_change(company.id)
    return render(
        request, "programmes/sourcing_profile.html", status_code=422 if error else 200, active="sourcing",
        company=company, profile=profile, measured=measured, needs=sourcing.firm_needs(session, company),
        can_edit=can_edit,
        error=error, form=form, **_helpers(),
    )  # fmt: skip


def _split(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


@pages.post("/companies/{company_id}/sourcing", dependencies=[Csrf])
def profile_save(
    request: Request, company_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """Keep the firm's profile and its consent to show measured quality."""
    principal.require(Role.COMPANY_MEMBER, Role.CENTRE_ADMIN)
    company = _company(session, company_id)
    form = _fields(posted)
    try:
        fpy = _float(form.get("fpy", ""))
        data = sourcing.ProfileIn(
            products=_split(form.get("products", "")), processes=_split(form.get("processes", "")),
            materials=_split(form.get("materials", "")), description=form.get("description", ""),
            certifications=[str(c) for c in posted.getlist("certifications")], capacity=_int(form.get("capacity", "")),
            cpk=_float(form.get("cpk", "")), fpy=fpy / 100 if fpy is not None else None,
            share_quality=form.get("share_quality") == "1",
        )  # fmt: skip
        sourcing.save_profile(session, company, data)
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        return _profile_page(request, session, principal, _company(session, company_id), error=exc.localized(),
                             form=form)  # fmt: skip
    return RedirectResponse(f"/companies/{company_id}/sourcing", status_code=303)


@pages.post("/companies/{company_id}/sourcing/{need_id}", dependencies=[Csrf])
def answer(
    request: Request, company_id: int, need_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """The firm answers a need it matches: interest or declined (for its own firm only)."""
    principal.require(Role.COMPANY_MEMBER, Role.CENTRE_ADMIN)
    company = _company(session, company_id)
    need = sourcing.get_need(session, need_id)
    form = _fields(posted)
    try:
        sourcing.answer(session, need, company, form.get("stage", ""), form.get("note", ""))
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        return _need_page(request, session, principal, sourcing.get_need(session, need_id), error=exc.localized())
    return RedirectResponse(f"/sourcing/needs/{need_id}", status_code=303)
