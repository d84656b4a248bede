"""Survey responses (전수조사 응답): a firm's answers to one instrument version, draft then submitted.

A firm has at most one draft at a time; submitting scores it with the instrument it was answered on and
stores the total and level next to that version, so a later instrument never changes a past result.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, CompanyOwned, Timestamped


class SurveyStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class SurveyResponse(CompanyOwned, Timestamped, Base):
    """One firm's answers: item id → stage 0–5, ``None`` for N/A; unanswered items are absent."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_version: Mapped[str] = mapped_column(String(40))
    answers: Mapped[dict[str, int | None]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default=SurveyStatus.DRAFT, index=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[float | None] = mapped_column(Float)
    level: Mapped[int | None] = mapped_column(Integer)
    priority_kpis: Mapped[list[str]] = mapped_column(JSON, default=list)
