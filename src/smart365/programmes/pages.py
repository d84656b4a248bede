"""The pages of support programmes (지원사업).

``/programmes``: the calls (the centre also creates one there); ``/programmes/{call_id}``: a call's applications,
reviewers' scores and the selection with every firm's reason (the centre and the consultants of applying firms;
a member is sent to its own application); ``/companies/{company_id}/programmes/{call_id}``: a firm's application
to a call — the form while the call is open, then what it sent, its eligibility with the reasons and, once
selected, its result.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from smart365.assessment.campaigns import SIZE_BANDS
from smart365.core.db import SEOUL, as_utc, to_local, utcnow
from smart365.core.errors import AppError, Invalid, NotFound
from smart365.core.i18n import N_
from smart365.core.tenancy import Principal, Role
from smart365.programmes import service
from smart365.programmes.models import STATE_LABELS, Application, Call, CallState
from smart365.registry.models import Company
from smart365.registry.vocab import REGIONS
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession
from smart365.web.templating import render

pages = APIRouter(include_in_schema=False)
BUDGET_LINES, KPI_LINES = 4, 3


def _helpers() -> dict[str, Any]:
    return {
        "won": service.won,
        "reason_text": service.reason_text,
        "selection_texts": service.selection_texts,
        "state_labels": STATE_LABELS,
        "regions": REGIONS,
        "sizes": SIZE_BANDS,
        "rule_labels": service.RULE_LABELS,
        "when": lambda moment: to_local(moment).strftime("%Y-%m-%d %H:%M"),
        "States": CallState,
    }


def _int(form: dict[str, str], key: str, default: int | None = None) -> int:
    text = form.get(key, "").replace(",", "").replace(" ", "")
    if not text and default is not None:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise Invalid(N_("“{value}” is not a whole number."), value=form.get(key, "")) from exc


def _float(form: dict[str, str], key: str) -> float | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise Invalid(N_("“{value}” is not a number."), value=text) from exc


def _deadline(text: str) -> datetime:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise Invalid(N_("Dates must look like 2026-03-31.")) from exc
    return datetime.combine(day, time(18, 0), SEOUL)  # a call closes at 18:00 Korean time on its last day


def _fields(posted: FormData) -> dict[str, str]:
    return {k: str(v).strip() for k, v in posted.items() if k != "csrf_token"}


# --------------------------------------------------------------------------- the calls


@pages.get("/programmes")
def call_list(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The calls: open ones to apply to (a member), every one with its counts (the centre), and the create form."""
    return _list_page(request, session, principal)


def _list_page(
    request: Request, session: Session, principal: Principal, *, error: str | None = None, form: Any = None
) -> Response:
    calls = service.list_calls(session)
    mine: dict[int, Application] = {}
    if principal.company_id is not None:
        own = select(Application).where(Application.company_id == principal.company_id)
        mine = {a.call_id: a for a in session.scalars(own)}
    counts = {c.id: len(service.applications(session, c.id)) for c in calls} if service.may_review(principal) else {}
    default = {"share_gov": "50", "share_partner": "30", "share_firm": "20", "sobujang_quota": "0",
               "deadline": date.fromordinal(date.today().toordinal() + 30).isoformat(),
               **{f"weight_{c['id']}": str(c["weight"]) for c in service.DEFAULT_CRITERIA}}  # fmt: skip
    return render(
        request, "programmes/calls.html", status_code=422 if error else 200, active="programmes", calls=calls,
        mine=mine, counts=counts, can_manage=principal.role is Role.CENTRE_ADMIN, error=error,
        form=form or default, criteria=service.DEFAULT_CRITERIA, now=utcnow(), as_utc=as_utc, **_helpers(),
    )  # fmt: skip


