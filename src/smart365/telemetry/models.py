"""Telemetry's records tables: the connector leases that let several workers share the connectors.

(The time series themselves live in the time-series store, not here.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from smart365.core.db import Base


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
