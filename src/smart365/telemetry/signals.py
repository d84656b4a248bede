"""Series of InfluxDB-compatible clients (Telegraf, Node-RED, client libraries) and the tags they land on.

A firm's Telegraf sends ``cpu,host=press-01 usage_idle=97.5``: the measurement, the tag set and the field
name together name one signal (a *series*). Which registry tag a series is stored as is data, one
:class:`~smart365.telemetry.models.SeriesMapping` row per series, never code:

- a **mapped** series is stored as its tag, checked against the tag's limits like every other point;
- an **unknown** series is registered the moment it first arrives, into the firm's new-signal inbox
  (신규 신호함), and its points are **kept**: stored in the time-series store under a key of their own
  (:func:`held_key`, far above any tag id, so no tag and no other firm can ever read them), with their
  last value, first sighting and count shown in the inbox;
- when a person names the signal in Korean and assigns it to a machine (:func:`assign`), a registry tag is
  made (or an existing one chosen), the mapping is recorded and audited, later points go to the tag and
  the held points are copied onto it (:func:`attach_held_points`): nothing sent before the naming is lost.

Tenancy: every query runs in the caller's scoped session, so a firm sees and changes only its own series.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smart365.core import audit
from smart365.core.db import utcnow
from smart365.core.errors import Invalid, NotFound
from smart365.core.i18n import N_
from smart365.registry import service as registry
from smart365.registry.models import Equipment, Tag
from smart365.registry.schemas import TagIn
from smart365.telemetry.batch import Batch
from smart365.telemetry.line_protocol import MAX_SERIES_CHARS, series_parts, split_line
from smart365.telemetry.models import SeriesMapping
from smart365.telemetry.pipeline import TagTable
from smart365.telemetry.store import TimeSeriesStore

HELD_BASE = 2**62
"""Store keys at and above this hold the points of inbox series (tag ids come from a sequence far below)."""
MAX_INBOX = 10_000
"""Unassigned series a firm may have at once; past it new series are refused by line (a misconfigured
client writing a timestamp into a tag would otherwise make a new series per point)."""
_CHUNK = 500
_EVER = ("1970-01-01T00:00:00Z", "2200-01-01T00:00:00Z")


def held_key(series_id: int) -> int:
    """The store key an inbox series' points are kept under.

    >>> held_key(7) - HELD_BASE
    7
    """
    return HELD_BASE + series_id


def digest(series: str) -> str:
    """The series name's SHA-256, the unique key of a firm's series (names are too long to index whole).

    >>> digest("cpu,host=a usage_idle")[:12]
    'f23a4f277272'
    """
    return hashlib.sha256(series.encode()).hexdigest()


Limits = tuple[float | None, float | None]


@dataclass
class Resolution:
    """Where each series of a write goes: ``keys`` maps a series name to a store key (its tag id, or its
    :func:`held_key` in the inbox); ``refused`` names the new series the full inbox could not take;
    ``limits`` holds the (min, max) of every mapped tag."""

    keys: dict[str, int] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    limits: dict[int, Limits] = field(default_factory=dict)
    new: int = 0
    table: TagTable | None = None  # the firm's remembered table, when every series was known

    def tag_table(self) -> TagTable:
        """What the pipeline checks each key's points against: a mapped tag's limits, none for a held key."""
        if self.table is not None:
            return self.table
        return _table({key: self.limits.get(key) for key in self.keys.values()})


def _table(limits: dict[int, Limits | None]) -> TagTable:
    keys = list(limits)
    low = [np.nan if (lim := limits[k]) is None or lim[0] is None else lim[0] for k in keys]
    high = [np.nan if (lim := limits[k]) is None or lim[1] is None else lim[1] for k in keys]
    return TagTable(keys, low, high)


def resolve(
    session: Session, company_id: int, names: set[str], source: str | None = None, api_key_id: int | None = None
) -> Resolution:
    """Store keys for ``names`` in the firm's series; a series seen for the first time joins the inbox.

    A concurrent write that registers the same series first is no error: its row is used. What a firm's
    known series resolve to is remembered between writes (:class:`_Known`) for as long as its series and tags
    are unchanged, which one small query per write checks.
    """
    fingerprint = _fingerprint(session, company_id)
    firm = _KNOWN.get(company_id, fingerprint)
    out = Resolution()
    for name in names & firm.series.keys():
        out.keys[name], limits = firm.series[name]
        if limits is not None:
            out.limits[out.keys[name]] = limits
    if len(out.keys) == len(names):
        out.table = firm.table()
        return out
    fresh = _resolve_in_records(session, company_id, names - out.keys.keys(), source, api_key_id)
    out.keys |= fresh.keys
    out.limits |= fresh.limits
    out.refused, out.new = fresh.refused, fresh.new
    if not fresh.new:  # a new inbox row changes the fingerprint: what it resolved to is learnt next time
        _KNOWN.learn(company_id, fingerprint, {n: (k, fresh.limits.get(k)) for n, k in fresh.keys.items()})
    return out


def _resolve_in_records(
    session: Session, company_id: int, names: set[str], source: str | None, api_key_id: int | None
) -> Resolution:
    out = Resolution()
    found = _known(session, company_id, names)
    for name, (series_id, tag_id) in found.items():
        out.keys[name] = tag_id if tag_id is not None else held_key(series_id)
    missing = sorted(names - found.keys())
    if missing:
        room = max(0, MAX_INBOX - inbox_count(session, company_id))
        taken, out.refused = missing[:room], set(missing[room:])
        for row in _register(session, company_id, taken, source, api_key_id):
            out.keys[row.series] = row.tag_id if row.tag_id is not None else held_key(row.id)
        out.new = len(taken)
    tag_ids = {k for k in out.keys.values() if k < HELD_BASE}
    for chunk in _chunks(sorted(tag_ids)):
        for tag_id, low, high in session.execute(select(Tag.id, Tag.min_value, Tag.max_value).where(Tag.id.in_(chunk))):
            out.limits[tag_id] = (low, high)
    return out


def _fingerprint(session: Session, company_id: int) -> tuple[Any, ...]:
    """What changes whenever a series of the firm is registered, assigned or loses its tag, or a tag of the
    firm is added, changed (its limits) or deleted."""
    tags = [
        select(f).where(Tag.company_id == company_id).scalar_subquery()
        for f in (func.count(), func.max(Tag.updated_at))
    ]
    series = (func.count(), func.max(SeriesMapping.id), func.max(SeriesMapping.assigned_at))
    return tuple(session.execute(select(*series, *tags).where(SeriesMapping.company_id == company_id)).one())


@dataclass
class _FirmSeries:
    """What a firm's known series resolve to (store key, limits) under one fingerprint, and their table."""

    fingerprint: tuple[Any, ...]
    series: dict[str, tuple[int, Limits | None]] = field(default_factory=dict)
    _table: TagTable | None = None

    def table(self) -> TagTable:
        if self._table is None:
            self._table = _table(dict(self.series.values()))
        return self._table