@pages.post("/programmes", dependencies=[Csrf])
def call_create(request: Request, principal: PagePrincipal, session: PageSession, posted: PageForm) -> Response:
    """Create a call in draft from the form; bad input comes back on the form with its reason (422)."""
    principal.require(Role.CENTRE_ADMIN)
    form = _fields(posted)
    try:
        criteria = [c | {"weight": _float(form, f"weight_{c['id']}") or 0.0} for c in service.DEFAULT_CRITERIA]
        data = service.CallIn(
            title=form.get("title", ""),
            description=form.get("description", ""),
            budget=_int(form, "budget"),
            cap=_int(form, "cap"),
            deadline=_deadline(form.get("deadline", "")),
            share_gov=_int(form, "share_gov"),
            share_partner=_int(form, "share_partner"),
            share_firm=_int(form, "share_firm"),
            eligibility={
                "sobujang_only": form.get("sobujang_only") == "1",
                "exclude_prior_support": form.get("exclude_prior_support") == "1",
                "level_min": _float(form, "level_min"),
                "level_max": _float(form, "level_max"),
                "regions": posted.getlist("regions"),
                "sizes": posted.getlist("sizes"),
            },
            criteria=criteria,
            sobujang_quota=_int(form, "sobujang_quota", 0),
            region_minimums={r: _int(form, f"min_{r}", 0) for r in REGIONS if form.get(f"min_{r}")},
        )
        call = service.create_call(session, data)
    except AppError as exc:
        session.rollback()
        form["regions"], form["sizes"] = posted.getlist("regions"), posted.getlist("sizes")  # type: ignore[assignment]
        return _list_page(request, session, principal, error=exc.localized(), form=form)
    return RedirectResponse(f"/programmes/{call.id}", status_code=303)


@pages.get("/programmes/{call_id}")
def call_page(request: Request, call_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """A call's applications with their eligibility, scores and (once run) the selection and each firm's reason."""
    call = service.reviewed_call(session, call_id)
    if principal.role is Role.COMPANY_MEMBER:
        return RedirectResponse(f"/companies/{principal.company_id}/programmes/{call.id}", status_code=303)
    return _call_page(request, session, principal, call)


def _call_page(
    request: Request, session: Session, principal: Principal, call: Call, *, error: str | None = None
) -> Response:
    rows = service.applications(session, call.id)
    companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_([a.company_id for a in rows])))}
    scored = service.scored(session, call, rows)
    results = service.results(session, call.id)
    order = {a.id: i for i, a in enumerate(rows)}
    if results:  # selected first, then by score
        scored.sort(key=lambda s: (not results[s.application.id].selected if s.application.id in results else True,
                                   -s.total, order[s.application.id]))  # fmt: skip
    return render(
        request, "programmes/call.html", status_code=409 if error else 200, active="programmes", call=call,
        scored=scored, companies=companies, results=results, error=error,
        can_manage=principal.role is Role.CENTRE_ADMIN,
        can_review=service.may_review(principal) and call.state != CallState.SELECTED,
        review_criteria=[c for c in call.criteria if c["kind"] == "review"],
        my_scores=service.scores_by(session, [a.id for a in rows], principal.user_id), **_helpers(),
    )  # fmt: skip


def _admin_act(request: Request, session: Session, principal: Principal, call_id: int, act: str) -> Response:
    principal.require(Role.CENTRE_ADMIN)
    call = service.reviewed_call(session, call_id)
    try:
        {"open": service.open_call, "close": service.close_call, "select": service.run_selection}[act](session, call)
    except AppError as exc:
        session.rollback()
        call = service.reviewed_call(session, call_id)
        return _call_page(request, session, principal, call, error=exc.localized())
    return RedirectResponse(f"/programmes/{call_id}", status_code=303)


