"""Monitoring tables: alarm rules, alarm events (raise, clear, acknowledge, shelve), OEE settings, and where
alarms are sent (notification channels) with each delivery.

All are firm-owned (``company_id`` on the row), so the shared tenancy hooks scope every query. An
alarm event comes from a rule (``rule_id``) or from a deployed anomaly model (``model_id``, with the
signals that contributed most in ``explanation``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smart365.analytics.models import AnalyticsModel
from smart365.core.db import Base, CompanyOwned, Timestamped
from smart365.registry.models import Equipment, Tag


class AlarmRule(CompanyOwned, Timestamped, Base):
    """One condition on one tag (see :class:`smart365.monitoring.alarms.Rule`)."""

    __tablename__ = "alarm_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # high | low | state
    limit_value: Mapped[float] = mapped_column(Float)
    deadband: Mapped[float] = mapped_column(Float, default=0.0)
    delay_s: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[str] = mapped_column(String(10), default="warning")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    tag: Mapped[Tag] = relationship()


class AlarmEvent(CompanyOwned, Timestamped, Base):
    """One occurrence of an alarm: raised, perhaps cleared, acknowledged (who, when) and shelved.

    A rule's alarm has ``rule_id``; an anomaly model's alarm has ``model_id``, its ``tag_id`` is the signal
    that contributed most and ``explanation`` lists the top signals (see :mod:`smart365.monitoring.scoring`).
    """

    __tablename__ = "alarm_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alarm_rules.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("analytics_models.id", ondelete="CASCADE"), index=True)
    explanation: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    condition: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    raised_value: Mapped[float] = mapped_column(Float)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    cleared_value: Mapped[float | None] = mapped_column(Float)
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acked_by_name: Mapped[str | None] = mapped_column(String(200))
    shelved_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shelved_by_name: Mapped[str | None] = mapped_column(String(200))

    rule: Mapped[AlarmRule | None] = relationship()
    model: Mapped[AnalyticsModel | None] = relationship()
    tag: Mapped[Tag] = relationship()
    equipment: Mapped[Equipment] = relationship()

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class OeeSetting(CompanyOwned, Timestamped, Base):
    """Which tags feed a machine's OEE, and its ideal cycle time (seconds per part)."""

    __tablename__ = "oee_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), unique=True)
    ideal_cycle_s: Mapped[float] = mapped_column(Float)
    state_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))
    reason_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))
    count_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))
    bad_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))


class NotificationChannel(CompanyOwned, Timestamped, Base):
    """Where a firm's alarms are sent: a chat webhook (``text``: Slack, 카카오워크, Mattermost; ``jandi``;
    ``teams``), a generic JSON POST (``json``, signed with ``secret``) or e-mail (``email``: addresses in
    ``target``), for alarms of ``min_severity`` or worse, and their clearing when ``on_clear``."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(1000))  # a URL, or e-mail addresses separated by commas
    secret: Mapped[str | None] = mapped_column(String(200))
    min_severity: Mapped[str] = mapped_column(String(10), default="warning")
    on_clear: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class NotificationDelivery(CompanyOwned, Timestamped, Base):
    """One message for one channel: queued in the transaction that raised or cleared the alarm (so none is
    lost), sent with retries, at most once per alarm, change and channel (the unique key)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("channel_id", "event_id", "transition"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("alarm_events.id", ondelete="CASCADE"), index=True)
    transition: Mapped[str] = mapped_column(String(10))  # raised | cleared | test
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))

    channel: Mapped[NotificationChannel] = relationship()
    event: Mapped[AlarmEvent | None] = relationship()
