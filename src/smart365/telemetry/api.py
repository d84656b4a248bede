"""Telemetry HTTP API: batch ingest (JSON or InfluxDB line protocol), latest values, downsampled series.

Tenancy: every point is resolved through the registry's tags in the caller's scoped session, and only
tags of firms the caller may change are writable; any other tag id is dead-lettered as ``unknown_tag``
(which also hides whether it exists). Reads look the tag up the same way before touching the store.
This module is the one place telemetry meets the registry; the store itself knows only tag ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.tenancy import principal_of
from smart365.registry import service as registry
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from smart365.telemetry.line_protocol import PRECISION_TO_US, parse_lines
from smart365.telemetry.metrics import DEAD_LETTERS, INGEST_POINTS
from smart365.telemetry.pipeline import Pipeline, TagSpec, reason_text
from smart365.telemetry.store import TimeSeriesStore
from smart365.web.deps import ApiSession, IngestSession, system_of

router = APIRouter(prefix="/api/v1", tags=["telemetry"])
log = logging.getLogger(__name__)
MAX_POINTS_PER_REQUEST = 200_000


class TooLarge(AppError):
    status = 413
    code = "too_large"
    default_message = N_("Too many points in one request: send at most {limit}.")


class PointIn(BaseModel):
    tag_id: int
    ts: datetime
    value: float | None
    quality: int = 0


class IngestIn(BaseModel):
    """A JSON batch of points."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"points": [{"tag_id": 1, "ts": "2026-11-25T09:00:00+09:00", "value": 55.2}]}]}
    )

    points: list[PointIn] = Field(max_length=MAX_POINTS_PER_REQUEST)


class Rejected(BaseModel):
    """A rejected row or line: where it was, why (current language and English)."""

    row: int
    reason: str
    reason_en: str


class IngestResult(BaseModel):
    received: int
    stored: int = Field(description="points stored now")
    already_stored: int = Field(description="points the store already held (re-sent data)")
    dead_letter: int
    rejected: list[Rejected]


LINE_EXAMPLE = "mct,equipment_id=1 spindle_load=55.2,spindle_temp=41.5 1764028800000000000"
INGEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": IngestIn.model_json_schema()},
        "text/plain": {"schema": {"type": "string"}, "example": LINE_EXAMPLE},
    },
}


def get_store(request: Request) -> TimeSeriesStore:
    return system_of(request).store


@router.post("/ingest", response_model=IngestResult, openapi_extra={"requestBody": INGEST_BODY})
async def ingest(request: Request, session: IngestSession, precision: str = "ns") -> IngestResult:
    """Store a batch of points: JSON ``{"points": [...]}`` or line protocol (``text/plain``).

    Points that fail validation go to the dead-letter table; the answer says which and why.
    """
    body = await request.body()
    if request.headers.get("content-type", "").startswith("text/plain"):
        if precision not in PRECISION_TO_US:
            raise Invalid(N_("precision must be one of ns, us, ms, s."))
        batch, rows, rejected = _from_lines(session, body.decode("utf-8", errors="replace"), precision)
    else:
        batch, rows, rejected = _from_json(body)
    if len(batch) > MAX_POINTS_PER_REQUEST:
        raise TooLarge(limit=MAX_POINTS_PER_REQUEST)
    on_stored = system_of(request).alarms.process  # the alarm rules and deployed models see HTTP points too
    return _store(get_store(request), _pipeline(session, batch), batch, rows, rejected, on_stored)


def _from_json(body: bytes) -> tuple[Batch, np.ndarray, list[Rejected]]:
    try:
        data = IngestIn.model_validate_json(body)
    except ValidationError as exc:
        raise Invalid(N_("The body is not a valid JSON batch: {detail}"), detail=str(exc.errors()[0]["msg"])) from exc
    points = [p.model_dump() for p in data.points]
    batch = Batch.from_records(points) if points else Batch.empty()
    return batch, np.arange(1, len(points) + 1), []