@pages.post("/programmes/{call_id}/open", dependencies=[Csrf])
def call_open(request: Request, call_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Open a drafted call for applications."""
    return _admin_act(request, session, principal, call_id, "open")


@pages.post("/programmes/{call_id}/close", dependencies=[Csrf])
def call_close(request: Request, call_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Stop taking applications."""
    return _admin_act(request, session, principal, call_id, "close")


@pages.post("/programmes/{call_id}/select", dependencies=[Csrf])
def call_select(request: Request, call_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """Run the selection within the budget and store every firm's reason."""
    return _admin_act(request, session, principal, call_id, "select")


@pages.post("/applications/{application_id}/scores", dependencies=[Csrf])
def review_scores(
    request: Request, application_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """A reviewer's scores (0–100) of an application's review criteria; a field left empty stays as it was."""
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT)
    application = service.get_application(session, application_id)
    form = _fields(posted)
    call = service.reviewed_call(session, application.call_id)
    try:
        for c in call.criteria:
            if c["kind"] == "review" and (value := _float(form, f"score_{c['id']}")) is not None:
                service.record_score(session, application, c["id"], value)
    except AppError as exc:
        session.rollback()
        call = service.reviewed_call(session, application.call_id)
        return _call_page(request, session, principal, call, error=exc.localized())
    return RedirectResponse(f"/programmes/{call.id}#application-{application.id}", status_code=303)


# --------------------------------------------------------------------------- a firm's application


def _company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)  # scoped: another firm's is not found
    if company is None:
        raise NotFound()
    return company


@pages.get("/companies/{company_id}/programmes/{call_id}")
def application_page(
    request: Request, company_id: int, call_id: int, principal: PagePrincipal, session: PageSession
) -> Response:
    """The firm's application to the call: the form while the call is open, else what it sent and its outcome."""
    company = _company(session, company_id)
    call = service.published_call(session, call_id)
    return _application_page(request, session, principal, company, call)


def _application_page(
    request: Request,
    session: Session,
    principal: Principal,
    company: Company,
    call: Call,
    *,
    error: str | None = None,
    form: Any = None,
) -> Response:
    application = service.firm_application(session, call.id, company.id)
    result = service.results(session, call.id).get(application.id) if application else None
    open_now = call.state == CallState.OPEN and as_utc(call.deadline) > utcnow()
    can_apply = (
        application is None and open_now and principal.role in (Role.COMPANY_MEMBER, Role.CENTRE_ADMIN)
        and principal.can_change(company.id)
    )  # fmt: skip
    return render(
        request, "programmes/application.html", status_code=422 if error else 200, active="programmes",
        call=call, company=company, application=application, result=result, can_apply=can_apply, open_now=open_now,
        error=error, form=form or {}, budget_lines=range(BUDGET_LINES), kpi_lines=range(KPI_LINES), **_helpers(),
    )  # fmt: skip


@pages.post("/companies/{company_id}/programmes/{call_id}", dependencies=[Csrf])
def application_submit(
    request: Request, company_id: int, call_id: int, principal: PagePrincipal, session: PageSession, posted: PageForm
) -> Response:
    """Submit the firm's application; its eligibility and the reasons show on the page it lands on."""
    principal.require(Role.COMPANY_MEMBER, Role.CENTRE_ADMIN)
    company = _company(session, company_id)
    call = service.published_call(session, call_id)
    form = _fields(posted)
    try:
        lines = [
            {"item": form.get(f"item_{i}", ""), "amount": _int(form, f"amount_{i}", 0)} for i in range(BUDGET_LINES)
        ]
        kpis = [{"name": form.get(f"kpi_{i}", ""), "target": form.get(f"target_{i}", "")} for i in range(KPI_LINES)]
        data = service.ApplicationIn(form.get("plan", ""), lines, _int(form, "requested"), kpis)
        service.submit_application(session, call, company, data)
    except AppError as exc:
        session.rollback()
        company, call = _company(session, company_id), service.published_call(session, call_id)
        return _application_page(request, session, principal, company, call, error=exc.localized(), form=form)
    return RedirectResponse(f"/companies/{company_id}/programmes/{call_id}#eligibility", status_code=303)
