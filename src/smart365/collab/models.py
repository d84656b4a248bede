"""Collaboration tables: offers (a firm's rows), agreements between a firm and a consumer, transfers, and the
hash-chained usage log.

An offer belongs to its firm (:class:`~smart365.core.db.CompanyOwned`: the tenancy hooks scope it). Agreements,
transfers and usage records join two parties, the firm and its consumer (a data partner, another firm, the
centre), so they are not scoped by one firm: :mod:`smart365.collab.service` reads them only through checks of
both sides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smart365.core.db import Base, CompanyOwned, Timestamped, utcnow


class Offer(CompanyOwned, Timestamped, Base):
    """A firm's offer of a dataset built from its own tags over a time range, under a usage policy."""

    __tablename__ = "collab_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="dataset")
    tag_ids: Mapped[list[int]] = mapped_column(JSON)
    data_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)  # ODRL JSON-LD (an odrl:Offer)
    state: Mapped[str] = mapped_column(String(12), default="published", index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Agreement(Timestamped, Base):
    """A negotiation and, once finalized, the agreement it made: the Dataspace Protocol's states."""

    __tablename__ = "collab_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("collab_offers.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    consumer_kind: Mapped[str] = mapped_column(String(10))  # partner | group | centre (the policy's assignee)
    consumer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    consumer_company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12), index=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)  # ODRL JSON-LD (an odrl:Agreement)
    policy_sha256: Mapped[str] = mapped_column(String(64))  # the terms both sides saw, checked at VERIFIED
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)  # why it was terminated or revoked

    offer: Mapped[Offer] = relationship()


class Transfer(Base):
    """One pull of an agreement's data: who, when, how much."""

    __tablename__ = "collab_transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("collab_agreements.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)


class UsageRecord(Base):
    """One record of a firm's usage log: append-only, each hashed over its content and the previous hash.

    No foreign keys: a log must outlive what it names. ``details`` is the canonical JSON text as hashed.
    """

    __tablename__ = "collab_usage_log"
    __table_args__ = (UniqueConstraint("company_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(Integer)  # the chain: the firm whose data it is
    seq: Mapped[int] = mapped_column(BigInteger)
    at_us: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    offer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    agreement_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class BenchMember(CompanyOwned, Timestamped, Base):
    """A firm in the peer-benchmark pool: since when, which KPIs it gives, and the figures themselves (computed
    from its own data when it joined or refreshed). No other firm ever reads a row of it; releases aggregate
    them under the disclosure rules."""

    __tablename__ = "collab_bench_members"
    __table_args__ = (UniqueConstraint("company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kpis: Mapped[list[str]] = mapped_column(JSON, default=list)
    figures: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    figures_sha256: Mapped[str] = mapped_column(String(64))
    joined_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class BenchRelease(Base):
    """One release of a group's benchmark: every KPI's cell (rule, n, the DP mean where allowed), for one state of
    the group's membership. Asking again with the same members returns this row, the same noise."""

    __tablename__ = "collab_bench_releases"
    __table_args__ = (UniqueConstraint("group_key", "membership_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), index=True)
    level: Mapped[str] = mapped_column(String(30))
    firms: Mapped[int] = mapped_column(Integer)
    membership_sha256: Mapped[str] = mapped_column(String(64))
    cells: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    prov: Mapped[str] = mapped_column(Text)  # the W3C PROV-JSON bundle
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BudgetEntry(Base):
    """The privacy budget ledger: ε one firm's figure for one KPI spent in one release (append-only)."""

    __tablename__ = "collab_bench_budget"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("collab_bench_releases.id", ondelete="CASCADE"), index=True)
    kpi: Mapped[str] = mapped_column(String(60))
    epsilon: Mapped[float] = mapped_column(Float)
    spent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
