"""Telemetry HTTP API: batch ingest (JSON or InfluxDB line protocol), latest values, downsampled series.

Tenancy: every point is resolved through the registry's tags in the caller's scoped session, and only
tags of firms the caller may change are writable; any other tag id is dead-lettered as ``unknown_tag``
(which also hides whether it exists). Reads look the tag up the same way before touching the store.
This module is the one place telemetry meets the registry; the store itself knows only tag ids.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import quote

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.errors import AppError, Invalid
from smart365.core.i18n import N_, gettext, translate_in
from smart365.core.tenancy import principal_of
from smart365.registry import service as registry
from smart365.registry.models import Equipment, Tag
from smart365.telemetry.batch import QUALITY_GOOD, QUALITY_MAX, Batch
from smart365.telemetry.export import ExportTag, csv_chunks, parquet_chunks
from smart365.telemetry.json_batch import plain_points
from smart365.telemetry.line_protocol import PRECISION_TO_US, LineError, TooManyPoints, parse_lines
from smart365.telemetry.line_protocol import REASONS as LINE_REASONS
from smart365.telemetry.metrics import DEAD_LETTERS, INGEST_POINTS
from smart365.telemetry.pipeline import REASONS, Pipeline, TagSpec, reason_text, unreadable_letters
from smart365.telemetry.store import TimeSeriesStore
from smart365.web.deps import ApiSession, InflatedBody, KeySession, system_of

router = APIRouter(prefix="/api/v1", tags=["telemetry"])
log = logging.getLogger(__name__)
MAX_POINTS_PER_REQUEST = 200_000
MAX_REJECTED_SHOWN = 100


class TooLarge(AppError):
    status = 413
    code = "too_large"
    default_message = N_("Too many points or lines in one request: send at most {limit}.")


class PointIn(BaseModel):
    tag_id: int = Field(ge=-(2**63), le=2**63 - 1)  # an id the store can hold; any other unknown id is dead-lettered
    ts: datetime
    value: float | None
    quality: int = Field(QUALITY_GOOD, ge=0, le=QUALITY_MAX)  # a missing quality is good, as in the store


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


class RejectedCount(BaseModel):
    """How many rows or lines were rejected for one reason (``code``), with the reason's text."""

    code: str
    count: int
    reason: str
    reason_en: str


class IngestResult(BaseModel):
    received: int
    stored: int = Field(description="points stored now")
    already_stored: int = Field(description="points the store already held with the same value (re-sent data)")
    conflicts: int = Field(
        default=0,
        description="points the store already held with another value: settled by the firm's correction policy, "
        "the value not kept is in the point's revisions",
    )
    dead_letter: int = Field(description="rejected points and lines, every one kept in the dead-letter table")
    rejected: list[Rejected] = Field(description=f"the first {MAX_REJECTED_SHOWN} rejected, by row")
    rejected_by_reason: list[RejectedCount] = Field(default_factory=list, description="all rejected, by reason")


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
def ingest(request: Request, session: KeySession, body: InflatedBody, precision: str = "ns") -> IngestResult:
    """Store a batch of points: JSON ``{"points": [...]}`` or line protocol (``text/plain``), sent as it is or
    with ``Content-Encoding: gzip`` (413 when it unpacks past the body limit).

    Points and lines that fail go to the dead-letter table; the answer lists the first ones with the reason
    and counts all of them by reason. A plain ``def``: the body is parsed in the thread pool, never on the
    event loop.
    """
    if request.headers.get("content-type", "").startswith("text/plain"):
        if precision not in PRECISION_TO_US:
            raise Invalid(N_("precision must be one of ns, us, ms, s."))
        batch, rows, errors = _from_lines(session, body.decode("utf-8", errors="replace"), precision)
    else:
        batch, rows, errors = _from_json(body)
    if len(batch) > MAX_POINTS_PER_REQUEST:
        raise TooLarge(limit=MAX_POINTS_PER_REQUEST)
    on_stored = system_of(request).alarms.process  # the alarm rules and deployed models see HTTP points too
    return store_points(get_store(request), _pipeline(session, batch), batch, rows, errors, on_stored)