def _from_lines(session: Session, text: str, precision: str) -> tuple[Batch, np.ndarray, list[Rejected]]:
    parsed = parse_lines(text, precision)
    rejected = [
        _rejected(line, gettext(msg).format(**p), translate_in("en", msg).format(**p)) for line, msg, p in parsed.errors
    ]
    names = {(r[1], r[2]) for r in parsed.readings}
    ids = _tag_ids_by_name(session, {equipment for equipment, _name in names})
    tag_ids = [ids.get((equipment, name), -1) for _line, equipment, name, _ts, _value in parsed.readings]
    rows = np.array([r[0] for r in parsed.readings], dtype=np.int64)
    if not parsed.readings:
        return Batch.empty(), rows, rejected
    batch = Batch.from_columns(tag_ids, [r[3] for r in parsed.readings], [r[4] for r in parsed.readings])
    return batch, rows, rejected


def _tag_ids_by_name(session: Session, equipment_ids: set[int]) -> dict[tuple[int, str], int]:
    rows = session.execute(select(Tag.equipment_id, Tag.name, Tag.id).where(Tag.equipment_id.in_(equipment_ids)))
    return {(equipment, name): tag_id for equipment, name, tag_id in rows}


def _pipeline(session: Session, batch: Batch) -> Pipeline:
    """Validation limits for the tags in ``batch`` that the caller may write; any other tag is unknown."""
    principal = principal_of(session)
    ids = {int(t) for t in np.unique(batch.tag_id) if t >= 0}
    specs = {
        tag.id: TagSpec(min_value=tag.min_value, max_value=tag.max_value)
        for tag in session.scalars(select(Tag).where(Tag.id.in_(ids)))
        if principal.can_change(tag.company_id)
    }
    return Pipeline(specs)


def _store(
    store: TimeSeriesStore,
    pipeline: Pipeline,
    batch: Batch,
    rows: np.ndarray,
    rejected: list[Rejected],
    on_stored: Callable[[Batch], object] | None = None,
) -> IngestResult:
    """Validate, store the good points, dead-letter the rest; count both for Prometheus.

    ``on_stored`` sees the accepted points once they are stored; its failure never fails the request.
    """
    received = len(batch) + len(rejected)
    result = pipeline.process(batch)
    stored = store.append(result.accepted) if len(result.accepted) else 0
    if on_stored is not None and len(result.accepted):
        try:
            on_stored(result.accepted)
        except Exception:
            log.exception("a listener of stored telemetry failed")
    if len(result.dead):
        store.dead_letter(result.dead)
    INGEST_POINTS.labels("http").inc(stored)
    for code, n in [*result.dead.counts().items(), ("malformed", len(rejected))]:
        DEAD_LETTERS.labels(code).inc(n)
    rejected += [
        _rejected(int(rows[position]), reason_text(str(code)), reason_text(str(code), "en"))
        for position, code in zip(result.dead.position, result.dead.reason_codes(), strict=True)
    ]
    return IngestResult(
        received=received,
        stored=stored,
        already_stored=len(result.accepted) - stored,
        dead_letter=len(result.dead),
        rejected=sorted(rejected, key=lambda r: r.row),
    )


def _rejected(row: int, reason: str, reason_en: str) -> Rejected:
    return Rejected(row=row, reason=reason, reason_en=reason_en)


class Latest(BaseModel):
    tag_id: int
    ts: datetime | None
    value: float | None
    quality: int | None


class SeriesPoint(BaseModel):
    t: datetime
    min: float
    max: float
    avg: float
    count: int


class Series(BaseModel):
    tag_id: int
    unit: str | None
    start: datetime
    end: datetime
    points: list[SeriesPoint]


@router.get("/tags/{tag_id}/latest", response_model=Latest)
def latest(request: Request, session: ApiSession, tag_id: int) -> Latest:
    """The newest value of a tag (nulls when nothing has arrived yet)."""
    registry.get(session, Tag, tag_id)
    rows = get_store(request).latest([tag_id]).to_pylist()
    return Latest(**rows[0]) if rows else Latest(tag_id=tag_id, ts=None, value=None, quality=None)


@router.get("/tags/{tag_id}/series", response_model=Series)
def series(
    request: Request,
    session: ApiSession,
    tag_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Series:
    """Min/max/avg per bucket over ``[start, end)`` (default: the last 24 hours), at most ``max_points``."""
    tag = registry.get(session, Tag, tag_id)
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=24)
    if start >= end:
        raise Invalid(N_("start must be before end."))
    table = get_store(request).range(tag_id, start, end, max_points=max_points).to_pylist()
    points = [SeriesPoint(t=r["bucket"], **{k: r[k] for k in ("min", "max", "avg", "count")}) for r in table]
    return Series(tag_id=tag_id, unit=tag.unit, start=start, end=end, points=points)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
