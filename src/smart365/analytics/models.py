"""The model registry's table: fitted models of a firm's machines, versioned, with who deployed what when.

It lives in ``analytics`` because :mod:`smart365.analytics.registry` (which only may import
:mod:`smart365.core`) owns it. The links to the machine and its tags are foreign keys *by table name*
(``equipment.id``) and a JSON list of tag ids, so this module never imports the ``registry`` package;
the row is firm-owned (``company_id``), so the shared tenancy hooks scope it like every other firm row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, CompanyOwned, Timestamped

STATUSES = ("candidate", "deployed", "retired")


class AnalyticsModel(CompanyOwned, Timestamped, Base):
    """One version of one fitted model of one machine (``status``: candidate | deployed | retired).

    ``state`` is :meth:`smart365.analytics.contract.ModelState.to_bytes` (an ``.npz`` loaded without
    pickle); ``tag_ids`` are its input signals in the order its state names them; ``settings`` holds how
    it runs online (e.g. score only while the machine runs, on-delay of its alarm).
    """

    __tablename__ = "analytics_models"
    __table_args__ = (UniqueConstraint("equipment_id", "name", "version", name="uq_analytics_models_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    tag_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    trained_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trained_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="candidate", index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    deployed_by: Mapped[str | None] = mapped_column(String(200))
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ModelScore(CompanyOwned, Base):
    """A deployed model's latest live score, as the scoring worker last wrote it (at most every few seconds),
    so the machine page shows it whichever process scores."""

    __tablename__ = "model_scores"

    model_id: Mapped[int] = mapped_column(ForeignKey("analytics_models.id", ondelete="CASCADE"), primary_key=True)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    score: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)  # rows scored since the worker started