def _from_json(body: bytes) -> tuple[Batch, np.ndarray, list[LineError]]:
    if (plain := plain_points(body, MAX_POINTS_PER_REQUEST)) is not None:  # the common case, column by column
        return plain, np.arange(1, len(plain) + 1), []
    try:
        data = IngestIn.model_validate_json(body)
    except ValidationError as exc:
        raise Invalid(N_("The body is not a valid JSON batch: {detail}"), detail=str(exc.errors()[0]["msg"])) from exc
    points = [p.model_dump() for p in data.points]
    batch = Batch.from_records(points) if points else Batch.empty()
    return batch, np.arange(1, len(points) + 1), []


def _from_lines(session: Session, text: str, precision: str) -> tuple[Batch, np.ndarray, list[LineError]]:
    try:
        parsed = parse_lines(text, precision, max_points=MAX_POINTS_PER_REQUEST)
    except TooManyPoints as exc:
        raise TooLarge(limit=exc.limit) from exc
    names = {(r[1], r[2]) for r in parsed.readings}
    ids = _tag_ids_by_name(session, {equipment for equipment, _name in names})
    tag_ids = [ids.get((equipment, name), -1) for _line, equipment, name, _ts, _value in parsed.readings]
    rows = np.array([r[0] for r in parsed.readings], dtype=np.int64)
    if not parsed.readings:
        return Batch.empty(), rows, parsed.errors
    batch = Batch.from_columns(tag_ids, [r[3] for r in parsed.readings], [r[4] for r in parsed.readings])
    return batch, rows, parsed.errors


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


def store_points(
    store: TimeSeriesStore,
    pipeline: Pipeline,
    batch: Batch,
    rows: np.ndarray,
    errors: list[LineError],
    on_stored: Callable[[Batch], object] | None = None,
    count_new: bool = True,
) -> IngestResult:
    """Validate, store the good points, dead-letter the rest (unreadable lines too); count both for Prometheus.

    ``on_stored`` sees the accepted points once they are stored; its failure never fails the request. With
    ``count_new=False`` the points are taken through the store's ingest log (:meth:`TimeSeriesStore.accept`),
    durable but not yet told apart: ``stored`` then counts every accepted point, new or re-sent.
    """
    received = len(batch) + len(errors)
    result = pipeline.process(batch)
    conflicts = 0
    if not count_new:
        stored = store.accept(result.accepted)
    else:
        written = store.write(result.accepted)
        stored, conflicts = written.new, written.conflicts
    if on_stored is not None and len(result.accepted):
        try:
            on_stored(result.accepted)
        except Exception:
            log.exception("a listener of stored telemetry failed")
    if len(result.dead):
        store.dead_letter(result.dead)
    if errors:
        store.dead_letter(_line_letters(errors))
    INGEST_POINTS.labels("http").inc(stored)
    counts = Counter(e.code for e in errors) + Counter(result.dead.counts())
    for code, n in counts.items():
        DEAD_LETTERS.labels(code).inc(n)
    return IngestResult(
        received=received,
        stored=stored,
        already_stored=len(result.accepted) - stored - conflicts,
        conflicts=conflicts,
        dead_letter=len(result.dead) + len(errors),
        rejected=_first_rejected(errors, rows[result.dead.position], result.dead.reason_codes()),
        rejected_by_reason=[_count(code, n) for code, n in counts.most_common()],
    )


def _line_letters(errors: list[LineError]) -> pa.Table:
    """Dead-letter rows for lines that could not be read: the reason with its details and the line itself."""
    english = [translate_in("en", e.message).format(**e.params) for e in errors]
    korean = [translate_in("ko", e.message).format(**e.params) for e in errors]
    return unreadable_letters([e.code for e in errors], english, korean, [e.raw for e in errors])


