"""Monitoring API: a firm's alarms, the CSV import of its tag history (the file connector), and a machine's
anomaly models (list, deploy or roll back)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel, Field

from smart365.analytics import registry as models
from smart365.core.tenancy import principal_of
from smart365.core.uploads import ReadLimits
from smart365.monitoring import scoring, service
from smart365.monitoring.pages import import_history_file, store_of
from smart365.registry import service as registry
from smart365.registry.models import Company, Equipment
from smart365.telemetry.file_import import MAX_REJECTED_SHOWN, FileImportReport, rejection_text
from smart365.web.deps import ApiSession, get_settings

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
