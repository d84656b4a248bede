"""The ``testbed_runs`` table: one AI test-bed run of a firm, from queued to done or failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, CompanyOwned, Timestamped

STATUSES = ("queued", "running", "done", "failed")


class TestbedRun(CompanyOwned, Timestamped, Base):
    """A run: what table (``source``), which target, the status and progress, and the report or the error."""

    __tablename__ = "testbed_runs"
    __test__ = False  # not a pytest test class, despite the name

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[str] = mapped_column(String(200))
    source_kind: Mapped[str] = mapped_column(String(10))  # file | tags
    source: Mapped[str] = mapped_column(String(500))  # what a person reads: file name, or machine and tags
    source_spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # table token, tag ids, window
    target: Mapped[str] = mapped_column(String(200))
    time_column: Mapped[str | None] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(20), default="auto")  # auto | classification | regression | anomaly
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    step: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # fold, folds, candidate, done, total
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, in English
    error_ko: Mapped[str | None] = mapped_column(Text)  # and in Korean
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deployed_model_id: Mapped[int | None] = mapped_column(Integer)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")
