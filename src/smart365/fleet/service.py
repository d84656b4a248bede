"""What the centre's pages read from what plants forward: each plant's state, a firm's tags and their series.

The fleet tables are keyed by the firm's business registration number, not by a company id, so the tenancy
hooks do not scope them: every query here keeps to the firms the session's principal may see
(:func:`visible_brns`). A plant whose number names no registered firm is seen only by those who see every
firm (the centre's administrator).

>>> now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
>>> [status_of(now - timedelta(minutes=m), now).value for m in (4, 59, 61)]
['receiving', 'delayed', 'silent']
>>> from smart365.core.i18n import use_locale
>>> with use_locale("ko"):
...     [ago(now - timedelta(seconds=s), now) for s in (20, 180, 5 * 3600, 26 * 86400)]
['방금', '3분 전', '5시간 전', '26일 전']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from smart365.core.db import as_utc, to_local, utcnow
from smart365.core.i18n import N_, _, ngettext, translate_in
from smart365.core.tenancy import principal_of
from smart365.fleet.models import FleetAlarm, FleetDeadLetter, FleetPlant, FleetRollup1h, FleetRollup1m, FleetTag
from smart365.fleet.wire import ROOT
from smart365.registry.models import Company
from smart365.registry.vocab import SIGNAL_LABELS

RECEIVING = timedelta(minutes=5)  # heard from within this: receiving
DELAYED = timedelta(hours=1)  # within this: delayed; beyond: disconnected
DAY = timedelta(hours=24)
TAGS_MAX = 100  # tags one firm's section shows
AnySelect = Select[*tuple[Any, ...]]
Query = TypeVar("Query", bound=AnySelect)


class Status(StrEnum):
    """How recently the centre heard from a plant."""

    RECEIVING = "receiving"
    DELAYED = "delayed"
    SILENT = "silent"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    Status.RECEIVING: N_("Receiving"),
    Status.DELAYED: N_("Delayed"),
    Status.SILENT: N_("Disconnected"),
}

#: Why the centre dead-lettered a message, by the start of the reason the worker wrote (:mod:`.centre`, :mod:`.wire`).
REASONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("subject", re.compile(r"^subject "), N_("Subject not of the form s365.<brn>.<plant>.<kind>")),
    ("kind", re.compile(r"^unknown kind "), N_("Unknown message kind")),
    ("json", re.compile(r"^not JSON"), N_("Not JSON")),
    ("window", re.compile(r"rows outside the kept window$"), N_("Rows outside the kept time window")),
    ("database", re.compile(r"^refused by the database"), N_("Refused by the database")),
    ("rows", re.compile(r"^(no '|row \d+)"), N_("Malformed rows")),
)
OTHER_REASON = N_("Other")


def status_of(last_seen: datetime, now: datetime) -> Status:
    """Receiving when heard from in the last 5 minutes, delayed within the hour, else disconnected."""
    quiet = now - as_utc(last_seen)
    if quiet < RECEIVING:
        return Status.RECEIVING
    return Status.DELAYED if quiet < DELAYED else Status.SILENT


def ago(moment: datetime, now: datetime) -> str:
    """How long ago, in the current language: "방금", "3분 전", "5시간 전", "2일 전"."""
    seconds = max(0, int((now - as_utc(moment)).total_seconds()))
    if seconds < 60:
        return _("just now")
    if seconds < 3600:
        return _("{n} min ago").format(n=seconds // 60)
    if seconds < 86400:
        return _("{n} h ago").format(n=seconds // 3600)
    days = seconds // 86400
    return ngettext("{n} day ago", "{n} days ago", days).format(n=days)


def tag_label(name: str, label: str) -> str:
    """A tag's label in the reader's language: a plant sends its tags' labels in Korean, and one that is a
    known signal's own label (not a display name someone gave it) reads in the reader's language.

    >>> from smart365.core.i18n import use_locale
    >>> with use_locale("en"):
    ...     tag_label("spindle_load", "주축 부하"), tag_label("spindle_load", "1번 주축"), tag_label("x", "")
    ('spindle load', '1번 주축', 'x')
    """
    known = SIGNAL_LABELS.get(name)
    if known is not None and label in (translate_in("ko", known), known, name, ""):
        return _(known)
    return label or name


def reason_kind(reason: str) -> tuple[str, str]:
    """A dead letter's reason as (kind, msgid of its label).

    >>> reason_kind("3 of 10 rows outside the kept window")[0], reason_kind("row 2: avg nan is not a finite number")[0]
    ('window', 'rows')
    """
    for kind, pattern, label in REASONS:
        if pattern.search(reason):
            return kind, label
    return "other", OTHER_REASON


def visible_brns(session: Session) -> Select[str] | None:
    """The business registration numbers of the firms the session may see (a subquery), or ``None`` for all
    of them, unregistered plants too (the centre's administrator and the system)."""
    visible = principal_of(session).visible_companies()
    if visible is None:
        return None
    return select(Company.brn).where(Company.id.in_(sorted(visible)))


def _scoped(query: Query, brn: Any, brns: Select[str] | None) -> Query:
    return query if brns is None else query.where(brn.in_(brns))


@dataclass(frozen=True)
class PlantRow:
    """One plant the centre hears from, its firm (``None`` when no registered firm has its number) and counts."""

    brn: str
    plant: str
    company_id: int | None
    company_name: str | None
    region: str | None
    first_seen: datetime
    last_seen: datetime
    status: Status
    tags: int = 0
    buckets_24h: int = 0
    open_alarms: int = 0

    @classmethod
    def of(cls, plant: FleetPlant, now: datetime, company_id: int | None = None, company_name: str | None = None,
           region: str | None = None, **counts: int) -> PlantRow:  # fmt: skip
        """The row of ``plant`` as of ``now``, with its firm and counts where the caller has them."""
        first, last = as_utc(plant.first_seen), as_utc(plant.last_seen)
        status = status_of(last, now)
        return cls(plant.brn, plant.plant, company_id, company_name, region, first, last, status, **counts)


@dataclass(frozen=True)
class ReasonCount:
    kind: str
    label: str
    count: int
    example: str


@dataclass
class Fleet:
    """The connected plants the caller may see, and the figures above their table."""

    plants: list[PlantRow]
    dead_letters: int = 0
    reasons: list[ReasonCount] = field(default_factory=list)

    @property
    def reporting(self) -> int:
        """Plants heard from in the last 5 minutes."""
        return sum(p.status is Status.RECEIVING for p in self.plants)

    @property
    def silent(self) -> int:
        """Plants not heard from for over an hour."""
        return sum(p.status is Status.SILENT for p in self.plants)

    @property
    def firms(self) -> int:
        return len({p.brn for p in self.plants})

    @property
    def firms_reporting(self) -> int:
        """Firms with a plant heard from in the last 5 minutes."""
        return len({p.brn for p in self.plants if p.status is Status.RECEIVING})


def _counts(session: Session, query: AnySelect) -> dict[tuple[str, str], int]:
    return {(brn, plant): int(n) for brn, plant, n in session.execute(query)}


def plants(session: Session, now: datetime | None = None) -> list[PlantRow]:
    """Every plant the caller may see, with its firm, status, tags, 1-minute buckets of the last 24 h and open
    alarms; by firm name (unregistered firms last), then plant."""
    now = now or utcnow()
    brns = visible_brns(session)
    query = select(FleetPlant, Company.id, Company.name, Company.region).outerjoin(
        Company, Company.brn == FleetPlant.brn
    )
    found = session.execute(_scoped(query, FleetPlant.brn, brns)).all()
    tags = _counts(
        session,
        _scoped(select(FleetTag.brn, FleetTag.plant, func.count()), FleetTag.brn, brns).group_by(
            FleetTag.brn, FleetTag.plant
        ),
    )
    since = now - DAY
    buckets = _counts(
        session,
        _scoped(select(FleetRollup1m.brn, FleetRollup1m.plant, func.count()), FleetRollup1m.brn, brns)
        .where(FleetRollup1m.bucket >= since, FleetRollup1m.bucket <= now)
        .group_by(FleetRollup1m.brn, FleetRollup1m.plant),
    )
    alarms = _counts(
        session,
        _scoped(select(FleetAlarm.brn, FleetAlarm.plant, func.count()), FleetAlarm.brn, brns)
        .where(FleetAlarm.cleared_at.is_(None))
        .group_by(FleetAlarm.brn, FleetAlarm.plant),
    )
    rows = [
        PlantRow.of(
            plant,
            now,
            company_id,
            name,
            region,
            tags=tags.get((plant.brn, plant.plant), 0),
            buckets_24h=buckets.get((plant.brn, plant.plant), 0),
            open_alarms=alarms.get((plant.brn, plant.plant), 0),
        )
        for plant, company_id, name, region in found
        if company_id is not None or brns is None
    ]
    rows.sort(key=lambda r: (r.company_name is None, r.company_name or r.brn, r.brn, r.plant))
    return rows


def dead_letters(session: Session, now: datetime | None = None, top: int = 3) -> tuple[int, list[ReasonCount]]:
    """Messages dead-lettered in the last 24 h (of the caller's firms, by their subjects), and the most common
    reasons."""
    now = now or utcnow()
    query = select(FleetDeadLetter.subject, FleetDeadLetter.reason).where(FleetDeadLetter.received_at >= now - DAY)
    brns = visible_brns(session)
    if brns is not None:
        allowed = [f"{ROOT}.{brn}." for brn in session.scalars(brns)]
        if not allowed:
            return 0, []
        query = query.where(func.substr(FleetDeadLetter.subject, 1, len(ROOT) + 12).in_(allowed))
    kinds: Counter[str] = Counter()
    labels: dict[str, tuple[str, str]] = {}
    for _subject, reason in session.execute(query):
        kind, label = reason_kind(reason)
        kinds[kind] += 1
        labels.setdefault(kind, (label, reason))
    counts = [ReasonCount(k, labels[k][0], n, labels[k][1]) for k, n in kinds.most_common(top)]
    return sum(kinds.values()), counts


def fleet(session: Session, now: datetime | None = None) -> Fleet:
    """The connected plants page's content for the caller."""
    now = now or utcnow()
    total, reasons = dead_letters(session, now)
    return Fleet(plants(session, now), total, reasons)


@dataclass
class TagSeries:
    """One tag of a firm's plant as the centre received it: its newest 1-minute mean and its last 24 hourly means."""

    plant: str
    tag_id: int
    name: str
    label: str
    unit: str | None
    equipment: str
    latest: float | None = None
    latest_at: datetime | None = None
    hourly: list[float | None] = field(default_factory=list)

    @property
    def low(self) -> float | None:
        values = [v for v in self.hourly if v is not None]
        return min(values) if values else None

    @property
    def high(self) -> float | None:
        values = [v for v in self.hourly if v is not None]
        return max(values) if values else None


@dataclass
class FirmFleet:
    """What the centre received from one firm's plants."""

    plants: list[PlantRow]
    tags: dict[str, list[TagSeries]]  # by plant
    hours: list[datetime]  # the starts of the last 24 hourly buckets, oldest first
    capped: bool = False

    @property
    def tag_count(self) -> int:
        return sum(len(found) for found in self.tags.values())


def hours_until(now: datetime, count: int = 24) -> list[datetime]:
    """The starts of the last ``count`` hourly buckets up to ``now`` (the running hour last).

    >>> [f"{h:%H}" for h in hours_until(datetime(2026, 12, 7, 15, 20, tzinfo=UTC), 3)]
    ['13', '14', '15']
    """
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=count - 1 - i) for i in range(count)]


