"""Centre pages: the helpdesk (file, follow and answer tickets), the programme dashboard, experts and
priorities. Firms see their own tickets; consultants those of the firms assigned to them; the centre all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response, StreamingResponse

from smart365.centre import dashboard, experts, support, tickets
from smart365.centre.api import attachment_response, model_of
from smart365.centre.categories import PRIORITIES, load_categories
from smart365.centre.experts import ExpertIn
from smart365.centre.models import OPEN_STATUSES, Expert, Ticket, TicketStatus
from smart365.centre.priority import PriorityWeights
from smart365.centre.sla import SlaStatus
from smart365.core import audit
from smart365.core.accounts import User
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_, _, current_locale
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry import vocab
from smart365.registry.models import Company, Equipment
from smart365.web.deps import Csrf, PageForm, PagePrincipal, PageSession, get_db, get_settings
from smart365.web.templating import FirmCell, FirmColumn, HomeCard, render

pages = APIRouter(include_in_schema=False)
FigureProvider = Callable[[Request, Session, Principal], HomeCard | None]
#: Other features' figures on the programme dashboard (the plants reporting now…), set by the composition
#: root (:func:`install_figures`), so the centre never imports the features it counts.
DASHBOARD_FIGURES: list[FigureProvider] = []
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PRIORITY_LABELS = {"urgent": N_("Urgent"), "high": N_("High"), "normal": N_("Normal"), "low": N_("Low")}
#: The audit trail's actions, as the history table names them.
ACTION_LABELS = {
    "filed": N_("Filed"),
    "assigned": N_("Expert assigned"),
    "unrouted": N_("No expert available"),
    "comment": N_("Answer"),
    "note": N_("Internal note"),
    "status": N_("Status changed"),
    "category": N_("Category changed"),
    "attachment": N_("File attached"),
    "escalated": N_("Escalated"),
}


def install_figures(providers: Iterable[FigureProvider]) -> None:
    """Set the features' figures of the programme dashboard (called once by the composition root)."""
    DASHBOARD_FIGURES[:] = list(providers)


def _common() -> dict[str, Any]:
    locale = current_locale.get()
    return {
        "active": "tickets",
        "category_labels": {c.id: c.label(locale) for c in load_categories()},
        "status_labels": {s.value: _(s.label) for s in TicketStatus},
        "priority_labels": {p: _(PRIORITY_LABELS[p]) for p in PRIORITIES},
        "action_labels": {k: _(v) for k, v in ACTION_LABELS.items()},
        "sla_of": tickets.sla_of,
    }


def _require_staff(principal: Principal) -> None:
    principal.require(Role.CENTRE_ADMIN, Role.CONSULTANT)