def _first_rejected(errors: list[LineError], dead_rows: np.ndarray, dead_codes: np.ndarray) -> list[Rejected]:
    """The first :data:`MAX_REJECTED_SHOWN` rejections by row, lines the parser refused and points the pipeline
    refused together (a whole bad batch is answered with a sample, never echoed back)."""
    shown = [
        _rejected(e.line, gettext(e.message).format(**e.params), translate_in("en", e.message).format(**e.params))
        for e in errors[:MAX_REJECTED_SHOWN]
    ]
    first = np.argsort(dead_rows, kind="stable")[:MAX_REJECTED_SHOWN]
    shown += [
        _rejected(int(dead_rows[i]), reason_text(str(dead_codes[i])), reason_text(str(dead_codes[i]), "en"))
        for i in first
    ]
    return sorted(shown, key=lambda r: r.row)[:MAX_REJECTED_SHOWN]


def _count(code: str, count: int) -> RejectedCount:
    message = LINE_REASONS.get(code) or REASONS[code]
    return RejectedCount(code=code, count=count, reason=gettext(message), reason_en=translate_in("en", message))


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
def latest(request: Request, session: KeySession, tag_id: int) -> Latest:
    """The newest value of a tag (nulls when nothing has arrived yet)."""
    registry.get(session, Tag, tag_id)
    rows = get_store(request).latest([tag_id]).to_pylist()
    return Latest(**rows[0]) if rows else Latest(tag_id=tag_id, ts=None, value=None, quality=None)


@router.get("/tags/{tag_id}/series", response_model=Series)
def series(
    request: Request,
    session: KeySession,
    tag_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Series:
    """Min/max/avg per bucket over ``[start, end)`` (default: the last 24 hours), at most ``max_points``.

    A firm's API key may read it too: Grafana's JSON recipe (``docs/grafana.md``) does.
    """
    tag = registry.get(session, Tag, tag_id)
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=24)
    if start >= end:
        raise Invalid(N_("start must be before end."))
    table = get_store(request).range(tag_id, start, end, max_points=max_points).to_pylist()
    points = [SeriesPoint(t=r["bucket"], **{k: r[k] for k in ("min", "max", "avg", "count")}) for r in table]
    return Series(tag_id=tag_id, unit=tag.unit, start=start, end=end, points=points)


EXPORT_FORMATS = {"csv": ("text/csv; charset=utf-8", csv_chunks), "parquet": ("application/vnd.apache.parquet",
                                                                            parquet_chunks)}  # fmt: skip


@router.get("/equipment/{equipment_id}/export", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}})  # fmt: skip
def export_machine(
    request: Request,
    session: ApiSession,
    equipment_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    tag_id: Annotated[list[int] | None, Query(max_length=500)] = None,
    format: Literal["csv", "parquet"] = "csv",
) -> StreamingResponse:
    """Every stored point of a machine's tags (or of those ``tag_id`` names) over ``[start, end)`` (default: the
    last 24 hours) as CSV or Parquet, streamed a slice at a time whatever the range; the export is audited."""
    machine = registry.get(session, Equipment, equipment_id)
    tags = [t for t in machine.tags if tag_id is None or t.id in tag_id]
    if tag_id is not None and len(tags) < len(set(tag_id)):
        raise Invalid(N_("Some of the tags are not this machine's."))
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=24)
    if start >= end:
        raise Invalid(N_("start must be before end."))
    details = {"tags": [t.id for t in tags], "start": start.isoformat(), "end": end.isoformat(), "format": format}
    audit.record(session, audit.Action.EXPORT, f"equipment:{machine.id}", company_id=machine.company_id,
                 details=details)  # fmt: skip
    chosen = [ExportTag(t.id, t.label, machine.name, t.unit) for t in tags]
    media, chunks = EXPORT_FORMATS[format]
    name = f"{machine.name}-{start:%Y%m%d%H%M}-{end:%Y%m%d%H%M}.{format}"
    body = chunks(get_store(request), chosen, int(start.timestamp() * 1e6), int(end.timestamp() * 1e6))
    disposition = f"attachment; filename=\"export.{format}\"; filename*=UTF-8''{quote(name)}"
    return StreamingResponse(body, media_type=media, headers={"Content-Disposition": disposition})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