class _Known:
    """Per firm, what its known series resolved to, valid under one fingerprint.

    Bounded: past :data:`KNOWN_MAX_SERIES` series in all, the firm seen least recently is forgotten.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._firms: OrderedDict[int, _FirmSeries] = OrderedDict()

    def get(self, company_id: int, fingerprint: tuple[Any, ...]) -> _FirmSeries:
        with self._lock:
            firm = self._firms.get(company_id)
            if firm is None or firm.fingerprint != fingerprint:
                return _FirmSeries(fingerprint)
            self._firms.move_to_end(company_id)
            return firm

    def learn(self, company_id: int, fingerprint: tuple[Any, ...], keys: dict[str, tuple[int, Limits | None]]) -> None:
        with self._lock:
            firm = self._firms.get(company_id)
            known = firm.series if firm is not None and firm.fingerprint == fingerprint else {}
            self._firms[company_id] = _FirmSeries(fingerprint, known | keys)
            self._firms.move_to_end(company_id)
            while sum(len(f.series) for f in self._firms.values()) > KNOWN_MAX_SERIES and len(self._firms) > 1:
                self._firms.popitem(last=False)


KNOWN_MAX_SERIES = 200_000
_KNOWN = _Known()


def _known(session: Session, company_id: int, names: set[str]) -> dict[str, tuple[int, int | None]]:
    by_digest = {digest(n): n for n in names}
    found: dict[str, tuple[int, int | None]] = {}
    for chunk in _chunks(sorted(by_digest)):
        query = select(SeriesMapping.series_sha256, SeriesMapping.id, SeriesMapping.tag_id).where(
            SeriesMapping.company_id == company_id, SeriesMapping.series_sha256.in_(chunk)
        )
        for sha, series_id, tag_id in session.execute(query):
            found[by_digest[sha]] = (series_id, tag_id)
    return found


def _register(
    session: Session, company_id: int, names: list[str], source: str | None, api_key_id: int | None
) -> list[SeriesMapping]:
    """New inbox rows for ``names``; one that another request made meanwhile is read back instead."""
    rows = [_row(company_id, n, source, api_key_id) for n in names]
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
        return rows
    except IntegrityError:
        pass
    kept: list[SeriesMapping] = []
    for row in (_row(company_id, n, source, api_key_id) for n in names):
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            kept.append(row)
        except IntegrityError:
            existing = session.scalar(
                select(SeriesMapping).where(
                    SeriesMapping.company_id == company_id, SeriesMapping.series_sha256 == row.series_sha256
                )
            )
            if existing is not None:
                kept.append(existing)
    return kept


def _row(company_id: int, name: str, source: str | None, api_key_id: int | None) -> SeriesMapping:
    return SeriesMapping(
        company_id=company_id,
        series=name,
        series_sha256=digest(name),
        source=(source or None) and source[:200],
        api_key_id=api_key_id,
        first_seen_at=utcnow(),
    )


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def inbox_count(session: Session, company_id: int) -> int:
    """How many of the firm's series wait in the inbox."""
    query = select(func.count()).where(SeriesMapping.company_id == company_id, SeriesMapping.tag_id.is_(None))
    return int(session.scalar(query) or 0)


