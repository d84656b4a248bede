"""Monitoring records and views: alarm events from rule transitions, acknowledge and shelve, and the live
snapshot (latest values, state, OEE, active alarms) of a firm's plant read from the time-series store.

Every function takes a tenancy-scoped session, so a caller sees and changes only what its principal may.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from smart365.analytics import registry as models_registry
from smart365.analytics.models import AnalyticsModel, ModelScore
from smart365.core.db import utcnow
from smart365.core.errors import Invalid, NotFound
from smart365.core.i18n import N_, _
from smart365.core.tenancy import principal_of
from smart365.monitoring import alarms
from smart365.monitoring.models import AlarmEvent, AlarmRule, OeeSetting
from smart365.monitoring.oee import (
    KST,
    Oee,
    Shift,
    StateTimes,
    compute,
    counter_increase,
    recent_shifts,
    state_segments,
)
from smart365.monitoring.scoring import summary
from smart365.registry.models import Equipment, Line, Site, Tag
from smart365.registry.vocab import SIGNAL_LABELS
from smart365.telemetry.store import TimeSeriesStore

STATE_TAG, REASON_TAG = "state", "stop_reason"
#: Tags shown first on a machine's card, by machine kind; other kinds show their first tags by name.
KEY_TAGS = {
    "cnc": ("spindle_load", "spindle_temp", "part_count"),
    "injection": ("barrel_temp", "mould_temp", "shot_count"),
    "press": ("tonnage", "die_temp", "stroke_count"),
}
HIDDEN_TAGS = frozenset({STATE_TAG, REASON_TAG})
STATE_LABELS = {0: N_("Idle"), 1: N_("Running"), 2: N_("Down")}
_STATE_CONDITION = re.compile(rf"^{STATE_TAG} = (\d)$")
SHELVE_MAX_MIN = 8 * 60


# -- alarm rules and events -----------------------------------------------------------------------------


def to_rule(row: AlarmRule) -> alarms.Rule:
    """The pure rule of a rule row."""
    kind, severity = cast(alarms.Kind, row.kind), cast(alarms.Severity, row.severity)
    return alarms.Rule(row.id, row.tag_id, kind, row.limit_value, row.deadband, row.delay_s, severity)


def enabled_rules(session: Session) -> list[AlarmRule]:
    """Every enabled rule in the session's scope, with its tag loaded."""
    query = select(AlarmRule).where(AlarmRule.enabled.is_(True)).options(selectinload(AlarmRule.tag))
    return list(session.scalars(query.order_by(AlarmRule.id)))


class RuleIn(BaseModel):
    """A new alarm rule (see :class:`smart365.monitoring.alarms.Rule`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"tag_id": 1, "kind": "high", "limit": 85, "deadband": 5, "delay_s": 10, "severity": "warning"}
            ]
        }
    )

    tag_id: int
    kind: alarms.Kind
    limit: float = Field(allow_inf_nan=False)
    deadband: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    delay_s: float = Field(default=0.0, ge=0, le=24 * 3600)
    severity: alarms.Severity = "warning"


def company_rules(session: Session, company_id: int) -> list[AlarmRule]:
    """A firm's alarm rules with their tags and machines, by machine and tag."""
    query = select(AlarmRule).where(AlarmRule.company_id == company_id).options(selectinload(AlarmRule.tag))
    rules = list(session.scalars(query))
    return sorted(rules, key=lambda r: (r.tag.equipment.name, r.tag.name, r.id))


def create_rule(session: Session, company_id: int, data: RuleIn) -> AlarmRule:
    """Add a rule on one of the firm's tags (another firm's tag is not found)."""
    tag = session.get(Tag, data.tag_id)
    if tag is None or tag.company_id != company_id:
        raise NotFound()
    rule = AlarmRule(
        company_id=company_id,
        tag_id=tag.id,
        kind=data.kind,
        limit_value=data.limit,
        deadband=data.deadband,
        delay_s=data.delay_s,
        severity=data.severity,
    )
    session.add(rule)
    session.flush()
    return rule


