"""The centre's tables of what plants forward: rollups (partitioned by time on PostgreSQL), tags, alarms, plants.

They are keyed by the firm's business registration number and the plant, as the subject named them: a plant's
own database ids mean nothing at the centre. A page joins them to the registry by ``Company.brn``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, utcnow

PARTITIONED = {"postgresql_partition_by": "RANGE (bucket)"}


class _Rollup:
    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    tag_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    avg: Mapped[float] = mapped_column(Float)
    vmin: Mapped[float] = mapped_column(Float)
    vmax: Mapped[float] = mapped_column(Float)


class FleetRollup1m(_Rollup, Base):
    """One tag's 1-minute rollup bucket from one plant (daily partitions, kept ``RETENTION_DAYS``)."""

    __tablename__ = "fleet_rollup_1m"
    __table_args__ = PARTITIONED


class FleetRollup1h(_Rollup, Base):
    """One tag's 1-hour rollup bucket from one plant (monthly partitions)."""

    __tablename__ = "fleet_rollup_1h"
    __table_args__ = PARTITIONED


class FleetTag(Base):
    """What a plant's tag id is (the plant sends its catalogue when it changes)."""

    __tablename__ = "fleet_tags"

    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    tag_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(30))
    equipment: Mapped[str] = mapped_column(String(200))


class FleetAlarm(Base):
    """An alarm of a plant in its latest known state (a later ``as_of`` replaces an earlier one)."""

    __tablename__ = "fleet_alarms"

    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    alarm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tag_id: Mapped[int] = mapped_column(BigInteger)
    equipment: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    condition: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FleetOee(Base):
    """A machine's OEE over one closed shift, as its plant computed it."""

    __tablename__ = "fleet_oee"

    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    equipment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    shift_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    equipment: Mapped[str] = mapped_column(String(200))
    shift: Mapped[str] = mapped_column(String(200))  # the shift's msgid, e.g. "Day shift"
    availability: Mapped[float | None] = mapped_column(Float)
    performance: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[float | None] = mapped_column(Float)
    oee: Mapped[float | None] = mapped_column(Float)
    parts: Mapped[float] = mapped_column(Float)
    good: Mapped[float] = mapped_column(Float)
    planned_s: Mapped[float] = mapped_column(Float)
    run_s: Mapped[float] = mapped_column(Float)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FleetModel(Base):
    """An AI model of a plant (the test-bed's), with its status: which firms deploy what, measured."""

    __tablename__ = "fleet_models"

    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    equipment: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(200))
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FleetEvidence(Base):
    """The stage the plant's own data shows for one maturity item (measured maturity), and its proof."""

    __tablename__ = "fleet_evidence"

    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    stage: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)  # a msgid; ``params`` fill it in the reader's language
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FleetPlant(Base):
    """A plant the centre has heard from, and when first and last."""

    __tablename__ = "fleet_plants"

    brn: Mapped[str] = mapped_column(String(10), primary_key=True)
    plant: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FleetDeadLetter(Base):
    """A forwarded message the centre could not store, with the reason and the message as it came."""

    __tablename__ = "fleet_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    subject: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(500))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
