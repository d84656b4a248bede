"""Helpdesk service: file a pain point, triage and route it, run its workflow, keep its audit trail.

Every function takes a tenancy-scoped session, so another firm's tickets are simply not found. Who may do
what beyond that is decided here once:

* firm members file and follow their own firm's tickets, may close a resolved one or reopen it;
* consultants act for the firms assigned to them (filing on a firm's behalf is recorded as such);
* centre staff (admins and consultants) answer, move tickets along, set the category, write internal notes;
  the centre administrator reassigns experts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smart365.centre.assign import Expert as ExpertProfile
from smart365.centre.assign import best_expert
from smart365.centre.categories import PRIORITIES, Priority, get_category
from smart365.centre.models import (
    OPEN_STATUSES,
    DedicatedExpert,
    Expert,
    Ticket,
    TicketAttachment,
    TicketComment,
    TicketEvent,
    TicketStatus,
)
from smart365.centre.sla import TicketSla, ticket_sla
from smart365.centre.triage import TriageModel, labelled_cases
from smart365.core.accounts import User
from smart365.core.db import Database, as_utc, utcnow
from smart365.core.errors import Forbidden, Invalid, NotFound
from smart365.core.i18n import LOCALES, N_, translate_in
from smart365.core.tenancy import SYSTEM, Principal, Role, principal_of
from smart365.registry.models import Company, Equipment, Line

STAFF = (Role.CENTRE_ADMIN, Role.CONSULTANT, Role.SYSTEM)
#: Allowed status moves; the value says who may make them ("staff" or "anyone" who can see the ticket).
TRANSITIONS: dict[tuple[TicketStatus, TicketStatus], str] = {
    (TicketStatus.RECEIVED, TicketStatus.ASSIGNED): "staff",
    (TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS): "staff",
    (TicketStatus.RECEIVED, TicketStatus.IN_PROGRESS): "staff",
    (TicketStatus.ASSIGNED, TicketStatus.RESOLVED): "staff",
    (TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED): "staff",
    (TicketStatus.RESOLVED, TicketStatus.CLOSED): "anyone",
    (TicketStatus.RESOLVED, TicketStatus.IN_PROGRESS): "anyone",  # reopen
    (TicketStatus.CLOSED, TicketStatus.IN_PROGRESS): "anyone",  # reopen
}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: Accepted attachment types: extension → (content type, magic prefix or None for text).
ATTACHMENT_TYPES: dict[str, tuple[str, bytes | None]] = {
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".pdf": ("application/pdf", b"%PDF-"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
    ".csv": ("text/csv", None),
    ".txt": ("text/plain", None),
}


def is_staff(principal: Principal) -> bool:
    """Centre administrators, consultants and the system act for the centre."""
    return principal.role in STAFF


@dataclass(frozen=True)
class NewTicket:
    """What a filer gives: firm, text, priority and optionally where in the plant the problem is."""

    company_id: int
    title: str
    body: str
    priority: Priority = "normal"
    line_id: int | None = None
    equipment_id: int | None = None


def file_ticket(
    session: Session, db: Database, model: TriageModel, new: NewTicket, now: datetime | None = None
) -> Ticket:
    """File a ticket: check the filer, triage the text, route it to the best available expert.

    ``db`` gives the centre-wide view the triage model learns from and the experts' loads; neither leaves
    another firm's data in the answer (similar cases are filtered to what the filer may see).
    """
    principal = principal_of(session)
    _require_filer(principal, new.company_id)
    company = session.get(Company, new.company_id)
    if company is None:
        raise NotFound(N_("The company does not exist."))
    if new.priority not in PRIORITIES:
        raise Invalid(N_("Unknown priority: {priority}."), priority=new.priority)
    title, body = new.title.strip(), new.body.strip()
    if not title or not body:
        raise Invalid(N_("Please describe the problem: a title and a description are required."))
    equipment, line_id = _plant_place(session, new)
    with db.session(SYSTEM) as centre:
        labelled = labelled_cases(centre)
        loads = expert_loads(centre)
        experts = centre.scalars(select(Expert).order_by(Expert.id)).all()
    result = model.triage(f"{title}\n{body}", labelled, principal.visible_companies())
    ticket = Ticket(
        company_id=company.id,
        title=title,
        body=body,
        language="ko" if any("\uac00" <= ch <= "\ud7a3" for ch in body + title) else "en",
        priority=new.priority,
        category=result.category,
        category_confidence=result.confidence,
        category_top3=result.top3,
        similar=result.similar,
        line_id=line_id,
        equipment_id=equipment.id if equipment else None,
        created_by=principal.user_id,
        on_behalf=principal.role is not Role.COMPANY_MEMBER,
        opened_at=now or utcnow(),
    )
    session.add(ticket)
    session.flush()
    _log(session, ticket, "filed", {"category": result.category, "confidence": round(result.confidence, 4)})
    dedicated = session.scalars(select(DedicatedExpert).where(DedicatedExpert.company_id == company.id)).first()
    kinds = frozenset({equipment.kind}) - {"other"} if equipment else frozenset()
    _route(session, ticket, company, experts, loads, dedicated.expert_id if dedicated else None, kinds)
    return ticket


def _require_filer(principal: Principal, company_id: int) -> None:
    if principal.role is Role.DATA_PARTNER or not principal.can_change(company_id):
        raise Forbidden(N_("Only the firm's members, its consultants and the centre may file its tickets."))


def _plant_place(session: Session, new: NewTicket) -> tuple[Equipment | None, int | None]:
    """The ticket's equipment and line, both checked to belong to the firm."""
    equipment = session.get(Equipment, new.equipment_id) if new.equipment_id else None
    if new.equipment_id and (equipment is None or equipment.company_id != new.company_id):
        raise Invalid(N_("The equipment does not belong to this company."))
    line_id = new.line_id or (equipment.line_id if equipment else None)
    if line_id:
        line = session.get(Line, line_id)
        if line is None or line.company_id != new.company_id:
            raise Invalid(N_("The line does not belong to this company."))
    return equipment, line_id