def toggle_rule(session: Session, company_id: int, rule_id: int) -> AlarmRule:
    """Switch a rule on or off (the running monitor picks it up within its refresh interval)."""
    rule = session.get(AlarmRule, rule_id)
    if rule is None or rule.company_id != company_id:
        raise NotFound()
    rule.enabled = not rule.enabled
    return rule


def active_rule_ids(session: Session) -> set[int]:
    """Rules that have an alarm raised and not cleared."""
    return set(session.scalars(select(AlarmEvent.rule_id).where(AlarmEvent.cleared_at.is_(None))))


def record_transitions(session: Session, transitions: Iterable[alarms.Transition]) -> list[AlarmEvent]:
    """Open an event for each raise, close the open event of its rule for each clear; returns touched events."""
    touched = []
    for change in transitions:
        event = _raise(session, change) if change.raised else _clear(session, change)
        if event is not None:
            touched.append(event)
    session.flush()
    return touched


def _raise(session: Session, change: alarms.Transition) -> AlarmEvent | None:
    rule = session.get(AlarmRule, change.rule_id)
    if rule is None or _open_event(session, rule.id) is not None:
        return None  # the rule was deleted meanwhile, or it is already raised (after a restart)
    event = AlarmEvent(
        company_id=rule.company_id,
        rule_id=rule.id,
        tag_id=rule.tag_id,
        equipment_id=rule.tag.equipment_id,
        severity=rule.severity,
        condition=alarms.describe(to_rule(rule), rule.tag.name, rule.tag.unit),
        raised_at=change.at,
        raised_value=change.value,
    )
    session.add(event)
    return event


def _clear(session: Session, change: alarms.Transition) -> AlarmEvent | None:
    event = _open_event(session, change.rule_id)
    if event is not None:
        event.cleared_at, event.cleared_value = change.at, change.value
    return event


def _open_event(session: Session, rule_id: int) -> AlarmEvent | None:
    query = select(AlarmEvent).where(AlarmEvent.rule_id == rule_id, AlarmEvent.cleared_at.is_(None))
    return session.scalars(query.order_by(AlarmEvent.id.desc()).limit(1)).first()


def get_event(session: Session, event_id: int) -> AlarmEvent:
    """An alarm event in the caller's scope, else 404 (hiding whether it exists)."""
    event = session.get(AlarmEvent, event_id)
    if event is None:
        raise NotFound()
    return event


def _require_change(session: Session, event: AlarmEvent) -> None:
    if not principal_of(session).can_change(event.company_id):
        raise NotFound()  # a reader that may not act gets the same answer as an outsider


def acknowledge(session: Session, event_id: int, user_id: int | None, user_name: str) -> AlarmEvent:
    """Mark an alarm acknowledged by a person (the first acknowledgement stands)."""
    event = get_event(session, event_id)
    _require_change(session, event)
    if event.acked_at is None:
        event.acked_at, event.acked_by_id, event.acked_by_name = utcnow(), user_id, user_name
    return event


def shelve(session: Session, event_id: int, user_name: str, minutes: int) -> AlarmEvent:
    """Hide an alarm from the active list for ``minutes`` (0 un-shelves it); at most 8 hours."""
    if not 0 <= minutes <= SHELVE_MAX_MIN:
        raise Invalid(N_("Shelve for between 0 and {limit} minutes."), limit=SHELVE_MAX_MIN)
    event = get_event(session, event_id)
    _require_change(session, event)
    event.shelved_until = utcnow() + timedelta(minutes=minutes) if minutes else None
    event.shelved_by_name = user_name if minutes else None
    return event


def is_shelved(event: AlarmEvent, now: datetime | None = None) -> bool:
    until = event.shelved_until
    if until is None:
        return False
    return _aware(until) > (now or utcnow())