# -- reading the inbox and the mappings --------------------------------------------------------------------


@dataclass
class SeriesView:
    """A series as the inbox and the mapping list show it: its parts, where it lands and what it holds."""

    row: SeriesMapping
    measurement: str
    tags: dict[str, str]
    field: str
    tag: Tag | None
    last_ts: datetime | None
    last_value: float | None
    points: int


def list_series(
    session: Session, store: TimeSeriesStore, company_id: int, *, inbox: bool = True, limit: int = 200
) -> list[SeriesView]:
    """The firm's inbox (``inbox=True``: unassigned, newest first) or its mapped series, with the last value,
    the newest time and the number of points each holds (held points for the inbox, the tag's for a mapping)."""
    state = SeriesMapping.tag_id.is_(None) if inbox else SeriesMapping.tag_id.is_not(None)
    query = select(SeriesMapping).where(SeriesMapping.company_id == company_id, state)
    rows = list(
        session.scalars(query.order_by(SeriesMapping.first_seen_at.desc(), SeriesMapping.id.desc()).limit(limit))
    )
    keys = {r.id: r.tag_id if r.tag_id is not None else held_key(r.id) for r in rows}
    tags = {t.id: t for t in session.scalars(select(Tag).where(Tag.id.in_([r.tag_id for r in rows if r.tag_id])))}
    latest = {int(r["tag_id"]): r for r in store.latest(list(keys.values())).to_pylist()}
    counts = _counts(store, list(keys.values()))
    views = []
    for row in rows:
        measurement, tag_set, field_name = series_parts(row.series)
        last = latest.get(keys[row.id], {})
        views.append(
            SeriesView(
                row,
                measurement,
                tag_set,
                field_name,
                tags.get(row.tag_id) if row.tag_id else None,
                last.get("ts"),
                last.get("value"),
                counts.get(keys[row.id], 0),
            )
        )
    return views


def _counts(store: TimeSeriesStore, keys: list[int]) -> dict[int, int]:
    """Points per key over all time in one downsampled read (one bucket per key, from the rollups)."""
    if not keys:
        return {}
    table = store.range(keys, *_EVER, max_points=1)
    counts: dict[int, int] = {}
    for row in table.select(["tag_id", "count"]).to_pylist():
        counts[int(row["tag_id"])] = counts.get(int(row["tag_id"]), 0) + int(row["count"])
    return counts


def get_series(session: Session, company_id: int, series_id: int) -> SeriesMapping:
    """The firm's series ``series_id`` (another firm's is simply not found)."""
    row = session.get(SeriesMapping, series_id)
    if row is None or row.company_id != company_id:
        raise NotFound()
    return row


