"""Data collaboration pages (데이터 협력): a firm publishes offers over its own tags under a usage policy it reads
in plain Korean, takes requests and revokes agreements, and reads its usage log with the chain verified; a data
partner (or a firm of a group, or the centre) browses the offers that name it, requests, agrees, pulls what it
was granted and sees its obligations.

Every page reads through :mod:`smart365.collab.service`, which checks both sides of every step; the data
partner reaches nothing of a firm here but the offers naming it and its agreements' data.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response, StreamingResponse

from smart365.collab import benchmarks, service
from smart365.collab.policy import (
    PAYMENT_LABELS,
    PURPOSE_LABELS,
    Assignee,
    AssigneeKind,
    PaymentModel,
    Policy,
    Purpose,
    describe,
    from_form,
    to_form,
)
from smart365.collab.service import LOG_LABELS, STATE_LABELS, PullRefused, Side, State, Who
from smart365.core.accounts import User
from smart365.core.db import SEOUL, to_local, utcnow
from smart365.core.errors import AppError, Forbidden, Invalid
from smart365.core.i18n import N_, _
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry.models import Company, Equipment, Line, Site, Tag
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, get_db, request_actor, system_of
from smart365.web.templating import HomeCard, render

pages = APIRouter(include_in_schema=False)


def _who(request: Request, principal: Principal) -> Who:
    return Who(principal, request_actor(request))


def _helpers() -> dict[str, Any]:
    return {
        "active": "collab",
        "when": lambda moment: to_local(moment).strftime("%Y-%m-%d %H:%M") if moment else "–",
        "state_labels": {k: _(v) for k, v in STATE_LABELS.items()},
        "purpose_labels": {p.value: _(label) for p, label in PURPOSE_LABELS.items()},
        "payment_labels": {p.value: _(label) for p, label in PAYMENT_LABELS.items()},
        "log_labels": {k: _(v) for k, v in LOG_LABELS.items()},
    }


@pages.get("/collab")
def hub(request: Request, principal: PagePrincipal) -> Response:
    """The collaboration home: a firm's own offers and the requests on them; for everyone, the offers that name
    them and their own agreements."""
    db, who = get_db(request), _who(request, principal)
    firm = principal.company_id if principal.role is Role.COMPANY_MEMBER else None
    context: dict[str, Any] = {
        "firm": firm,
        "own_offers": service.offers_of(db, who, firm) if firm is not None else [],
        "incoming": service.agreements(db, who, firm) if firm is not None else [],
        "catalogue": [o for o in service.catalogue(db, who) if o.company_id != firm],
        "mine": service.agreements(db, who) if principal.role is not Role.CENTRE_ADMIN else [],
        "figures": service.figures(db) if principal.role is Role.CENTRE_ADMIN else None,
    }
    return render(request, "collab/hub.html", **context, **_helpers())


# -- publishing -------------------------------------------------------------------------------------------


def _form_choices(session: Session, company_id: int) -> dict[str, Any]:
    tags = session.execute(
        select(Tag, Equipment.name, Line.name)
        .join(Equipment, Tag.equipment_id == Equipment.id)
        .join(Line, Equipment.line_id == Line.id)
        .join(Site, Line.site_id == Site.id)
        .where(Tag.company_id == company_id)
        .order_by(Line.name, Equipment.name, Tag.name)
    ).all()
    with_label = [
        {"id": t.id, "label": t.label, "unit": t.unit, "machine": machine, "line": line} for t, machine, line in tags
    ]
    partners = [
        {"id": u.id, "name": u.name}
        for u in session.scalars(
            select(User).where(User.role == Role.DATA_PARTNER, User.active.is_(True)).order_by(User.name)
        )
    ]
    return {"tags": with_label, "partners": partners}


def _default_form() -> dict[str, Any]:
    today = utcnow().astimezone(SEOUL).date()
    end = datetime.combine(today + timedelta(days=90), time(23, 59, 59))
    return {
        "assignee_kind": "partner", "purpose": ["quality"], "no_onward": "on", "attribution": "on",
        "end": end.strftime("%Y-%m-%dT%H:%M:%S"), "max_uses": "10", "delete_after_days": "90",
        "data_from": (today - timedelta(days=7)).isoformat(), "data_to": today.isoformat(),
    }  # fmt: skip


def _reading(db: Any, session: Session, form: dict[str, Any], company_id: int) -> tuple[list[str], str | None]:
    """The policy the form states, read in words, or the reason it cannot be."""
    try:
        policy = from_form(form, assigner=company_id)
    except AppError as exc:
        return [], exc.localized()
    names: dict[str, str] = {}
    company = session.get(Company, company_id)
    names[f"urn:smart365:company:{company_id}"] = company.name if company else str(company_id)
    if policy.assignee.kind is AssigneeKind.PARTNER:
        partner = session.get(User, policy.assignee.ids[0])
        if partner is None or partner.role != Role.DATA_PARTNER:
            return [], _("The named partner is not an active data partner.")
        names[f"urn:smart365:partner:{partner.id}"] = partner.name
    elif policy.assignee.kind is AssigneeKind.GROUP:
        with db.session(SYSTEM) as system:
            for cid, name in system.execute(
                select(Company.id, Company.name).where(Company.id.in_(policy.assignee.ids))
            ):
                names[f"urn:smart365:company:{cid}"] = name
    return describe(policy, lambda iri: names.get(iri, iri)), None


def _values(db: Any, form: FormData) -> dict[str, Any]:
    """The posted fields, the group's business registration numbers (what a firm knows of its partners; the
    page lists no other firm) turned into the firms' ids the policy names."""
    values: dict[str, Any] = {key: form.getlist(key) if key in ("purpose", "tags") else form.get(key) for key in form}
    brns = [b for b in re.split(r"[\s,]+", str(values.get("group_brns") or "").replace("-", "")) if b]
    if brns:
        with db.session(SYSTEM) as session:
            found = dict(session.execute(select(Company.brn, Company.id).where(Company.brn.in_(brns))).all())
        if missing := [b for b in brns if b not in found]:
            raise Invalid(N_("These firms are not registered: {firms}"), firms=", ".join(missing))
        values["group"] = [str(found[b]) for b in brns]
    return values