def company_events(
    session: Session, company_id: int, *, active: bool | None = None, equipment_id: int | None = None, limit: int = 200
) -> list[AlarmEvent]:
    """A firm's alarm events, newest first (``active``: only open ones, or only closed ones)."""
    query = select(AlarmEvent).where(AlarmEvent.company_id == company_id)
    if active is not None:
        query = query.where(AlarmEvent.cleared_at.is_(None) if active else AlarmEvent.cleared_at.is_not(None))
    if equipment_id is not None:
        query = query.where(AlarmEvent.equipment_id == equipment_id)
    query = query.options(selectinload(AlarmEvent.tag), selectinload(AlarmEvent.equipment))
    return list(session.scalars(query.order_by(AlarmEvent.raised_at.desc(), AlarmEvent.id.desc()).limit(limit)))


def condition_text(condition: str, tag: Tag | None = None) -> str:
    """A condition for people: its tag by the display name, a state code by its name.

    >>> condition_text("state = 2"), condition_text("barrel_temp > 238 °C", Tag(name="barrel_temp"))
    ('설비 상태: 정지', '실린더 온도 > 238 °C')
    """
    match = _STATE_CONDITION.match(condition)
    if match and int(match.group(1)) in STATE_LABELS:
        return f"{tag.label if tag else _(SIGNAL_LABELS[STATE_TAG])}: {_(STATE_LABELS[int(match.group(1))])}"
    if tag is not None and condition.startswith(f"{tag.name} "):
        return tag.label + condition[len(tag.name) :]
    return condition


def alarm_text(event: AlarmEvent) -> str:
    """What an alarm is about, for people: an anomaly alarm's top signals in the current language, else the
    rule's condition with the tag's display name."""
    if event.explanation:
        return "AI · " + summary(event.explanation)
    return condition_text(event.condition, event.tag)


def event_json(event: AlarmEvent) -> dict[str, Any]:
    """An alarm event for the live pages' event stream."""
    return {
        "id": event.id,
        "equipment_id": event.equipment_id,
        "equipment": event.equipment.name,
        "condition": alarm_text(event),
        "severity": event.severity,
        "raised_at": _aware(event.raised_at).isoformat(),
        "value": round(event.raised_value, 3),
        "acked": event.acked_at is not None,
        "shelved": is_shelved(event),
    }


# -- the plant and its live values ----------------------------------------------------------------------


def plant(session: Session, company_id: int) -> list[tuple[Site, list[tuple[Line, list[Equipment]]]]]:
    """A firm's sites → lines → machines (tags loaded), in name order."""
    sites = session.scalars(
        select(Site)
        .where(Site.company_id == company_id)
        .options(selectinload(Site.lines).selectinload(Line.equipment).selectinload(Equipment.tags))
        .order_by(Site.name)
    )
    return [(site, [(line, list(line.equipment)) for line in site.lines]) for site in sites]


def key_tags(machine: Equipment, count: int = 3) -> list[Tag]:
    """The tags a machine's card shows: the kind's key tags, else the first visible ones."""
    visible = [t for t in machine.tags if t.name not in HIDDEN_TAGS]
    wanted = KEY_TAGS.get(machine.kind, ())
    preferred = sorted((t for t in visible if t.name in wanted), key=lambda t: wanted.index(t.name))
    return (preferred or visible)[:count]


def state_tag(machine: Equipment) -> Tag | None:
    return next((t for t in machine.tags if t.name == STATE_TAG), None)


