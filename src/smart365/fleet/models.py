"""The centre's tables of what plants forward: rollups (partitioned by time on PostgreSQL), tags, alarms, plants.

They are keyed by the firm's business registration number and the plant, as the subject named them: a plant's
own database ids mean nothing at the centre. A page joins them to the registry by ``Company.brn``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Integer, LargeBinary, String
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
