"""Helpdesk REST API under ``/api/v1``: the stable interface for scripts and other systems.

``POST /api/v1/tickets`` files a pain point and answers with the ticket as triaged: its ``category`` and
``category_confidence``, the ``similar`` solved cases and the assigned ``expert`` with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response

from smart365.centre import experts, tickets
from smart365.centre.experts import ExpertIn, ExpertOut
from smart365.centre.models import TicketAttachment
from smart365.centre.schemas import CommentIn, StatusIn, TicketIn, TicketOut
from smart365.centre.triage import TriageModel, triage_model
from smart365.core.accounts import User
from smart365.core.errors import Invalid
from smart365.core.i18n import N_
from smart365.core.settings import Settings
from smart365.core.tenancy import Principal
from smart365.web.deps import ApiPrincipal, ApiSession, get_db, get_settings

router = APIRouter(prefix="/api/v1", tags=["centre"])


def model_of(request: Request) -> TriageModel:
    """The app's triage model; trained models are kept under the data directory."""
    return triage_model(model_dir(get_settings(request)))


def model_dir(settings: Settings) -> Path:
    """Where trained ticket classifiers are saved."""
    return settings.data_dir / "models" / "ticket-classifier"


def _user(request: Request) -> User:
    user: User = request.state.user
    return user


def _company_of(data: TicketIn, principal: Principal) -> int:
    company_id = data.company_id or principal.company_id
    if company_id is None:
        raise Invalid(N_("Please choose the company the ticket is for."))
    return company_id


@router.post("/tickets", response_model=TicketOut, status_code=201)
def create_ticket(request: Request, session: ApiSession, principal: ApiPrincipal, data: TicketIn) -> TicketOut:
    """File a pain point (애로사항): categorised, matched with similar cases and routed to an expert."""
    new = tickets.NewTicket(
        company_id=_company_of(data, principal),
        title=data.title,
        body=data.body,
        priority=data.priority,
        line_id=data.line_id,
        equipment_id=data.equipment_id,
    )
    ticket = tickets.file_ticket(session, get_db(request), model_of(request), new)
    session.flush()
    session.refresh(ticket)
    return TicketOut.of(ticket, tickets.visible_comments(session, ticket))


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(
    session: ApiSession,
    status: str | None = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TicketOut]:
    """Tickets the caller may see, newest first."""
    found = tickets.list_tickets(session, status, category, limit)
    return [TicketOut.of(t, tickets.visible_comments(session, t)) for t in found]


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
def get_ticket(session: ApiSession, ticket_id: int) -> TicketOut:
    """One ticket with its SLA clocks and the comments the caller may read."""
    ticket = tickets.get_ticket(session, ticket_id)
    return TicketOut.of(ticket, tickets.visible_comments(session, ticket))


@router.post("/tickets/{ticket_id}/comments", response_model=TicketOut, status_code=201)
def comment(request: Request, session: ApiSession, ticket_id: int, data: CommentIn) -> TicketOut:
    """Answer or ask; the centre's first answer stops the first-response clock."""
    ticket = tickets.get_ticket(session, ticket_id)
    tickets.add_comment(session, ticket, _user(request), data.body, internal=data.internal)
    session.flush()
    session.refresh(ticket)
    return TicketOut.of(ticket, tickets.visible_comments(session, ticket))


@router.post("/tickets/{ticket_id}/status", response_model=TicketOut)
def change_status(session: ApiSession, ticket_id: int, data: StatusIn) -> TicketOut:
    """Move the ticket along 접수 → 배정 → 진행 → 해결 → 종료 (or reopen it)."""
    ticket = tickets.change_status(session, tickets.get_ticket(session, ticket_id), data.status, data.resolution)
    return TicketOut.of(ticket, tickets.visible_comments(session, ticket))


@router.post("/tickets/{ticket_id}/attachments", status_code=201)
def upload(
    request: Request, session: ApiSession, ticket_id: int, file: Annotated[UploadFile, File()]
) -> dict[str, object]:
    """Attach a file (PNG, JPEG, PDF, XLSX, CSV, TXT; at most 10 MB)."""
    ticket = tickets.get_ticket(session, ticket_id)
    content = file.file.read(tickets.MAX_ATTACHMENT_BYTES + 1)
    attachment = tickets.attach(session, ticket, _user(request), file.filename or "", content)
    session.flush()
    return {"id": attachment.id, "filename": attachment.filename, "size": attachment.size}


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}")
def download(session: ApiSession, ticket_id: int, attachment_id: int) -> Response:
    """An attachment's bytes, always as a download (never rendered inline)."""
    return attachment_response(tickets.get_attachment(session, ticket_id, attachment_id))


def attachment_response(attachment: TicketAttachment) -> Response:
    """The bytes as an attachment with a safe file name and no content sniffing."""
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(attachment.content, media_type=attachment.content_type, headers=headers)


@router.get("/experts", response_model=list[ExpertOut])
def list_experts(session: ApiSession) -> list[ExpertOut]:
    """The expert registry (centre staff)."""
    return [ExpertOut.model_validate(e) for e in experts.list_experts(session)]


@router.post("/experts", response_model=ExpertOut, status_code=201)
def create_expert(session: ApiSession, data: ExpertIn) -> ExpertOut:
    """Register an expert (centre administrators)."""
    return ExpertOut.model_validate(experts.save_expert(session, data))


@router.put("/experts/{expert_id}", response_model=ExpertOut)
def replace_expert(session: ApiSession, expert_id: int, data: ExpertIn) -> ExpertOut:
    """Replace an expert's profile (centre administrators)."""
    return ExpertOut.model_validate(experts.save_expert(session, data, expert_id))
