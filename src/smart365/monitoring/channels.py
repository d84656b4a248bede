"""A firm's notification channels (where its alarms are sent) and their recent deliveries, for the alarms page
and the API; the sending itself is :mod:`smart365.monitoring.notify`.

>>> ChannelIn(name="생산팀", kind="email", target="a@hanbit.kr, b@hanbit.kr").target
'a@hanbit.kr, b@hanbit.kr'
>>> ChannelIn(name="생산팀", kind="text", target="hooks.slack.com/x")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ChannelIn
target
  A webhook address starts with https:// (or http://) and names a host: copy it whole. ...
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.errors import Forbidden
from smart365.core.i18n import N_
from smart365.core.tenancy import principal_of
from smart365.monitoring.models import NotificationChannel, NotificationDelivery

Kind = Literal["text", "jandi", "teams", "json", "email"]
Severity = Literal["info", "warning", "critical"]
_ADDRESS = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
RECENT = 20


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("smart365", message, {"msgid": message})


class ChannelIn(BaseModel):
    """A new place a firm's alarms are sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "생산팀 잔디",
                    "kind": "jandi",
                    "target": "https://wh.jandi.com/connect-api/webhook/1/abc",
                    "min_severity": "warning",
                    "on_clear": True,
                }
            ]
        }
    )

    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Kind
    target: Annotated[str, Field(min_length=3, max_length=1000)]
    secret: Annotated[str | None, Field(max_length=200)] = None  # signs a json channel's requests
    min_severity: Severity = "warning"
    on_clear: bool = True

    @field_validator("target")
    @classmethod
    def _target_fits_kind(cls, target: str, info: ValidationInfo) -> str:
        target = target.strip()
        if info.data.get("kind") == "email":
            if not all(_ADDRESS.match(a.strip()) for a in target.split(",")):
                raise _invalid(N_("Give e-mail addresses separated by commas, e.g. a@firm.kr, b@firm.kr."))
            return target
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _invalid(N_("A webhook address starts with https:// (or http://) and names a host: copy it whole."))
        return target


def masked(channel: NotificationChannel) -> str:
    """A channel's address as a page shows it: a webhook URL is a password (anyone holding it can post), so only
    its host shows; e-mail addresses show whole.

    >>> masked(NotificationChannel(kind="text", target="https://hooks.slack.com/services/T0/B0/secret"))
    'https://hooks.slack.com/…'
    """
    if channel.kind == "email":
        return channel.target
    parts = urlsplit(channel.target)
    return f"{parts.scheme}://{parts.netloc}/…"


def channels_of(session: Session, company_id: int) -> list[NotificationChannel]:
    """A firm's channels, by name."""
    query = select(NotificationChannel).where(NotificationChannel.company_id == company_id)
    return list(session.scalars(query.order_by(NotificationChannel.name, NotificationChannel.id)))


def recent_deliveries(session: Session, company_id: int, limit: int = RECENT) -> list[NotificationDelivery]:
    """A firm's latest deliveries, newest first."""
    query = select(NotificationDelivery).where(NotificationDelivery.company_id == company_id)
    return list(session.scalars(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


def create_channel(session: Session, company_id: int, data: ChannelIn) -> NotificationChannel:
    """Add a channel for the firm (whoever may change the firm's rows); audited, since it sends the firm's alarms
    somewhere new."""
    if not principal_of(session).can_change(company_id):
        raise Forbidden()
    channel = NotificationChannel(company_id=company_id, **data.model_dump(), enabled=True)
    session.add(channel)
    session.flush()
    details = {"name": channel.name, "kind": channel.kind, "target": masked(channel)}
    audit.record(session, audit.Action.NOTIFY_CHANNEL, f"notification_channels:{channel.id}",
                 company_id=company_id, details=details)  # fmt: skip
    return channel


def delete_channel(session: Session, channel: NotificationChannel) -> None:
    """Remove a channel and its deliveries; audited."""
    if not principal_of(session).can_change(channel.company_id):
        raise Forbidden()
    audit.record(session, audit.Action.DELETE, f"notification_channels:{channel.id}", company_id=channel.company_id,
                 details={"name": channel.name, "kind": channel.kind, "target": masked(channel)})  # fmt: skip
    session.delete(channel)
    session.flush()
