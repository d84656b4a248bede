"""API shapes of the helpdesk: what a filer sends and what every reader gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smart365.centre.categories import get_category
from smart365.centre.models import Ticket, TicketComment, TicketStatus
from smart365.centre.sla import SlaClock
from smart365.centre.tickets import sla_of
from smart365.core.i18n import _, current_locale


class TicketIn(BaseModel):
    """A new pain point. Firm members may leave ``company_id`` out: it is their own firm."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "company_id": 1,
                    "title": "구형 사출기 데이터 수집",
                    "body": "2008년식 사출기 6대가 통신 포트가 없어 사이클타임과 온도를 수기로 기록합니다.",
                    "priority": "normal",
                    "equipment_id": 1,
                }
            ]
        }
    )

    company_id: int | None = None
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20000)
    priority: Literal["urgent", "high", "normal", "low"] = "normal"
    line_id: int | None = None
    equipment_id: int | None = None


class CommentIn(BaseModel):
    """An answer or a question on a ticket; ``internal`` notes are for centre staff."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"body": "센서 사양을 확인해 주세요.", "internal": False}]}
    )

    body: str = Field(min_length=1, max_length=20000)
    internal: bool = False


class StatusIn(BaseModel):
    """A workflow move; ``resolution`` is required to resolve."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "resolved", "resolution": "IoT 게이트웨이로 온도 수집 구성"}]}
    )

    status: TicketStatus
    resolution: str | None = Field(default=None, max_length=20000)


class ClockOut(BaseModel):
    """One SLA clock in business hours."""

    target_hours: float
    elapsed_hours: float
    due: datetime
    status: str
    status_label: str
    done: bool

    @classmethod
    def of(cls, clock: SlaClock) -> ClockOut:
        return cls(
            target_hours=clock.target_hours,
            elapsed_hours=round(clock.elapsed_hours, 2),
            due=clock.due,
            status=clock.status.value,
            status_label=_(clock.status.label),
            done=clock.done,
        )


class SimilarOut(BaseModel):
    """A similar solved case: from the knowledge base (seed, synthetic) or a resolved ticket of the firm."""

    id: str
    kind: str
    score: float
    category: str
    text: str
    resolution: str


class ExpertOut(BaseModel):
    id: int
    name: str
    reason: str


class CommentOut(BaseModel):
    id: int
    author: str
    body: str
    internal: bool
    created_at: datetime


class TicketOut(BaseModel):
    """A ticket as its reader may see it (internal notes only for centre staff)."""

    id: int
    company_id: int
    title: str
    body: str
    priority: str
    status: str
    status_label: str
    category: str
    category_label: str
    category_confidence: float | None
    category_top3: list[list[Any]]
    similar: list[SimilarOut]
    expert: ExpertOut | None
    assignment_reason: str
    on_behalf: bool
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    escalated: bool
    resolution: str | None
    sla: dict[str, ClockOut]
    comments: list[CommentOut]

    @classmethod
    def of(cls, ticket: Ticket, comments: list[TicketComment]) -> TicketOut:
        locale = current_locale.get()
        sla = sla_of(ticket)
        reason = ticket.assignment_reason.get(locale) or ticket.assignment_reason.get("ko", "")
        expert = ExpertOut(id=ticket.expert.id, name=ticket.expert.name, reason=reason) if ticket.expert else None
        return cls(
            id=ticket.id,
            company_id=ticket.company_id,
            title=ticket.title,
            body=ticket.body,
            priority=ticket.priority,
            status=ticket.status,
            status_label=_(TicketStatus(ticket.status).label),
            category=ticket.category,
            category_label=get_category(ticket.category).label(locale),
            category_confidence=ticket.category_confidence,
            category_top3=ticket.category_top3,
            similar=[SimilarOut(**s) for s in ticket.similar],
            expert=expert,
            assignment_reason=reason,
            on_behalf=ticket.on_behalf,
            opened_at=ticket.opened_at,
            first_response_at=ticket.first_response_at,
            resolved_at=ticket.resolved_at,
            escalated=ticket.escalated,
            resolution=ticket.resolution,
            sla={"first_response": ClockOut.of(sla.first_response), "resolution": ClockOut.of(sla.resolution)},
            comments=[
                CommentOut(id=c.id, author=c.author_name, body=c.body, internal=c.internal, created_at=c.created_at)
                for c in comments
            ],
        )