def _offer_form(request: Request, session: Session, principal: Principal, values: dict[str, Any],
                error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    company_id = principal.company_id
    assert company_id is not None
    reading, problem = _reading(get_db(request), session, values, company_id)
    return render(
        request, "collab/offer_form.html", status_code=status, v=values, reading=reading, problem=problem,
        error=error, purposes=list(Purpose), payments=list(PaymentModel), **_form_choices(session, company_id),
        **_helpers(),
    )  # fmt: skip


@pages.get("/collab/offers/new")
def new_offer(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The publish form: the firm's tags, a period, and the policy, with its Korean reading beside it."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        return RedirectResponse("/collab", status_code=303)  # the firm's own members publish its offers
    values = _default_form()
    partner = session.scalar(select(User.id).where(User.role == Role.DATA_PARTNER, User.active.is_(True))
                             .order_by(User.name).limit(1))  # fmt: skip
    if partner is not None:
        values["partner"] = str(partner)
    return _offer_form(request, session, principal, values)


@pages.post("/collab/offers/reading", dependencies=[Csrf])
def offer_reading(request: Request, principal: PagePrincipal, session: PageSession, form: PageForm) -> Response:
    """The policy the form states, read in words (the form asks for it as it changes)."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        raise Forbidden()
    try:
        values = _values(get_db(request), form)
    except AppError as exc:
        return render(request, "collab/_reading.html", reading=[], problem=exc.localized())
    reading, problem = _reading(get_db(request), session, values, principal.company_id)
    return render(request, "collab/_reading.html", reading=reading, problem=problem)


def _day(text: Any, end: bool = False) -> datetime:
    try:
        day = datetime.fromisoformat(str(text or "")).date()
    except ValueError:
        raise Invalid(N_("Give the data's period as dates.")) from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(0, 0), tzinfo=SEOUL)


@pages.post("/collab/offers", dependencies=[Csrf])
def publish(request: Request, principal: PagePrincipal, session: PageSession, form: PageForm) -> Response:
    """Publish the offer the form states; a bad field comes back on the form with its reason (422)."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        raise Forbidden(N_("Only the firm's own members publish its offers."))
    values: dict[str, Any] = {key: form.getlist(key) if key in ("purpose", "tags") else form.get(key) for key in form}
    try:
        values = _values(get_db(request), form)
        tag_ids = [int(t) for t in values.get("tags", []) if str(t).isdigit()]
        offer_id = service.publish(
            get_db(request), _who(request, principal), company_id=principal.company_id,
            title=str(values.get("title") or ""), description=str(values.get("description") or ""),
            tag_ids=tag_ids, data_start=_day(values.get("data_from")), data_end=_day(values.get("data_to"), end=True),
            form=values,
        )  # fmt: skip
    except AppError as exc:
        return _offer_form(request, session, principal, values, exc.localized(), exc.status)
    return RedirectResponse(f"/collab/offers/{offer_id}", status_code=303)


# -- an offer and its agreements ------------------------------------------------------------------------------


@pages.get("/collab/offers/{offer_id}")
def offer_page(request: Request, offer_id: int, principal: PagePrincipal) -> Response:
    """An offer: what it holds, its policy in words and in ODRL, the request form for those it names, and the
    requests and agreements on it for its firm."""
    db, who = get_db(request), _who(request, principal)
    offer = service.offer(db, who, offer_id)
    agreements = (
        [a for a in service.agreements(db, who, offer.company_id) if a.offer_id == offer_id] if offer.owner_side else []
    )
    mine = [a for a in service.agreements(db, who) if a.offer_id == offer_id] if not offer.owner_side else []
    import json

    return render(
        request, "collab/offer.html", offer=offer, agreements=agreements, mine=mine,
        jsonld=json.dumps(offer.jsonld, ensure_ascii=False, indent=2),
        can_act=principal.role is Role.COMPANY_MEMBER and principal.company_id == offer.company_id,
        can_request=not offer.owner_side and offer.state == "published" and principal.role is not Role.CENTRE_ADMIN
        and not any(a.state not in (State.TERMINATED,) for a in mine),
        **_helpers(),
    )  # fmt: skip


@pages.post("/collab/offers/{offer_id}/request", dependencies=[Csrf])
def request_offer(request: Request, offer_id: int, principal: PagePrincipal,
                  purpose: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """Ask for an agreement on the offer for one of its purposes."""
    agreement_id = service.request(get_db(request), _who(request, principal), offer_id, purpose)
    return RedirectResponse(f"/collab/agreements/{agreement_id}", status_code=303)


@pages.post("/collab/offers/{offer_id}/withdraw", dependencies=[Csrf])
def withdraw_offer(request: Request, offer_id: int, principal: PagePrincipal) -> Response:
    service.withdraw(get_db(request), _who(request, principal), offer_id)
    return RedirectResponse(f"/collab/offers/{offer_id}", status_code=303)


def _agreement_page(request: Request, principal: Principal, agreement_id: int, error: str | None = None,
                    status: int = 200) -> Response:  # fmt: skip
    db, who = get_db(request), _who(request, principal)
    view = service.agreement(db, who, agreement_id)
    history = service.history(db, who, agreement_id)
    return render(request, "collab/agreement.html", status_code=status, a=view, history=history, error=error,
                  Side=Side, State=State, **_helpers())  # fmt: skip


@pages.get("/collab/agreements/{agreement_id}")
def agreement_page(request: Request, agreement_id: int, principal: PagePrincipal) -> Response:
    """An agreement: its state and every step so far, its terms and obligations, and what each side may do now."""
    return _agreement_page(request, principal, agreement_id)


@pages.post("/collab/agreements/{agreement_id}/accept", dependencies=[Csrf])
def accept(request: Request, agreement_id: int, principal: PagePrincipal) -> Response:
    service.accept(get_db(request), _who(request, principal), agreement_id)
    return RedirectResponse(f"/collab/agreements/{agreement_id}", status_code=303)


@pages.post("/collab/agreements/{agreement_id}/agree", dependencies=[Csrf])
def agree(request: Request, agreement_id: int, principal: PagePrincipal) -> Response:
    service.agree(get_db(request), _who(request, principal), agreement_id)
    return RedirectResponse(f"/collab/agreements/{agreement_id}", status_code=303)


@pages.post("/collab/agreements/{agreement_id}/terminate", dependencies=[Csrf])
def terminate(request: Request, agreement_id: int, principal: PagePrincipal,
              reason: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """End a negotiation, or (the firm) revoke a finalized agreement: the next pull is refused."""
    try:
        service.terminate(get_db(request), _who(request, principal), agreement_id, reason)
    except Invalid as exc:
        return _agreement_page(request, principal, agreement_id, exc.localized(), exc.status)
    return RedirectResponse(f"/collab/agreements/{agreement_id}", status_code=303)


@pages.post("/collab/agreements/{agreement_id}/pull", dependencies=[Csrf])
def pull(request: Request, agreement_id: int, principal: PagePrincipal) -> Response:
    """The agreement's data as CSV, checked against the agreement now; a refusal is 403 with the reason."""
    try:
        granted = service.pull(get_db(request), system_of(request).store, _who(request, principal), agreement_id)
    except PullRefused as exc:
        return _agreement_page(request, principal, agreement_id, exc.localized(), exc.status)
    disposition = f"attachment; filename=\"{granted.filename}\"; filename*=UTF-8''{quote(granted.filename)}"
    return StreamingResponse(granted.chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": disposition})  # fmt: skip


# -- the usage log ------------------------------------------------------------------------------------------


@pages.get("/collab/companies/{company_id}/log")
def log_page(request: Request, company_id: int, principal: PagePrincipal) -> Response:
    """The firm's usage log, newest first, with its chain verified now: who used its data, under which
    agreement, for what."""
    db, who = get_db(request), _who(request, principal)
    lines = service.usage_log(db, who, company_id)
    verified = service.verify_firm(db, who, company_id)
    with db.session(SYSTEM) as session:
        company = session.get(Company, company_id)
        name = company.name if company else str(company_id)
    return render(request, "collab/log.html", lines=lines, verified=verified, company_name=name,
                  company_id=company_id, **_helpers())  # fmt: skip


def dashboard_figure(request: Request, session: Session, principal: Principal) -> HomeCard:
    """The programme dashboard's figure: offers published, agreements running, pulls made."""
    return HomeCard("collab/dashboard_figure.html", service.figures(system_of(request).db), order=60)


__all__ = ["Assignee", "Policy", "dashboard_figure", "pages", "to_form"]


# -- peer benchmarks (give to get) ------------------------------------------------------------------------------


def _bench_firm(request: Request, principal: Principal) -> int | None:
    """Whose benchmark: a member's own firm; the centre or a consultant names one (``?company_id=``)."""
    if principal.role is Role.COMPANY_MEMBER:
        return principal.company_id
    raw = request.query_params.get("company_id", "")
    return int(raw) if raw.isdigit() else None


@pages.get("/collab/benchmarks")
def benchmarks_page(request: Request, principal: PagePrincipal) -> Response:
    """Where the firm stands against firms like it, once its figures are in the pool: join (one click), then every
    KPI's cell with the rule behind it; before joining, the figures it would give, computed from its own data."""
    db = get_db(request)
    firm = _bench_firm(request, principal)
    if principal.role is Role.DATA_PARTNER:
        raise Forbidden()
    if firm is None:
        return render(request, "collab/benchmarks.html", v=None, pool=benchmarks.pool_size(db),
                      level_labels=benchmarks.LEVEL_LABELS, **_helpers())  # fmt: skip
    v = benchmarks.view(db, system_of(request).store, principal, firm)
    return render(request, "collab/benchmarks.html", v=v, pool=v.pool, level_labels=benchmarks.LEVEL_LABELS,
                  label=benchmarks.locale_label, **_helpers())  # fmt: skip


@pages.post("/collab/benchmarks/join", dependencies=[Csrf])
def benchmarks_join(request: Request, principal: PagePrincipal) -> Response:
    """Put the firm's figures in the pool (or refresh them), then show where it stands."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        raise Forbidden(N_("Only the firm's own members join or leave its benchmark pool."))
    benchmarks.join(get_db(request), system_of(request).store, principal, request_actor(request), principal.company_id)
    return RedirectResponse("/collab/benchmarks", status_code=303)


@pages.post("/collab/benchmarks/leave", dependencies=[Csrf])
def benchmarks_leave(request: Request, principal: PagePrincipal) -> Response:
    """Take the firm's figures out of the pool."""
    if principal.role is not Role.COMPANY_MEMBER or principal.company_id is None:
        raise Forbidden(N_("Only the firm's own members join or leave its benchmark pool."))
    benchmarks.leave(get_db(request), principal, request_actor(request), principal.company_id)
    return RedirectResponse("/collab/benchmarks", status_code=303)