def latest_values(store: TimeSeriesStore, tag_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``{tag_id: {"v": value, "ts": iso}}`` for the tags that have data."""
    if not tag_ids:
        return {}
    rows = store.latest(list(tag_ids)).to_pylist()
    return {r["tag_id"]: {"v": round(float(r["value"]), 3), "ts": _aware(r["ts"]).isoformat()} for r in rows}


def machines_of(session: Session, company_id: int) -> list[Equipment]:
    query = select(Equipment).where(Equipment.company_id == company_id).options(selectinload(Equipment.tags))
    return list(session.scalars(query.order_by(Equipment.name)))


def live_snapshot(session: Session, store: TimeSeriesStore, machines: Sequence[Equipment]) -> dict[str, Any]:
    """What the live pages refresh: latest values, each machine's state, stop reason and data age, and the
    active alarms."""
    tag_ids = [t.id for m in machines for t in m.tags]
    values = latest_values(store, tag_ids)
    now = datetime.now(UTC)
    states, reasons, ages = {}, {}, {}
    for machine in machines:
        tags = {t.name: t.id for t in machine.tags}
        states[machine.id] = values.get(tags.get(STATE_TAG, -1), {}).get("v")
        reasons[machine.id] = values.get(tags.get(REASON_TAG, -1), {}).get("v")
        newest = max((values[t]["ts"] for t in tags.values() if t in values), default=None)
        ages[machine.id] = round((now - datetime.fromisoformat(newest)).total_seconds()) if newest else None
    company_ids = {m.company_id for m in machines}
    events = [e for cid in company_ids for e in company_events(session, cid, active=True, limit=100)]
    wanted = {m.id for m in machines}
    return {
        "at": datetime.now(UTC).isoformat(),
        "values": {str(k): v for k, v in values.items()},
        "states": {str(k): v for k, v in states.items()},
        "reasons": {str(k): v for k, v in reasons.items()},
        "ages": {str(k): v for k, v in ages.items()},  # seconds since the machine's newest point
        "alarms": [event_json(e) for e in events if e.equipment_id in wanted and not is_shelved(e)],
    }


# -- OEE ------------------------------------------------------------------------------------------------

_LOOKBACK = timedelta(hours=12)  # how far back a state or counter's value at the window start is looked for
# per store (weakly held, so a closed store's entries go with it): (machine, window start) → (when, OEE)
_cache: weakref.WeakKeyDictionary[TimeSeriesStore, dict[tuple[int, datetime], tuple[float, Oee | None]]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_S = 15.0


def oee_settings(session: Session, equipment_ids: Iterable[int]) -> dict[int, OeeSetting]:
    ids = list(equipment_ids)
    rows = session.scalars(select(OeeSetting).where(OeeSetting.equipment_id.in_(ids)))
    return {row.equipment_id: row for row in rows}


def _samples(store: TimeSeriesStore, tag_id: int | None, start: datetime, end: datetime) -> tuple[Any, Any]:
    if tag_id is None:
        return np.empty(0, np.int64), np.empty(0)
    batch = store.read(tag_id, start - _LOOKBACK, end)
    if len(batch):
        return batch.ts_us, batch.value
    latest = store.latest([tag_id])  # a state that has not changed for longer than the look-back
    if latest.num_rows and _aware(latest.column("ts")[0].as_py()) < end:
        return _us([latest.column("ts")[0].as_py()]), np.array([latest.column("value")[0].as_py()])
    return np.empty(0, np.int64), np.empty(0)


def equipment_oee(store: TimeSeriesStore, setting: OeeSetting, start: datetime, end: datetime) -> Oee | None:
    """OEE of one machine over ``[start, end)`` from its state and counter tags (cached briefly)."""
    cache = _cache.setdefault(store, {})
    key = (setting.equipment_id, start)
    hit = cache.get(key)
    if hit and time.monotonic() - hit[0] < _CACHE_S:
        return hit[1]
    result = _compute_oee(store, setting, start, end)
    cache[key] = (time.monotonic(), result)
    return result


def _compute_oee(store: TimeSeriesStore, setting: OeeSetting, start: datetime, end: datetime) -> Oee | None:
    state_ts, states = _samples(store, setting.state_tag_id, start, end)
    if not len(state_ts):
        return None
    reason_ts, reasons = _samples(store, setting.reason_tag_id, start, end)
    start_us, end_us = int(_us([start])[0]), int(_us([end])[0])
    times = StateTimes.from_samples(state_ts, states, start_us, end_us, reason_ts, reasons)
    total = counter_increase(*_samples(store, setting.count_tag_id, start, end), start_us)
    bad = counter_increase(*_samples(store, setting.bad_tag_id, start, end), start_us)
    return compute(times, total, max(total - bad, 0.0), setting.ideal_cycle_s)


def state_timeline(store: TimeSeriesStore, setting: OeeSetting, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A machine's run/idle/down runs over ``[start, end)`` with their share of the window, for a timeline bar."""
    state_ts, states = _samples(store, setting.state_tag_id, start, end)
    start_us, end_us = int(_us([start])[0]), int(_us([end])[0])
    width = max(end_us - start_us, 1)
    return [
        {
            "state": code,
            "share": 100 * (hi - lo) / width,
            "offset": 100 * (lo - start_us) / width,
            "from": localtime(start + timedelta(microseconds=lo - start_us), "%H:%M"),
            "to": localtime(start + timedelta(microseconds=hi - start_us), "%H:%M"),
        }
        for lo, hi, code in state_segments(state_ts, states, start_us, end_us)
    ]


def company_oee(
    session: Session, store: TimeSeriesStore, machines: Sequence[Equipment], now: datetime | None = None
) -> tuple[Shift, dict[int, Oee | None]]:
    """Each machine's OEE over the current shift so far."""
    now = now or datetime.now(UTC)
    shift = recent_shifts(now, 1)[0]
    settings = oee_settings(session, [m.id for m in machines])
    return shift, {eid: equipment_oee(store, s, shift.start, now) for eid, s in settings.items()}


def oee_json(result: Oee | None) -> dict[str, Any] | None:
    """OEE factors (0–1, or null) and their explanations in the current language."""
    if result is None:
        return None
    keys = ("availability", "performance", "quality")
    return {"oee": result.oee, **{k: getattr(result, k) for k in keys}, "explain": result.explain()}


def _us(moments: Sequence[datetime]) -> np.ndarray:
    return np.array([int(_aware(m).timestamp() * 1_000_000) for m in moments], dtype=np.int64)


def reading(value: float | None) -> str:
    """A value as the live pages show it: whole numbers (counts) without decimals, others with one.

    >>> reading(71.0), reading(48.86), reading(12034.0), reading(None)
    ('71', '48.9', '12,034', '–')
    """
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:.1f}"