def firm_fleet(session: Session, company: Company, now: datetime | None = None) -> FirmFleet:
    """One firm's plants, and per tag its newest 1-minute mean and last 24 hourly means.

    ``company`` was read through the caller's scoped session, so the caller may see it; a firm's data is
    found by its business registration number.
    """
    now = now or utcnow()
    brn = company.brn
    found = plants_of(session, brn, now)
    tags = list(
        session.scalars(
            select(FleetTag).where(FleetTag.brn == brn).order_by(FleetTag.plant, FleetTag.equipment, FleetTag.label)
        )
    )
    capped = len(tags) > TAGS_MAX
    tags = tags[:TAGS_MAX]
    latest_bucket = (
        select(FleetRollup1m.plant, FleetRollup1m.tag_id, func.max(FleetRollup1m.bucket).label("bucket"))
        .where(FleetRollup1m.brn == brn, FleetRollup1m.bucket <= now + timedelta(minutes=5))
        .group_by(FleetRollup1m.plant, FleetRollup1m.tag_id)
        .subquery()
    )
    latest = {
        (plant, tag_id): (avg, bucket)
        for plant, tag_id, avg, bucket in session.execute(
            select(FleetRollup1m.plant, FleetRollup1m.tag_id, FleetRollup1m.avg, FleetRollup1m.bucket)
            .join(
                latest_bucket,
                (FleetRollup1m.plant == latest_bucket.c.plant)
                & (FleetRollup1m.tag_id == latest_bucket.c.tag_id)
                & (FleetRollup1m.bucket == latest_bucket.c.bucket),
            )
            .where(FleetRollup1m.brn == brn)
        )
    }
    hours = hours_until(now)
    slot = {hour: i for i, hour in enumerate(hours)}
    hourly: dict[tuple[str, int], list[float | None]] = {}
    query = select(FleetRollup1h.plant, FleetRollup1h.tag_id, FleetRollup1h.bucket, FleetRollup1h.avg).where(
        FleetRollup1h.brn == brn, FleetRollup1h.bucket >= hours[0], FleetRollup1h.bucket <= hours[-1]
    )
    for plant, tag_id, bucket, avg in session.execute(query):
        where = slot.get(as_utc(bucket))
        if where is not None:
            hourly.setdefault((plant, tag_id), [None] * len(hours))[where] = avg
    by_plant: dict[str, list[TagSeries]] = {}
    for tag in tags:
        key = (tag.plant, tag.tag_id)
        value, at = latest.get(key, (None, None))
        by_plant.setdefault(tag.plant, []).append(
            TagSeries(
                plant=tag.plant,
                tag_id=tag.tag_id,
                name=tag.name,
                label=tag_label(tag.name, tag.label),
                unit=tag.unit,
                equipment=tag.equipment,
                latest=value,
                latest_at=as_utc(at) if at is not None else None,
                hourly=hourly.get(key, [None] * len(hours)),
            )
        )
    return FirmFleet(found, by_plant, hours, capped)


def plants_of(session: Session, brn: str, now: datetime) -> list[PlantRow]:
    """One firm's plants (by its business registration number) with their status, by plant id."""
    query = select(FleetPlant).where(FleetPlant.brn == brn).order_by(FleetPlant.plant)
    return [PlantRow.of(p, now) for p in session.scalars(query)]


def reporting_now(session: Session, now: datetime | None = None) -> tuple[int, int, int]:
    """(plants heard from in the last 5 minutes, firms they belong to, plants in all) in the caller's scope."""
    now = now or utcnow()
    brns = visible_brns(session)
    query = _scoped(select(FleetPlant.brn, FleetPlant.last_seen), FleetPlant.brn, brns)
    seen = session.execute(query).all()
    live = [brn for brn, last in seen if status_of(last, now) is Status.RECEIVING]
    return len(live), len(set(live)), len(seen)


def chart_labels(hours: Sequence[datetime]) -> list[str]:
    """The hourly buckets as a chart names them, in Korean time.

    >>> chart_labels([datetime(2026, 12, 7, 6, tzinfo=UTC)])
    ['12-07 15:00']
    """
    return [f"{to_local(h):%m-%d %H}:00" for h in hours]