def expert_loads(centre: Session) -> dict[int, int]:
    """Open tickets per expert, across all firms (a SYSTEM session: the counts reveal no firm's data)."""
    query = (
        select(Ticket.expert_id, func.count())
        .where(Ticket.status.in_(OPEN_STATUSES), Ticket.expert_id.is_not(None))
        .group_by(Ticket.expert_id)
    )
    return {int(expert_id or 0): int(n) for expert_id, n in centre.execute(query)}


def expert_profile(expert: Expert, open_tickets: int = 0) -> ExpertProfile:
    """The optimiser's view of an expert row."""
    return ExpertProfile(
        id=str(expert.id),
        name=expert.name,
        skills=dict(expert.skills),
        region=expert.region,
        capacity=expert.capacity,
        equipment=frozenset(expert.equipment),
        languages=frozenset(expert.languages),
        open_tickets=min(open_tickets, expert.max_open_tickets),
        max_open_tickets=expert.max_open_tickets,
        available=expert.available,
    )


def _route(
    session: Session,
    ticket: Ticket,
    company: Company,
    experts: Sequence[Expert],
    loads: Mapping[int, int],
    dedicated: int | None,
    kinds: frozenset[str],
) -> None:
    """Assign the best available expert, or leave the ticket received with the reason why not."""
    profiles = [expert_profile(e, loads.get(e.id, 0)) for e in experts]
    try:
        best = best_expert(
            ticket.category,
            profiles,
            region=company.region,
            language=ticket.language,
            equipment=kinds,
            dedicated_expert=str(dedicated) if dedicated else None,
        )
    except NotFound:
        ticket.assignment_reason = {loc: translate_in(loc, N_("No available expert yet.")) for loc in LOCALES}
        _log(session, ticket, "unrouted", {})
        return
    ticket.expert_id = int(best.expert_id)
    ticket.assignment_reason = dict(best.explanation)
    ticket.status = TicketStatus.ASSIGNED
    _log(session, ticket, "assigned", {"expert_id": ticket.expert_id, "score": round(best.score, 3)})


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket if the caller may see it, else :class:`NotFound`."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(N_("The ticket does not exist."))
    return ticket


