"""Monitoring API: a firm's alarms, the CSV import of its tag history (the file connector), and a machine's
anomaly models (list, deploy or roll back)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel, Field

from smart365.analytics import registry as models
from smart365.core.errors import Forbidden
from smart365.core.tenancy import principal_of
from smart365.core.uploads import ReadLimits
from smart365.monitoring import channels, notify, scoring, service
from smart365.monitoring.models import NotificationChannel
from smart365.monitoring.pages import import_history_file, store_of
from smart365.registry import service as registry
from smart365.registry.models import Company, Equipment
from smart365.telemetry.file_import import MAX_REJECTED_SHOWN, FileImportReport, rejection_text
from smart365.web.deps import ApiSession, get_settings, system_of

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


class AlarmOut(BaseModel):
    id: int
    equipment_id: int
    tag_id: int
    rule_id: int | None
    model_id: int | None
    severity: str
    condition: str
    explanation: list[dict[str, Any]] | None = None
    summary_ko: str | None = None  # an anomaly alarm's top signals, e.g. "주축 부하 +4.2σ"
    summary_en: str | None = None
    raised_at: datetime
    raised_value: float
    cleared_at: datetime | None
    acked_at: datetime | None
    acked_by_name: str | None
    shelved_until: datetime | None


class RuleOut(BaseModel):
    id: int
    tag_id: int
    kind: str
    limit_value: float
    deadband: float
    delay_s: float
    severity: str
    enabled: bool


class ChannelOut(BaseModel):
    """A notification channel; its address masked (a webhook URL is a password), its secret never shown."""

    id: int
    name: str
    kind: str
    target: str
    min_severity: str
    on_clear: bool
    enabled: bool


class DeliveryOut(BaseModel):
    id: int
    channel_id: int
    event_id: int | None
    transition: str
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


def _channel_out(channel: Any) -> ChannelOut:
    fields = {k: getattr(channel, k) for k in ChannelOut.model_fields}
    return ChannelOut(**(fields | {"target": channels.masked(channel)}))


@router.get("/companies/{company_id}/notification-channels", response_model=list[ChannelOut])
def notification_channels(session: ApiSession, company_id: int) -> list[ChannelOut]:
    """Where the firm's alarms are sent."""
    registry.get(session, Company, company_id)
    return [_channel_out(c) for c in channels.channels_of(session, company_id)]


@router.post("/companies/{company_id}/notification-channels", response_model=ChannelOut, status_code=201)
def add_notification_channel(session: ApiSession, company_id: int, data: channels.ChannelIn) -> ChannelOut:
    """Send the firm's alarms to a webhook or e-mail addresses as well (audited)."""
    registry.get(session, Company, company_id)
    return _channel_out(channels.create_channel(session, company_id, data))


@router.delete("/notification-channels/{channel_id}", status_code=204)
def remove_notification_channel(session: ApiSession, channel_id: int) -> None:
    channels.delete_channel(session, registry.get(session, NotificationChannel, channel_id))


@router.post("/notification-channels/{channel_id}/test", response_model=DeliveryOut)
def test_notification_channel(request: Request, session: ApiSession, channel_id: int) -> DeliveryOut:
    """Send a test message now; the answer says whether it was delivered and what the receiver said."""
    channel = registry.get(session, NotificationChannel, channel_id)
    if not principal_of(session).can_change(channel.company_id):
        raise Forbidden()
    system = system_of(request)
    return DeliveryOut.model_validate(notify.send_test(system.db, channel.id, system.settings), from_attributes=True)


@router.get("/companies/{company_id}/notifications", response_model=list[DeliveryOut])
def notifications(session: ApiSession, company_id: int) -> list[DeliveryOut]:
    """The firm's latest notifications (newest first), with their state and the receiver's last answer."""
    registry.get(session, Company, company_id)
    deliveries = channels.recent_deliveries(session, company_id, limit=100)
    return [DeliveryOut.model_validate(d, from_attributes=True) for d in deliveries]


class ModelOut(BaseModel):
    """A registered model version (its fitted state stays in the registry)."""

    id: int
    equipment_id: int
    name: str
    kind: str
    version: int
    status: str
    tag_ids: list[int]
    trained_from: datetime
    trained_to: datetime
    metrics: dict[str, float | None]
    created_by: str
    deployed_by: str | None
    deployed_at: datetime | None


class RejectedRowOut(BaseModel):
    line: int
    column: str
    reason: str
    reason_en: str


