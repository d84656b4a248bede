"""Telemetry's records tables: the connector leases that let several workers share the connectors, and the
series that InfluxDB-compatible clients send with the tag each one is mapped to (or the firm's inbox).

(The time series themselves live in the time-series store, not here.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base, CompanyOwned, utcnow


class ConnectorLease(Base):
    """A connector (by name) held by one collector until ``expires_at``."""

    __tablename__ = "connector_leases"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)  # SHA-1 of the name: names can be long
    connector: Mapped[str] = mapped_column(String(700))
    holder: Mapped[str] = mapped_column(String(100), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CollectorHeartbeat(Base):
    """A collecting process and when it was last seen: the live ones share the connectors."""

    __tablename__ = "collector_heartbeats"

    holder: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SeriesMapping(CompanyOwned, Base):
    """A series a firm's Telegraf, Node-RED or InfluxDB client sends (``cpu,host=press-01 usage_idle``) and
    the registry tag it is stored as. With no tag it waits in the firm's new-signal inbox (신규 신호함):
    its points are kept in the store under :func:`~smart365.telemetry.signals.held_key` until a person
    names it and assigns it to a machine, and then copied to the new tag.

    Mapping is data, not code: a row per series, made when the series first arrives or beforehand.
    """

    __tablename__ = "series_mappings"
    # Ids are never reused (SQLite AUTOINCREMENT; PostgreSQL sequences never reuse): held points are keyed by
    # the id, and a new series must never inherit the points of a deleted one, let alone another firm's.
    __table_args__ = (UniqueConstraint("company_id", "series_sha256"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(1000))  # canonical: measurement,tags(sorted) field
    series_sha256: Mapped[str] = mapped_column(String(64))  # the unique key: a long name cannot be indexed whole
    source: Mapped[str | None] = mapped_column(String(200))  # where it first came from: db=… or bucket=…
    api_key_id: Mapped[int | None] = mapped_column(Integer)  # the key that first sent it (which gateway)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_by_name: Mapped[str | None] = mapped_column(String(254))