def localtime(moment: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored moment in Korean time, for pages.

    >>> localtime(datetime(2026, 1, 5, 0, 30), "%H:%M")
    '09:30'
    """
    return _aware(moment).astimezone(KST).strftime(fmt)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- deployed models on the machine page -------------------------------------------------------------------


@dataclass(frozen=True)
class LiveModel:
    """A deployed model as its machine page shows it: what it watches, its limit, its newest score, its alarm."""

    model: AnalyticsModel
    threshold: float | None  # None: the model gives a value, no alarm limit
    latest: ModelScore | None  # None: nothing scored yet (the machine has not run since the deploy)
    alarm: AlarmEvent | None
    testbed_run_id: int | None

    @property
    def over(self) -> bool:
        """Whether the newest score is above the limit."""
        return bool(self.latest and self.threshold is not None and self.latest.score > self.threshold)


def live_models(session: Session, equipment_id: int) -> list[LiveModel]:
    """The machine's deployed models that score live, with their newest score and open alarm."""
    rows = [r for r in models_registry.deployed(session, equipment_id) if models_registry.scores_live(r)]
    if not rows:
        return []
    ids = [r.id for r in rows]
    scores = {s.model_id: s for s in session.scalars(select(ModelScore).where(ModelScore.model_id.in_(ids)))}
    open_alarms = select(AlarmEvent).where(AlarmEvent.model_id.in_(ids), AlarmEvent.cleared_at.is_(None))
    alarms_of = {e.model_id: e for e in session.scalars(open_alarms)}
    out = []
    for row in rows:
        limit = float(getattr(models_registry.load_model(row), "threshold", float("inf")))
        run_id = (row.settings or {}).get("testbed_run_id")
        out.append(LiveModel(row, limit if np.isfinite(limit) else None, scores.get(row.id), alarms_of.get(row.id),
                             int(run_id) if run_id is not None else None))  # fmt: skip
    return out
