"""Monitoring API: a firm's alarms, and the CSV import of its tag history (the file connector)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel

from smart365.core.tenancy import principal_of
from smart365.monitoring import service
from smart365.monitoring.pages import import_csv, store_of
from smart365.registry import service as registry
from smart365.registry.models import Company
from smart365.web.deps import ApiSession

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


class AlarmOut(BaseModel):
    id: int
    equipment_id: int
    tag_id: int
    severity: str
    condition: str
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


class RejectedRowOut(BaseModel):
    line: int
    column: str
    reason: str
    reason_en: str


class ImportOut(BaseModel):
    points: int
    stored: int
    already_stored: int
    rejected: list[RejectedRowOut]


@router.get("/companies/{company_id}/alarms", response_model=list[AlarmOut])
def company_alarms(
    session: ApiSession, company_id: int, active: Annotated[bool | None, Query()] = None
) -> list[AlarmOut]:
    """The firm's alarm events, newest first (``active=true``: only those not cleared)."""
    registry.get(session, Company, company_id)
    events = service.company_events(session, company_id, active=active)
    return [AlarmOut.model_validate(e, from_attributes=True) for e in events]


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
async def import_history(
    request: Request, session: ApiSession, company_id: int, file: Annotated[UploadFile, File()]
) -> ImportOut:
    """Store a CSV of tag history (``timestamp,tag,value`` or one column per tag, tags as ``MACHINE/tag``).

    Rows that cannot be stored are dead-lettered; the answer lists each with its line and reason.
    """
    registry.get(session, Company, company_id)
    report = import_csv(session, store_of(request), principal_of(session), company_id, await file.read())
    return ImportOut.model_validate(report, from_attributes=True)