@pages.get("/tickets")
def ticket_list(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """Visible tickets with status, category, expert and SLA state; filter by status, category and firm."""
    status = request.query_params.get("status") or None
    category = request.query_params.get("category") or None
    found = tickets.list_tickets(session, status, category)
    firm = request.query_params.get("company_id", "")
    if firm.isdigit():
        found = [t for t in found if t.company_id == int(firm)]
    names = dict(session.execute(select(Company.id, Company.name)).all())
    return render(
        request, "centre/tickets.html", tickets=found, names=names, status=status, category=category, **_common()
    )


def _form_page(
    request: Request, session: Session, principal: Principal, *, error: str | None = None, values: Any = None
) -> Response:
    companies = list(session.scalars(select(Company).order_by(Company.name).limit(1000)))
    chosen = (values or {}).get("company_id") or request.query_params.get("company_id") or principal.company_id
    equipment = list(session.scalars(select(Equipment).where(Equipment.company_id == int(chosen)))) if chosen else []
    return render(
        request,
        "centre/ticket_new.html",
        status_code=422 if error else 200,
        companies=companies,
        chosen=int(chosen) if chosen else None,
        equipment=equipment,
        error=error,
        values=values or {},
        **_common(),
    )


@pages.get("/tickets/new")
def ticket_form(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The form to file a pain point: firm (for consultants and the centre), title, text, priority, equipment."""
    if principal.role is Role.DATA_PARTNER:
        tickets._require_filer(principal, -1)
    return _form_page(request, session, principal)


@pages.post("/tickets/new", dependencies=[Csrf])
def ticket_create(request: Request, principal: PagePrincipal, session: PageSession, form: PageForm) -> Response:
    """File the ticket, attach the file if one came, and show it triaged and routed."""
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        new = tickets.NewTicket(
            company_id=_int(values.get("company_id")) or principal.company_id or 0,
            title=values.get("title", ""),
            body=values.get("body", ""),
            priority=values.get("priority", "normal"),  # type: ignore[arg-type]
            equipment_id=_int(values.get("equipment_id")),
        )
        ticket = tickets.file_ticket(session, get_db(request), model_of(request), new)
        upload = form.get("attachment")
        if isinstance(upload, UploadFile) and upload.filename:
            content = upload.file.read(tickets.MAX_ATTACHMENT_BYTES + 1)
            tickets.attach(session, ticket, _user(request), upload.filename, content)
    except AppError as exc:
        session.rollback()
        if exc.status in (401, 403):
            raise
        return _form_page(request, session, principal, error=exc.localized(), values=values)
    return RedirectResponse(f"/tickets/{ticket.id}?filed=1", status_code=303)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError as exc:
        raise Invalid(N_("Must be a whole number.")) from exc


def _user(request: Request) -> User:
    user: User = request.state.user
    return user


@pages.get("/tickets/{ticket_id}")
def ticket_page(request: Request, ticket_id: int, principal: PagePrincipal, session: PageSession) -> Response:
    """One ticket: category with confidence, similar cases, expert and why, SLA clocks, conversation."""
    ticket = tickets.get_ticket(session, ticket_id)
    return _ticket_page(request, session, principal, ticket)


def _ticket_page(
    request: Request, session: Session, principal: Principal, ticket: Ticket, error: str | None = None
) -> Response:
    locale = current_locale.get()
    staff = tickets.is_staff(principal)
    experts = list(session.scalars(select(Expert).order_by(Expert.name))) if principal.role is Role.CENTRE_ADMIN else []
    moves = [
        to for (old, to), who in tickets.TRANSITIONS.items() if old == ticket.status and (staff or who == "anyone")
    ]
    flash = _("Your ticket has been filed.") if request.query_params.get("filed") else None
    return render(
        request,
        "centre/ticket.html",
        status_code=422 if error else 200,
        ticket=ticket,
        company=session.get(Company, ticket.company_id),
        comments=tickets.visible_comments(session, ticket),
        sla=tickets.sla_of(ticket),
        reason=ticket.assignment_reason.get(locale) or ticket.assignment_reason.get("ko", ""),
        staff=staff,
        can_write=principal.can_change(ticket.company_id) and principal.role is not Role.DATA_PARTNER,
        moves=moves,
        experts=experts,
        error=error,
        flash=flash,
        **_common(),
    )


@pages.get("/tickets/{ticket_id}/sla")
def ticket_sla(request: Request, ticket_id: int, session: PageSession) -> Response:
    """The SLA clocks alone: the ticket page refreshes them while it is open."""
    ticket = tickets.get_ticket(session, ticket_id)
    return render(request, "centre/_sla.html", ticket=ticket, sla=tickets.sla_of(ticket), **_common())


def _act(
    request: Request, session: Session, principal: Principal, ticket_id: int, form: FormData, action: Any
) -> Response:
    """Run one change on a ticket from a form; a refused change shows the page with the reason."""
    ticket = tickets.get_ticket(session, ticket_id)
    try:
        action(ticket, form)
    except AppError as exc:
        if exc.status in (401, 403, 404):
            raise
        session.rollback()
        return _ticket_page(request, session, principal, tickets.get_ticket(session, ticket_id), exc.localized())
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@pages.post("/tickets/{ticket_id}/comments", dependencies=[Csrf])
def ticket_comment(
    request: Request, ticket_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Add an answer, a question or (staff) an internal note."""

    def act(ticket: Ticket, form: Any) -> None:
        internal = bool(form.get("internal"))
        tickets.add_comment(session, ticket, _user(request), str(form.get("body") or ""), internal=internal)

    return _act(request, session, principal, ticket_id, form, act)


@pages.post("/tickets/{ticket_id}/status", dependencies=[Csrf])
def ticket_status(
    request: Request, ticket_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Move the ticket along the workflow (resolve with a resolution, close, reopen)."""

    def act(ticket: Ticket, form: Any) -> None:
        tickets.change_status(session, ticket, str(form.get("status") or ""), str(form.get("resolution") or ""))

    return _act(request, session, principal, ticket_id, form, act)


@pages.post("/tickets/{ticket_id}/category", dependencies=[Csrf])
def ticket_category(
    request: Request, ticket_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Staff set or confirm the category (the ticket becomes training data)."""

    def act(ticket: Ticket, form: Any) -> None:
        tickets.set_category(session, ticket, str(form.get("category") or ""))

    return _act(request, session, principal, ticket_id, form, act)


@pages.post("/tickets/{ticket_id}/expert", dependencies=[Csrf])
def ticket_expert(
    request: Request, ticket_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """The centre hands the ticket to another expert."""

    def act(ticket: Ticket, form: Any) -> None:
        tickets.reassign(session, ticket, _int(str(form.get("expert_id") or "")) or 0)

    return _act(request, session, principal, ticket_id, form, act)


@pages.post("/tickets/{ticket_id}/attachments", dependencies=[Csrf])
def ticket_attach(
    request: Request, ticket_id: int, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    """Attach a file to the ticket."""

    def act(ticket: Ticket, form: Any) -> None:
        upload = form.get("attachment")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid(N_("Please choose a file."))
        content = upload.file.read(tickets.MAX_ATTACHMENT_BYTES + 1)
        tickets.attach(session, ticket, _user(request), upload.filename, content)

    return _act(request, session, principal, ticket_id, form, act)


@pages.get("/tickets/{ticket_id}/attachments/{attachment_id}")
def ticket_file(ticket_id: int, attachment_id: int, session: PageSession) -> Response:
    """Download an attachment of a visible ticket."""
    return attachment_response(tickets.get_attachment(session, ticket_id, attachment_id))


@pages.get("/centre")
def centre_dashboard(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The programme dashboard (centre staff; consultants see their firms)."""
    _require_staff(principal)
    with get_db(request).session(SYSTEM) as centre:
        board = dashboard.build(session, centre)
    names = dict(session.execute(select(Company.id, Company.name)).all())
    figures = [figure for provide in DASHBOARD_FIGURES if (figure := provide(request, session, principal))]
    figures.sort(key=lambda figure: figure.order)
    context = _common() | {"active": "centre", "figures": figures}
    return render(request, "centre/dashboard.html", board=board, chart=dashboard.charts(board), names=names, **context)


@pages.get("/centre/export.xlsx")
def centre_export(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The dashboard's tables and the ticket list as Excel."""
    _require_staff(principal)
    with get_db(request).session(SYSTEM) as centre:
        board = dashboard.build(session, centre)
    rows = tickets.list_tickets(session, limit=100_000)
    data = dashboard.export_xlsx(board, rows)
    audit.record(session, audit.Action.EXPORT, "centre", details={"tickets": len(rows)})
    headers = {"Content-Disposition": 'attachment; filename="smart365-centre.xlsx"'}
    return StreamingResponse(iter([data]), media_type=XLSX, headers=headers)


@pages.get("/centre/priorities")
def centre_priorities(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """Firms ranked for priority technical support, each rank explained, with its dedicated expert."""
    return _priorities_page(request, principal, session)


def _priorities_page(
    request: Request, principal: Principal, session: Session, error: str | None = None, form: Any = None
) -> Response:
    _require_staff(principal)
    locale = current_locale.get()
    weights = experts.current_weights(get_settings(request))
    ranked = support.ranked_candidates(session, weights)
    dedicated = {d.company_id: d for d in session.scalars(select(support.DedicatedExpert))}
    rows = [
        {
            "rank": r,
            "candidate": c,
            "explanation": r.explanation.get(locale, ""),
            "dedicated": dedicated.get(c.company.id),
        }
        for r, c in ranked[:300]
    ]
    return render(
        request,
        "centre/priorities.html",
        status_code=422 if error else 200,
        rows=rows,
        total=len(ranked),
        weights=form or weights.weights.model_dump() | {"target_level": weights.gap.target_level},
        error=error,
        active="centre",
    )


@pages.post("/centre/priorities/weights", dependencies=[Csrf])
def centre_weights(request: Request, principal: PagePrincipal, session: PageSession, posted: PageForm) -> Response:
    """The centre administrator changes the ranking weights; every rank is recomputed with them."""
    principal.require(Role.CENTRE_ADMIN)
    form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
    settings = get_settings(request)
    current = experts.current_weights(settings).model_dump()
    try:
        current["weights"] = {c: float(form.get(c, "")) for c in current["weights"]}
        current["gap"]["target_level"] = float(form.get("target_level", ""))
        experts.save_weights(session, settings, PriorityWeights.model_validate(current))
    except (ValueError, ValidationError):
        message = _("Weights must be numbers of at least 0, at least one above 0; the target level 1–5.")
        return _priorities_page(request, principal, session, message, form)
    return RedirectResponse("/centre/priorities?saved=1", status_code=303)


@pages.get("/centre/experts")
def centre_experts(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The expert registry with skills, region, languages and load; the administrator adds experts."""
    return _experts_page(request, principal)


def _experts_page(request: Request, principal: Principal, error: str | None = None, form: Any = None) -> Response:
    _require_staff(principal)
    with get_db(request).session(SYSTEM) as centre:
        rows = dashboard.experts_load(centre)
    context = _common() | {"active": "centre"}
    return render(
        request, "centre/experts.html", status_code=422 if error else 200, experts=rows, error=error,
        form=form or {}, kinds=vocab.EQUIPMENT_KINDS, **context,
    )  # fmt: skip


@pages.post("/centre/experts", dependencies=[Csrf])
def centre_expert_add(request: Request, principal: PagePrincipal, session: PageSession, form: PageForm) -> Response:
    """Register an expert from the form: one skill level (0–5) per category."""
    principal.require(Role.CENTRE_ADMIN)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        skills = {c.id: int(values.get(f"skill-{c.id}") or 0) for c in load_categories()}
        data = ExpertIn(
            name=values.get("name", ""),
            organisation=values.get("organisation") or None,
            region=values.get("region", ""),
            skills={c: level for c, level in skills.items() if level > 0},
            equipment=[str(k) for k in form.getlist("equipment")],
            languages=["ko", "en"] if values.get("english") else ["ko"],
            capacity=int(values.get("capacity") or 0),
            max_open_tickets=int(values.get("max_open_tickets") or 0),
        )
        experts.save_expert(session, data)
    except ValidationError as exc:
        session.rollback()
        return _experts_page(request, principal, _("Please check: {fields}").format(fields=_fields(exc)), values)
    except (AppError, ValueError) as exc:
        session.rollback()
        message = exc.localized() if isinstance(exc, AppError) else _("Must be a whole number.")
        return _experts_page(request, principal, message, values)
    return RedirectResponse("/centre/experts?saved=1", status_code=303)


def _fields(exc: ValidationError) -> str:
    return ", ".join(str(e["loc"][0]) for e in exc.errors())


@pages.post("/centre/assign", dependencies=[Csrf])
def centre_assign(request: Request, principal: PagePrincipal) -> Response:
    """Re-run the dedicated-expert assignment over the ranked firms and apply it (centre administrators)."""
    principal.require(Role.CENTRE_ADMIN)
    with get_db(request).session(SYSTEM) as centre:
        plan = support.plan_assignment(centre)
        support.apply_plan(centre, plan)
    return RedirectResponse("/centre/priorities?assigned=1", status_code=303)


def home_card(request: Request, session: Session, principal: Principal, company_id: int) -> HomeCard:
    """The member's home panel: the firm's open requests to the Smart365 centre (애로사항), newest first."""
    query = select(Ticket).where(Ticket.company_id == company_id, Ticket.status.in_(OPEN_STATUSES))
    found = list(session.scalars(query.order_by(Ticket.opened_at.desc()).limit(5)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return HomeCard("centre/home_card.html", {"company_id": company_id, "tickets": found, "count": total,
                    "status_labels": {s.value: _(s.label) for s in TicketStatus}}, order=30)  # fmt: skip


def _request_cells(session: Session, company_ids: Sequence[int]) -> dict[int, FirmCell]:
    """Each firm's open requests; one past its SLA (first response or resolution) needs attention most."""
    query = select(Ticket).where(Ticket.company_id.in_(company_ids), Ticket.status.in_(OPEN_STATUSES))
    found: dict[int, list[Ticket]] = {}
    for ticket in session.scalars(query):
        found.setdefault(ticket.company_id, []).append(ticket)
    cells = {}
    for company_id, open_tickets in found.items():
        clocks = [tickets.sla_of(t) for t in open_tickets]
        late = sum(SlaStatus.BREACHED in (c.first_response.status, c.resolution.status) for c in clocks)
        at_risk = sum(SlaStatus.WARNING in (c.first_response.status, c.resolution.status) for c in clocks)
        text = _("{count} open").format(count=len(open_tickets))
        if late:
            text += " · " + _("{count} past the SLA").format(count=late)
        cells[company_id] = FirmCell(text, f"/tickets?company_id={company_id}", 3 * late + at_risk)
    return cells


REQUEST_COLUMN = FirmColumn(N_("Open requests (SLA)"), _request_cells)
