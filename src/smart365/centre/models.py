"""Centre tables: experts, dedicated-expert matches, pain-point tickets with comments, attachments and audit.

Experts are the centre's own registry (no firm owns them); everything about a ticket belongs to the firm
that filed it (:class:`~smart365.core.db.CompanyOwned`), so the shared tenancy mechanism scopes it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smart365.core.db import Base, CompanyOwned, Timestamped, utcnow
from smart365.core.i18n import N_


class TicketStatus(StrEnum):
    """접수 → 배정 → 진행 → 해결 → 종료; a resolved or closed ticket can be reopened (→ 진행)."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """English msgid for display (translate with ``_``)."""
        return STATUS_LABELS[self]


STATUS_LABELS = {
    TicketStatus.RECEIVED: N_("Received"),
    TicketStatus.ASSIGNED: N_("Assigned"),
    TicketStatus.IN_PROGRESS: N_("In progress"),
    TicketStatus.RESOLVED: N_("Resolved"),
    TicketStatus.CLOSED: N_("Closed"),
}
OPEN_STATUSES = (TicketStatus.RECEIVED, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS)


class Expert(Timestamped, Base):
    """A centre expert (전문가). ``user_id`` links the login of an expert who works in Smart365 itself."""

    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(20))
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # category id → level 1–5
    equipment: Mapped[list[str]] = mapped_column(JSON, default=list)  # equipment kinds known
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["ko"])
    capacity: Mapped[int] = mapped_column(Integer, default=10)  # most firms as dedicated expert
    max_open_tickets: Mapped[int] = mapped_column(Integer, default=10)
    available: Mapped[bool] = mapped_column(Boolean, default=True)


class DedicatedExpert(CompanyOwned, Timestamped, Base):
    """The firm's dedicated expert (전담 전문가) from the last applied assignment, and why."""

    __tablename__ = "dedicated_experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    fit: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # locale → text

    expert: Mapped[Expert] = relationship()


class Ticket(CompanyOwned, Timestamped, Base):
    """A pain point (애로사항) filed by a firm or by a consultant on its behalf."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="ko")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(12), default=TicketStatus.RECEIVED, index=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    category_confidence: Mapped[float | None] = mapped_column(Float)  # None once staff set it by hand
    category_top3: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    similar: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # snapshot at filing
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id", ondelete="SET NULL"), index=True)
    assignment_reason: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # locale → text
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution: Mapped[str | None] = mapped_column(Text)

    expert: Mapped[Expert | None] = relationship()
    comments: Mapped[list[TicketComment]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketComment.id"
    )
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketAttachment.id"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketEvent.id"
    )


class TicketComment(CompanyOwned, Timestamped, Base):
    """An answer or question on a ticket; ``internal`` notes are for centre staff only."""

    __tablename__ = "ticket_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)

    ticket: Mapped[Ticket] = relationship(back_populates="comments")


class TicketAttachment(CompanyOwned, Timestamped, Base):
    """A file attached to a ticket. The bytes live in the records database: one backup holds everything."""

    __tablename__ = "ticket_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # ≤ 10 MB, checked on upload

    ticket: Mapped[Ticket] = relationship(back_populates="attachments")


class TicketEvent(CompanyOwned, Base):
    """Audit trail: every change to a ticket, who made it and when (never edited)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
