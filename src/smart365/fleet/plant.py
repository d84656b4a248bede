"""What leaves a plant, read from its own records and store: one function per record kind of :mod:`.wire`.

Each takes the records database and the firm's business registration number and returns rows in the order
:data:`smart365.fleet.wire.RECORDS` gives; times are epoch seconds. The uplink sends a snapshot kind (tags,
models, evidence) when its content changes, and the others (alarms, OEE per shift) for what changed since the
last message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smart365.analytics.models import AnalyticsModel
from smart365.assessment.evidence import EvidenceContext, measure_items
from smart365.assessment.instrument import default_instrument
from smart365.core.db import Database, as_utc
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.monitoring.oee import shift_at
from smart365.monitoring.service import equipment_oee, oee_settings
from smart365.registry.models import Company, Equipment, Tag
from smart365.telemetry.store import TimeSeriesStore

Rows = list[list[Any]]


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else as_utc(moment).timestamp()


@contextmanager
def _firm(db: Database, brn: str) -> Iterator[tuple[Session, int | None]]:
    with db.session(SYSTEM) as session:
        yield session, session.scalar(select(Company.id).where(Company.brn == brn))


def tags(db: Database, brn: str) -> Rows:
    """Every tag of the firm: id, name, the label people read, unit, machine."""
    with _firm(db, brn) as (session, company_id):
        found = session.execute(
            select(Tag, Equipment.name)
            .join(Equipment, Tag.equipment_id == Equipment.id)
            .where(Tag.company_id == company_id)
            .order_by(Tag.id)
        ).all()
        return [[tag.id, tag.name, tag.label, tag.unit, machine] for tag, machine in found]


def alarms(db: Database, brn: str, after_s: float) -> Rows:
    """The firm's alarm events changed after ``after_s``, as of their change."""
    with _firm(db, brn) as (session, company_id):
        events = session.scalars(
            select(AlarmEvent)
            .where(AlarmEvent.company_id == company_id, AlarmEvent.updated_at > datetime.fromtimestamp(after_s, UTC))
            .order_by(AlarmEvent.updated_at)
        ).all()
        return [
            [
                e.id,
                e.tag_id,
                e.equipment.name,
                e.severity,
                e.condition[:200],
                _epoch(e.raised_at),
                _epoch(e.cleared_at),
                _epoch(e.acked_at),
                _epoch(e.updated_at),
            ]
            for e in events
        ]


def models(db: Database, brn: str, now_s: float) -> Rows:
    """The firm's AI models (each version), with status and when deployed."""
    with _firm(db, brn) as (session, company_id):
        found = session.execute(
            select(AnalyticsModel, Equipment.name)
            .join(Equipment, AnalyticsModel.equipment_id == Equipment.id)
            .where(AnalyticsModel.company_id == company_id)
            .order_by(AnalyticsModel.id)
        ).all()
        return [
            [m.id, machine, m.name[:200], m.kind, m.version, m.status, _epoch(m.deployed_at), now_s]
            for m, machine in found
        ]


def evidence(db: Database, store: TimeSeriesStore, brn: str, now_s: float) -> Rows:
    """The stage the firm's own data shows for each maturity item with a measure, and the proof's msgid."""
    with _firm(db, brn) as (session, company_id):
        if company_id is None:
            return []
        context = EvidenceContext(session, company_id, store, datetime.fromtimestamp(now_s, UTC))
        found = measure_items(default_instrument(), context)
        return [[item, e.stage, e.detail, dict(e.params), now_s] for item, e in sorted(found.items())]


def shift_boundary(moment_s: float) -> float:
    """The start of the shift running at ``moment_s``: every shift before it has ended."""
    return shift_at(datetime.fromtimestamp(moment_s, UTC)).start.timestamp()


def oee(db: Database, store: TimeSeriesStore, brn: str, after_s: float, until_s: float) -> Rows:
    """Each machine's OEE over every shift within ``[after_s, until_s)`` (``until_s`` a shift boundary)."""
    shifts = []
    shift = shift_at(datetime.fromtimestamp(until_s, UTC))
    while (shift := shift_at(shift.start - timedelta(seconds=1))).start.timestamp() >= after_s:
        shifts.append(shift)
    with _firm(db, brn) as (session, company_id):
        machines = {m.id: m.name for m in session.scalars(select(Equipment).where(Equipment.company_id == company_id))}
        settings = oee_settings(session, machines)
        rows = []
        for shift in reversed(shifts):
            for machine_id, setting in settings.items():
                result = equipment_oee(store, setting, shift.start, shift.end)
                if result is not None:
                    rows.append(
                        [
                            machine_id,
                            shift.start.timestamp(),
                            machines[machine_id],
                            shift.name,
                            result.availability,
                            result.performance,
                            result.quality,
                            result.oee,
                            result.total,
                            result.good,
                            result.times.planned_s,
                            result.times.run_s,
                            until_s,
                        ]
                    )
        return rows
