"""The tables of support programmes: calls (공고), firms' applications, reviewers' scores, selection results.

A call is the centre's and every firm may read an open one; an application, its scores and its selection result
belong to the applying firm (:class:`~smart365.core.db.CompanyOwned`), so tenancy scopes them like any firm row.
Eligibility rules, scoring criteria and region minimums are data (JSON) on the call, never code.

판로 (sales channels): a buyer's sourcing need, each supplier ranked for it with the reasons per criterion, a
firm's capability profile (its consent to show measured quality among it) and its answer, which moves through
the pipeline interest → RFQ → sample → evaluation → order (with the amount won) or is declined.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)  # fmt: skip
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


# --------------------------------------------------------------------------- 판로 (sales channels)


class NeedState(StrEnum):
    """A sourcing need's life: open to answers, closed by the buyer, or ordered from a supplier."""

    OPEN = "open"
    CLOSED = "closed"
    ORDERED = "ordered"


NEED_STATE_LABELS: dict[str, str] = {
    NeedState.OPEN: N_("Open"),
    NeedState.CLOSED: N_("Closed"),
    NeedState.ORDERED: N_("Ordered"),
}


class Stage(StrEnum):
    """A supplier's way from a need to an order (판로 pipeline), or out of it."""

    INTEREST = "interest"
    RFQ = "rfq"
    SAMPLE = "sample"
    EVALUATION = "evaluation"
    ORDER = "order"
    DECLINED = "declined"


STAGE_LABELS: dict[str, str] = {
    Stage.INTEREST: N_("Interest"),
    Stage.RFQ: N_("Request for quotation"),
    Stage.SAMPLE: N_("Sample"),
    Stage.EVALUATION: N_("Evaluation"),
    Stage.ORDER: N_("Order"),
    Stage.DECLINED: N_("Declined"),
}


class SourcingNeed(Timestamped, Base):
    """A buyer's sourcing need (the partner or another large firm): what, in what, how, how many, to where, by when.

    The buyer's row, not a firm's: a data partner posts its own, the centre posts for any buyer."""

    __tablename__ = "sourcing_needs"

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer: Mapped[str] = mapped_column(String(200))  # the buying firm's name as it shows
    posted_by: Mapped[int | None] = mapped_column(Integer, index=True)  # the user; no foreign key
    item: Mapped[str] = mapped_column(String(200))
    material: Mapped[str] = mapped_column(String(200), default="")
    process: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[str] = mapped_column(Text, default="")  # tolerance, drawing notes
    quantity: Mapped[int | None] = mapped_column(Integer)  # pieces a month
    certifications: Mapped[list[str]] = mapped_column(JSON, default=list)  # codes of matching.CERTIFICATIONS
    region: Mapped[str | None] = mapped_column(String(20))  # delivery region; None: anywhere
    target_date: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), default=NeedState.OPEN, index=True)
    matched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SourcingMatch(Base):
    """A supplier ranked for a need, with every criterion's score and reason (the need's result, kept with it;
    read only through :mod:`smart365.programmes.sourcing`, which shows a firm its own and a buyer the firms that
    answered)."""

    __tablename__ = "sourcing_matches"
    __table_args__ = (UniqueConstraint("need_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("sourcing_needs.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"id", "score", "weight", …}]


class SupplierProfile(CompanyOwned, Base):
    """A firm's capability profile for 판로: what it makes and how, its certifications and capacity, and whether
    buyers may see its measured quality (Cpk, first-pass yield, maturity level)."""

    __tablename__ = "sourcing_profiles"
    __table_args__ = (UniqueConstraint("company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    processes: Mapped[list[str]] = mapped_column(JSON, default=list)
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int | None] = mapped_column(Integer)  # pieces a month
    cpk: Mapped[float | None] = mapped_column(Float)
    fpy: Mapped[float | None] = mapped_column(Float)  # first-pass yield, 0–1
    share_quality: Mapped[bool] = mapped_column(Boolean, default=False)  # the firm's consent
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SourcingResponse(CompanyOwned, Base):
    """A firm's answer to a need and where it stands in the pipeline; ``won`` is the ordered amount."""

    __tablename__ = "sourcing_responses"
    __table_args__ = (UniqueConstraint("need_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("sourcing_needs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(20), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    won: Mapped[int | None] = mapped_column(BigInteger)  # won, the order's amount
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"stage", "at", "by"}]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