class RejectedCountOut(BaseModel):
    """How many rows were rejected for one reason (``code``), with the reason's text."""

    code: str
    count: int
    reason: str
    reason_en: str


class ImportOut(BaseModel):
    points: int
    stored: int
    already_stored: int
    rejected: list[RejectedRowOut] = Field(description=f"the first {MAX_REJECTED_SHOWN} rejected rows, by line")
    rejected_count: int = Field(description="every rejected row (each kept in the dead-letter table)")
    rejected_by_reason: list[RejectedCountOut]

    @classmethod
    def of(cls, report: FileImportReport) -> ImportOut:
        counts = sorted(report.rejected_by_reason.items(), key=lambda item: -item[1])
        by_reason = [
            RejectedCountOut(code=c, count=n, reason=rejection_text(c), reason_en=rejection_text(c, "en"))
            for c, n in counts
        ]
        rows = [RejectedRowOut.model_validate(r, from_attributes=True) for r in report.rejected]
        return cls(points=report.points, stored=report.stored, already_stored=report.already_stored,
                   rejected=rows, rejected_count=report.rejected_count, rejected_by_reason=by_reason)  # fmt: skip


@router.get("/companies/{company_id}/alarms", response_model=list[AlarmOut])
def company_alarms(
    session: ApiSession, company_id: int, active: Annotated[bool | None, Query()] = None
) -> list[AlarmOut]:
    """The firm's alarm events, newest first (``active=true``: only those not cleared)."""
    registry.get(session, Company, company_id)
    events = service.company_events(session, company_id, active=active)
    return [_alarm_out(e) for e in events]


def _alarm_out(event: Any) -> AlarmOut:
    out = AlarmOut.model_validate(event, from_attributes=True)
    if event.explanation:
        out.summary_ko = scoring.summary(event.explanation, "ko")
        out.summary_en = scoring.summary(event.explanation, "en")
    return out


@router.get("/companies/{company_id}/alarm-rules", response_model=list[RuleOut])
def alarm_rules(session: ApiSession, company_id: int) -> list[RuleOut]:
    """The firm's alarm rules."""
    registry.get(session, Company, company_id)
    return [RuleOut.model_validate(r, from_attributes=True) for r in service.company_rules(session, company_id)]


@router.post("/companies/{company_id}/alarm-rules", response_model=RuleOut, status_code=201)
def add_alarm_rule(session: ApiSession, company_id: int, data: service.RuleIn) -> RuleOut:
    """Add an alarm rule on one of the firm's tags; live data is checked against it within 30 s."""
    registry.get(session, Company, company_id)
    return RuleOut.model_validate(service.create_rule(session, company_id, data), from_attributes=True)


@router.post("/companies/{company_id}/telemetry/import", response_model=ImportOut)
def import_history(
    request: Request, session: ApiSession, company_id: int, file: Annotated[UploadFile, File()]
) -> ImportOut:
    """Store a CSV, Excel (.xlsx) or Parquet file of tag history (``timestamp,tag,value`` or one column per
    tag, tags as ``MACHINE/tag``).

    Rows that cannot be stored are dead-lettered; the answer lists each with its line and reason. A plain
    ``def``: the file is read and parsed in the thread pool, never on the event loop.
    """
    registry.get(session, Company, company_id)
    data = file.file.read()
    limits = ReadLimits.history(get_settings(request))
    principal = principal_of(session)
    report = import_history_file(session, store_of(request), principal, company_id, data, file.filename, limits=limits)
    return ImportOut.of(report)


@router.get("/equipment/{equipment_id}/models", response_model=list[ModelOut])
def equipment_models(session: ApiSession, equipment_id: int) -> list[ModelOut]:
    """A machine's anomaly models, every version, newest first (``status``: candidate, deployed, retired)."""
    registry.get(session, Equipment, equipment_id)
    return [ModelOut.model_validate(m, from_attributes=True) for m in models.versions(session, equipment_id)]


@router.post("/models/{model_id}/deploy", response_model=ModelOut)
def deploy_model(request: Request, session: ApiSession, model_id: int) -> ModelOut:
    """Deploy this version (the one deployed before is retired; deploying an older version rolls back).

    The centre and the firm's own members may; a consultant gets 403, anyone else 404.
    """
    user = getattr(request.state, "user", None)
    row = models.deploy(session, model_id, by=user.name if user is not None else "?")
    return ModelOut.model_validate(row, from_attributes=True)