def list_tickets(
    session: Session, status: str | None = None, category: str | None = None, limit: int = 200
) -> list[Ticket]:
    """Visible tickets, newest first."""
    query = select(Ticket).order_by(Ticket.opened_at.desc(), Ticket.id.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    if category:
        query = query.where(Ticket.category == category)
    return list(session.scalars(query))


def visible_comments(session: Session, ticket: Ticket) -> list[TicketComment]:
    """The ticket's comments; internal notes only for centre staff."""
    staff = is_staff(principal_of(session))
    return [c for c in ticket.comments if staff or not c.internal]


def add_comment(session: Session, ticket: Ticket, author: User, body: str, *, internal: bool = False) -> TicketComment:
    """Answer or ask on a ticket. The first answer from the centre stops the first-response clock."""
    principal = principal_of(session)
    body = body.strip()
    if not body:
        raise Invalid(N_("The comment is empty."))
    if internal and not is_staff(principal):
        raise Forbidden(N_("Only centre staff may write internal notes."))
    _require_writer(principal, ticket)
    comment = TicketComment(
        company_id=ticket.company_id, ticket_id=ticket.id, author_id=author.id, author_name=author.name, body=body,
        internal=internal,
    )  # fmt: skip
    session.add(comment)
    if is_staff(principal) and not internal:
        ticket.first_response_at = ticket.first_response_at or utcnow()
        if ticket.status == TicketStatus.ASSIGNED:
            _set_status(session, ticket, TicketStatus.IN_PROGRESS)
    _log(session, ticket, "note" if internal else "comment", {"length": len(body)})
    return comment


def change_status(session: Session, ticket: Ticket, to: str, resolution: str | None = None) -> Ticket:
    """Move a ticket along the workflow; resolving needs the resolution, which becomes a case for others."""
    principal = principal_of(session)
    _require_writer(principal, ticket)
    try:
        target = TicketStatus(to)
    except ValueError as exc:
        raise Invalid(N_("Unknown ticket status: {status}."), status=to) from exc
    who = TRANSITIONS.get((TicketStatus(ticket.status), target))
    if who is None:
        raise Invalid(N_("A ticket cannot go from {old} to {new}."), old=ticket.status, new=target.value)
    if who == "staff" and not is_staff(principal):
        raise Forbidden(N_("Only centre staff may do this."))
    if target == TicketStatus.RESOLVED:
        if not (resolution or "").strip():
            raise Invalid(N_("Please write how the problem was solved."))
        ticket.resolution = (resolution or "").strip()
        ticket.first_response_at = ticket.first_response_at or utcnow()
    _set_status(session, ticket, target)
    return ticket


def _set_status(session: Session, ticket: Ticket, target: TicketStatus) -> None:
    old = ticket.status
    ticket.status = target
    now = utcnow()
    if target == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif target == TicketStatus.CLOSED:
        ticket.closed_at = now
    elif old in (TicketStatus.RESOLVED, TicketStatus.CLOSED):  # reopened: the resolution clock runs again
        ticket.resolved_at = ticket.closed_at = None
    _log(session, ticket, "status", {"from": old, "to": target.value})


def set_category(session: Session, ticket: Ticket, category: str) -> Ticket:
    """Staff set or confirm the category; the ticket then trains the next classifier."""
    if not is_staff(principal_of(session)):
        raise Forbidden(N_("Only centre staff may do this."))
    get_category(category)
    _log(session, ticket, "category", {"from": ticket.category, "to": category})
    ticket.category, ticket.category_confidence = category, None
    return ticket


def reassign(session: Session, ticket: Ticket, expert_id: int) -> Ticket:
    """The centre administrator hands a ticket to another expert."""
    principal_of(session).require(Role.CENTRE_ADMIN)
    expert = session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(N_("The expert does not exist."))
    ticket.expert_id = expert.id
    ticket.assignment_reason = {loc: translate_in(loc, N_("Assigned by the centre")) for loc in LOCALES}
    if ticket.status == TicketStatus.RECEIVED:
        ticket.status = TicketStatus.ASSIGNED
    _log(session, ticket, "assigned", {"expert_id": expert.id, "by": "centre"})
    return ticket


def escalate(session: Session, ticket: Ticket) -> Ticket:
    """Raise a ticket to the centre's attention (staff, or automatically on an SLA breach)."""
    if not is_staff(principal_of(session)):
        raise Forbidden(N_("Only centre staff may do this."))
    if not ticket.escalated:
        ticket.escalated = True
        _log(session, ticket, "escalated", {})
    return ticket


def escalate_breaches(session: Session, now: datetime | None = None) -> list[Ticket]:
    """Escalate every open ticket whose first-response or resolution clock has run out."""
    now = now or utcnow()
    breached = [t for t in session.scalars(select(Ticket).where(Ticket.status.in_(OPEN_STATUSES))) if _breached(t, now)]
    return [escalate(session, t) for t in breached if not t.escalated]


def _breached(ticket: Ticket, now: datetime) -> bool:
    sla = sla_of(ticket, now)
    return sla.first_response.status == "breached" or sla.resolution.status == "breached"


def sla_of(ticket: Ticket, now: datetime | None = None) -> TicketSla:
    """Both SLA clocks of a ticket (business hours, Korean public holidays excluded)."""
    priority: Priority = ticket.priority if ticket.priority in PRIORITIES else "normal"
    return ticket_sla(
        ticket.category,
        priority,
        as_utc(ticket.opened_at),
        now or utcnow(),
        first_response_at=as_utc(ticket.first_response_at) if ticket.first_response_at else None,
        resolved_at=as_utc(ticket.resolved_at) if ticket.resolved_at else None,
    )


def attach(
    session: Session,
    ticket: Ticket,
    uploader: User,
    filename: str,
    content: bytes,
    max_bytes: int = MAX_ATTACHMENT_BYTES,
) -> TicketAttachment:
    """Store a file on a ticket after checking its size, its extension and that its bytes match it."""
    _require_writer(principal_of(session), ticket)
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ATTACHMENT_TYPES:
        allowed = ", ".join(sorted(ATTACHMENT_TYPES))
        raise Invalid(N_("Files of this type are not accepted. Allowed: {allowed}."), allowed=allowed)
    if not content:
        raise Invalid(N_("The file is empty."))
    if len(content) > max_bytes:
        raise Invalid(N_("The file is larger than {limit} MB."), limit=max_bytes // (1024 * 1024))
    content_type, magic = ATTACHMENT_TYPES[extension]
    if (magic and not content.startswith(magic)) or (magic is None and b"\x00" in content[:4096]):
        raise Invalid(N_("The file's content does not match its name {name}."), name=name)
    attachment = TicketAttachment(
        company_id=ticket.company_id, ticket_id=ticket.id, filename=name, content_type=content_type,
        size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content, uploaded_by=uploader.id,
    )  # fmt: skip
    session.add(attachment)
    _log(session, ticket, "attachment", {"filename": name, "size": len(content)})
    return attachment


def get_attachment(session: Session, ticket_id: int, attachment_id: int) -> TicketAttachment:
    """An attachment of a visible ticket."""
    attachment = session.get(TicketAttachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        raise NotFound(N_("The file does not exist."))
    return attachment


def _require_writer(principal: Principal, ticket: Ticket) -> None:
    if principal.role is Role.DATA_PARTNER or not principal.can_change(ticket.company_id):
        raise Forbidden()


def _log(session: Session, ticket: Ticket, action: str, detail: dict[str, Any]) -> None:
    principal = principal_of(session)
    session.add(
        TicketEvent(
            company_id=ticket.company_id, ticket_id=ticket.id, actor_id=principal.user_id, action=action, detail=detail
        )
    )
