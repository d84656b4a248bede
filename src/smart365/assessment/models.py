"""Survey responses (전수조사 응답) and survey campaigns (설문 캠페인).

A firm has at most one draft at a time; submitting scores it with the instrument it was answered on and
stores the total and level next to that version, so a later instrument never changes a past result.

A campaign is the centre's survey round over a population (a filter stored as data, e.g. every 소부장 firm
in 경기); its members are the invited firms. A response answered for an invitation belongs to that
campaign, and the membership links to it, so the response rate is a count of linked, submitted rows.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, CompanyOwned, Timestamped


class SurveyStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class ResponseSource(StrEnum):
    """How a response reached Smart365: answered in the browser, or imported from paper/Excel."""

    WEB = "web"
    IMPORT = "import"


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
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(10), default=ResponseSource.WEB)


class CampaignStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Campaign(Timestamped, Base):
    """A survey round run by the centre. Not firm data: who sees it is decided by its members' visibility.

    ``population`` is the filter it was created from (``region``, ``sobujang``, ``ksic``, ``size``), kept
    as data so the page can say whom it covers even after firms change.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    instrument_version: Mapped[str] = mapped_column(String(40))
    population: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=CampaignStatus.OPEN, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CampaignMember(CompanyOwned, Timestamped, Base):
    """A firm invited to a campaign, and the response it gave (none until it starts answering)."""

    __tablename__ = "campaign_members"
    __table_args__ = (UniqueConstraint("campaign_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("survey_responses.id", ondelete="SET NULL"))