# -- naming and assigning ----------------------------------------------------------------------------------


def assign(
    session: Session,
    row: SeriesMapping,
    *,
    by: str,
    tag_id: int | None = None,
    equipment_id: int | None = None,
    name: str | None = None,
    unit: str | None = None,
) -> Tag:
    """Map the series to a tag: an existing tag of the firm (``tag_id``), or a new tag ``name`` (in Korean, as
    the firm calls it) on machine ``equipment_id``. Audited. Commit, then :func:`attach_held_points`.

    Another firm's tag or machine is not found; a name the machine already has is a 409.
    """
    if tag_id is not None:
        tag = registry.get(session, Tag, tag_id)
        if tag.company_id != row.company_id:
            raise NotFound()
    else:
        if equipment_id is None or not (name or "").strip():
            raise Invalid(N_("Choose a machine and give the signal a name, or choose an existing tag."))
        equipment = registry.get(session, Equipment, equipment_id)
        if equipment.company_id != row.company_id:
            raise NotFound()
        tag = registry.create_child(session, Tag, equipment.id, _tag_in(name or "", unit))
    before = row.tag_id
    row.tag_id, row.assigned_at, row.assigned_by_name = tag.id, utcnow(), by[:254]
    details = {"series": row.series, "tag_id": tag.id, "tag": tag.name, "equipment_id": tag.equipment_id,
               "previous_tag_id": before}  # fmt: skip
    audit.record(session, audit.Action.SIGNAL_ASSIGN, f"series_mapping:{row.id}", company_id=row.company_id,
                 details=details)  # fmt: skip
    session.flush()
    return tag


def _tag_in(name: str, unit: str | None) -> TagIn:
    try:
        return TagIn(name=name.strip(), unit=(unit or "").strip() or None)
    except ValidationError as exc:
        raise Invalid(N_("The name or unit is not valid: {detail}"), detail=str(exc.errors()[0]["msg"])) from exc


def map_series(session: Session, company_id: int, series: str, tag_id: int, by: str) -> SeriesMapping:
    """Map a series by name to an existing tag of the firm before (or after) it first arrives.

    The name is read as line protocol (``cpu,host=press-01 usage_idle``) and kept in canonical form, so
    it matches however the client orders its tags.
    """
    name = canonical(series)
    existing = session.scalar(
        select(SeriesMapping).where(SeriesMapping.company_id == company_id, SeriesMapping.series_sha256 == digest(name))
    )
    row = existing or _row(company_id, name, None, None)
    if existing is None:
        session.add(row)
        session.flush()
    assign(session, row, by=by, tag_id=tag_id)
    return row


def canonical(series: str) -> str:
    """A series name as the write path names it: tags sorted, one field.

    >>> canonical("cpu,host=press-01,cpu=cpu0 usage_idle")
    'cpu,cpu=cpu0,host=press-01 usage_idle'
    """
    sections = split_line(series.strip())
    if sections is None or len(sections) != 2 or len(sections[1]) != 1 or not sections[0][0] or not sections[1][0]:
        raise Invalid(N_("Write the series as 'measurement,tag=value field', e.g. 'cpu,host=press-01 usage_idle'."))
    head, tags = sections[0][0], sorted(sections[0][1:])
    name = f"{','.join([head, *tags])} {sections[1][0]}"
    if len(name) > MAX_SERIES_CHARS or any("=" not in t for t in tags):
        raise Invalid(N_("Write the series as 'measurement,tag=value field', e.g. 'cpu,host=press-01 usage_idle'."))
    return name


def attach_held_points(store: TimeSeriesStore, row: SeriesMapping) -> int:
    """Copy the points the series held in the inbox onto its tag; returns how many were new to the tag.

    Idempotent (the store keeps one value per tag and time), so running it again after a late write is safe.
    The held copy stays where it was (the inbox row no longer points at it).
    """
    if row.tag_id is None:
        return 0
    held = store.read(held_key(row.id), *_EVER)
    if not len(held):
        return 0
    moved = Batch(np.full(len(held), row.tag_id, dtype=np.int64), held.ts_us, held.value, held.quality)
    return store.append(moved)
