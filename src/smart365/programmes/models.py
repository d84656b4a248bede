"""The tables of support programmes: calls (공고), firms' applications, reviewers' scores, selection results.

A call is the centre's and every firm may read an open one; an application, its scores and its selection result
belong to the applying firm (:class:`~smart365.core.db.CompanyOwned`), so tenancy scopes them like any firm row.
Eligibility rules, scoring criteria and region minimums are data (JSON) on the call, never code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, CompanyOwned, Timestamped, utcnow
from smart365.core.i18n import N_


class CallState(StrEnum):
    """A call's life: drafted, open for applications, closed, then selected."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    SELECTED = "selected"


STATE_LABELS: dict[str, str] = {
    CallState.DRAFT: N_("Draft"),
    CallState.OPEN: N_("Open for applications"),
    CallState.CLOSED: N_("Closed"),
    CallState.SELECTED: N_("Selected"),
}


class Call(Timestamped, Base):
    """A call for applications (공고): budget and cap in won, funding shares, rules, criteria and quotas."""

    __tablename__ = "programme_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    budget: Mapped[int] = mapped_column(BigInteger)  # won, the programme's whole funding
    cap: Mapped[int] = mapped_column(BigInteger)  # won, the most one firm may receive
    share_gov: Mapped[int] = mapped_column(Integer)  # percent of each project's cost: government
    share_partner: Mapped[int] = mapped_column(Integer)  # the partner (large manufacturer)
    share_firm: Mapped[int] = mapped_column(Integer)  # the firm's own share
    #: {"sobujang_only", "level_min", "level_max", "regions", "sizes", "exclude_prior_support"}
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: [{"id", "label", "weight", "kind": "review" | "priority"}]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sobujang_quota: Mapped[int] = mapped_column(Integer, default=0)  # percent of the selected firms, at least
    region_minimums: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # region code → firms, at least
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20), default=CallState.DRAFT, index=True)
    #: The last selection run: objective, proven gap, seconds, the greedy baseline's total.
    selection: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    selected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Application(CompanyOwned, Base):
    """A firm's application to a call, with the eligibility found on submission and its reasons."""

    __tablename__ = "programme_applications"
    __table_args__ = (UniqueConstraint("call_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("programme_calls.id", ondelete="CASCADE"), index=True)
    plan: Mapped[str] = mapped_column(Text)
    budget_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"item", "amount"}]
    requested: Mapped[int] = mapped_column(BigInteger)  # won asked of the programme
    kpis: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"name", "target"}]
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"rule", "msgid", "params"}]
    level: Mapped[float | None] = mapped_column(Float)  # the diagnosed level at submission
    priority: Mapped[float | None] = mapped_column(Float)  # the centre's priority score at submission (0–100)


class ReviewScore(CompanyOwned, Base):
    """One reviewer's score (0–100) of one criterion of one application."""

    __tablename__ = "programme_review_scores"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id", "criterion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("programme_applications.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(Integer)  # the user; no foreign key, a score outlives the login
    criterion: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SelectionResult(CompanyOwned, Base):
    """Whether an application was selected, its total score, and why (or why not, and what would have changed it)."""

    __tablename__ = "programme_selection_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("programme_calls.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("programme_applications.id", ondelete="CASCADE"), unique=True
    )
    selected: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    #: {"kind", "msgid", "params", "needed_score", "fitting_request", "reasons"}
    reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
