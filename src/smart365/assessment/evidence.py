"""Measured evidence (측정 근거): items answered from the firm's own data instead of its word.

The instrument names an evidence ``hook`` on some items (maturity-model.md, "Measured evidence"); a
provider per hook reads the firm's data through the services its pages use (the registry, the time-series
store, alarm events, OEE settings, deployed models) and proposes a stage with its proof: the period and the
numbers it used ("최근 30일 알람 212건, 확인 198건(93%)"). Where Smart365 holds nothing to judge by, it says so
instead of guessing a stage.

>>> NO_EVIDENCE.stage is None, Evidence(2, "{n} of {total} machines", {"n": 4, "total": 5}).english()
(True, '4 of 5 machines')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smart365.analytics import registry as models
from smart365.analytics.models import AnalyticsModel
from smart365.assessment.instrument import Instrument
from smart365.core.db import to_local, utcnow
from smart365.core.i18n import N_, gettext, translate_in
from smart365.monitoring.models import AlarmEvent, AlarmRule
from smart365.monitoring.service import oee_settings
from smart365.registry.models import Equipment, Tag
from smart365.telemetry.store import TimeSeriesStore


@dataclass(frozen=True)
class Evidence:
    """A measured stage (``None`` = no evidence) and its proof as a msgid with parameters."""

    stage: int | None
    detail: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def localized(self) -> str:
        return gettext(self.detail).format(**self.params)

    def english(self) -> str:
        return translate_in("en", self.detail).format(**self.params)


NO_EVIDENCE = Evidence(None, N_("No evidence: Smart365 does not hold this data yet."))


@dataclass(frozen=True)
class ForwardedEvidence(Evidence):
    """Evidence a plant measured on its own data and forwarded to the centre (the scaled-out shape).

    >>> found = ForwardedEvidence(2, "{n} of {total} machines", {"n": 4, "total": 5}, plant="hanbit-1",
    ...                           as_of=datetime(2026, 12, 7, 6, 0, tzinfo=UTC))
    >>> found.english()
    '4 of 5 machines (measured at plant hanbit-1, 2026-12-07 15:00)'
    """

    plant: str = ""
    as_of: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    def localized(self) -> str:
        return gettext(_MEASURED_AT).format(evidence=super().localized(), plant=self.plant, at=self._at())

    def english(self) -> str:
        return translate_in("en", _MEASURED_AT).format(evidence=super().english(), plant=self.plant, at=self._at())

    def _at(self) -> str:
        return f"{to_local(self.as_of):%Y-%m-%d %H:%M}"


_MEASURED_AT = N_("{evidence} (measured at plant {plant}, {at})")


class ForwardedSource(Protocol):
    """Where the centre finds evidence its firms' plants forwarded: item id → evidence, for one firm."""

    def __call__(self, session: Session, company_id: int) -> Mapping[str, Evidence]: ...


def with_forwarded(measured: Mapping[str, Evidence], forwarded: Mapping[str, Evidence]) -> dict[str, Evidence]:
    """The evidence to show: what a plant measured on its own data where it forwarded any, else the centre's.

    >>> with_forwarded({"A": NO_EVIDENCE, "B": NO_EVIDENCE}, {"A": Evidence(3, "x")})["A"].stage
    3
    """
    return {item: forwarded.get(item, found) for item, found in measured.items()}


@dataclass(frozen=True)
class EvidenceContext:
    """What a provider may read: the firm's scoped session, the time-series store (if reachable), the clock."""

    session: Session
    company_id: int
    store: TimeSeriesStore | None = None
    now: datetime = field(default_factory=utcnow)


class EvidenceProvider(Protocol):
    """Proposes a stage for one item from the firm's data: ``measure(context, params) -> Evidence``."""

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence: ...


def _stage_by_share(share: float, params: Mapping[str, Any]) -> int:
    """0, 1 or 2 by the ``stage_1_share`` / ``stage_2_share`` thresholds.

    >>> [_stage_by_share(s, {"stage_1_share": 0.2, "stage_2_share": 0.8}) for s in (0.1, 0.2, 0.79, 0.8)]
    [0, 1, 1, 2]
    """
    if share >= float(params.get("stage_2_share", 0.8)):
        return 2
    return 1 if share >= float(params.get("stage_1_share", 0.2)) else 0


class CollectionShare:
    """Share of registered machines connected for automatic collection whose data arrived in the last
    ``window_days`` (CTL.4). Without a store it can only count the machines set up for it (a protocol and a tag).
    """

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        session, firm = context.session, context.company_id
        total = session.scalar(select(func.count()).select_from(Equipment).where(Equipment.company_id == firm))
        if not total:
            return Evidence(None, N_("No evidence: no machine is registered."))
        tagged = select(Tag.equipment_id).where(Tag.company_id == firm)
        connected = set(
            session.scalars(
                select(Equipment.id).where(
                    Equipment.company_id == firm, Equipment.protocol != "none", Equipment.id.in_(tagged)
                )
            )
        )
        newest = newest_by_machine(context)
        if newest is None:
            detail = N_("{connected} of {total} registered machines collect data automatically ({share}%).")
            share = len(connected) / total
            return Evidence(_stage_by_share(share, params), detail, _share_params(len(connected), total, share))
        days = int(params.get("window_days", 7))
        since = context.now - timedelta(days=days)
        arrived = {machine for machine, ts in newest.items() if machine in connected and ts >= since}
        share = len(arrived) / total
        detail = N_(
            "{connected} of {total} registered machines sent data automatically in the last {days} days ({share}%)."
        )
        return Evidence(
            _stage_by_share(share, params), detail, {**_share_params(len(arrived), total, share), "days": days}
        )


class DataFreshness:
    """Whether machine data actually arrives: machines with data in the window (→ 1) and live, today (→ 2).

    Reads the newest point of each of the firm's tags from the time-series store; without a store, or
    before any data arrived, it has no evidence (absence of data in Smart365 proves nothing).
    """

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        if context.store is None:
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        tags = _firm_tags(context)
        if not tags:
            return Evidence(None, N_("No evidence: no machine is registered."))
        newest = newest_by_machine(context, tags)
        if newest is None:
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        if not newest:
            return Evidence(None, N_("No evidence: no machine data has arrived in Smart365 yet."))
        days = int(params.get("window_days", 30))
        recent = {machine for machine, ts in newest.items() if ts >= context.now - timedelta(days=days)}
        live = {machine for machine, ts in newest.items() if ts >= context.now - LIVE_WITHIN}
        machines = len(set(tags.values()))
        stage = 2 if len(live) / machines >= float(params.get("live_share", 0.8)) else int(bool(recent))
        detail = N_("{live} of {total} machines sent data in the last day, {recent} in the last {days} days.")
        return Evidence(stage, detail, {"live": len(live), "recent": len(recent), "total": machines, "days": days})


class AlarmHandling:
    """Abnormality management (OPS.3): alarm rules or anomaly models watch the machines (→ 1), at least
    ``acknowledged_share`` of the last ``window_days``' alarms were acknowledged (→ 2), and an anomaly model
    scores live data besides (→ 3)."""

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        session, firm = context.session, context.company_id
        days = int(params.get("window_days", 30))
        rules = session.scalar(
            select(func.count()).select_from(AlarmRule).where(AlarmRule.company_id == firm, AlarmRule.enabled)
        )
        deployed = [m for m in _deployed(context) if m.kind.startswith("anomaly.")]
        if not rules and not deployed:
            return Evidence(None, N_("No evidence: no alarm rule or anomaly model watches the machines."))
        since = context.now - timedelta(days=days)
        raised, acked = session.execute(
            select(func.count(), func.count(AlarmEvent.acked_at)).where(
                AlarmEvent.company_id == firm, AlarmEvent.raised_at >= since
            )
        ).one()
        live = len(_scoring_live(context, deployed))
        share = acked / raised if raised else 0.0
        handled = raised > 0 and share >= float(params.get("acknowledged_share", 0.9))
        stage = 3 if handled and live else 2 if handled else 1
        detail = N_(
            "Last {days} days: {raised} alarms, {acked} acknowledged ({share}%); {rules} alarm rules active, "
            "{live} anomaly models scoring live data."
        )
        return Evidence(
            stage,
            detail,
            {"days": days, "raised": raised, "acked": acked, "share": round(100 * share), "rules": rules, "live": live},
        )


class SpcInUse:
    """Statistical process control (QUA.1): lines where at least one measured characteristic has enough
    points in the last ``window_days`` for a control chart (``min_points``). Every line → 2, some → 1.

    Stage 3 asks for violations acted on; Smart365 draws the charts on demand and does not record an action
    per violation yet, so this provider never proposes 3 and says so.
    """

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        if context.store is None:
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        lines = set(_lines(context).values())
        if not lines:
            return Evidence(None, N_("No evidence: no machine is registered."))
        days, least = int(params.get("window_days", 30)), int(params.get("min_points", 100))
        signals = _characteristics(context)
        try:
            counts = _point_counts(context.store, list(signals), context.now - timedelta(days=days), context.now)
        except Exception:  # an unreachable store means no evidence, never a broken page
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        charted = {signals[tag] for tag, n in counts.items() if n >= least}
        stage = 2 if charted >= lines else int(bool(charted))
        detail = N_(
            "{charted} of {total} lines have a signal with at least {points} points in the last {days} days for "
            "a control chart; acting on violations is not recorded yet, so stage 3 cannot be measured."
        )
        return Evidence(stage, detail, {"charted": len(charted), "total": len(lines), "points": least, "days": days})


class MaintenanceModel:
    """Predictive maintenance (EQP.2): a deployed condition model (anomaly detection or remaining life) that
    scores live data (its signals sent data in the last day) → 3; anything less is said, not guessed."""

    KINDS = ("anomaly.", "rul.")

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        deployed = [m for m in _deployed(context) if m.kind.startswith(self.KINDS)]
        if not deployed:
            return Evidence(None, N_("No evidence: no maintenance model is deployed in Smart365."))
        live = _scoring_live(context, deployed)
        machines = len({m.equipment_id for m in live})
        if not live:
            detail = N_("{deployed} maintenance models are deployed, but none of them got live data in the last day.")
            return Evidence(None, detail, {"deployed": len(deployed)})
        detail = N_("{live} of {deployed} deployed maintenance models score live data, on {machines} machines.")
        return Evidence(3, detail, {"live": len(live), "deployed": len(deployed), "machines": machines})


class OeeCoverage:
    """Equipment operation (EQP.1): lines where OEE is computed automatically, i.e. a machine has its OEE
    set up and its state signal sent data in the last ``window_days``. At least ``line_share`` → 2, some → 1."""

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        line_of = _lines(context)
        total = len(set(line_of.values()))
        if not total:
            return Evidence(None, N_("No evidence: no machine is registered."))
        settings = oee_settings(context.session, list(line_of))
        if not settings:
            return Evidence(0, N_("OEE is not set up for any of the {total} lines."), {"total": total})
        newest = newest_points(context, [s.state_tag_id for s in settings.values() if s.state_tag_id is not None])
        if newest is None:
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        days = int(params.get("window_days", 30))
        since = context.now - timedelta(days=days)
        arrived = {tag for tag, ts in newest.items() if ts >= since}
        computed = {line_of[machine] for machine, s in settings.items() if s.state_tag_id in arrived}
        stage = 2 if len(computed) / total >= float(params.get("line_share", 0.8)) else int(bool(computed))
        detail = N_("OEE was computed automatically for {computed} of {total} lines in the last {days} days.")
        return Evidence(stage, detail, {"computed": len(computed), "total": total, "days": days})


#: Instrument evidence hook → provider.
PROVIDERS: dict[str, EvidenceProvider] = {
    "equipment_connectivity": CollectionShare(),
    "mes_results": DataFreshness(),
    "alarm_handling": AlarmHandling(),
    "spc_in_use": SpcInUse(),
    "maintenance_model": MaintenanceModel(),
    "oee_coverage": OeeCoverage(),
}


@dataclass(frozen=True)
class ItemEvidence:
    """One item with a provider: the self-reported and measured stage side by side.

    ``disagrees`` when both exist and differ by a stage or more; ``flagged`` when the gap reaches the
    instrument's ``flag_gap`` (the policy then scores the lower of the two).
    """

    item_id: str
    reported: int | None
    evidence: Evidence
    disagrees: bool
    flagged: bool


def measure_items(instrument: Instrument, context: EvidenceContext) -> dict[str, Evidence]:
    """Evidence for every item of ``instrument`` that names a hook; unknown hooks give no evidence."""
    found: dict[str, Evidence] = {}
    for item in instrument.items:
        if item.evidence is None:
            continue
        provider = PROVIDERS.get(item.evidence.hook)
        found[item.id] = provider.measure(context, item.evidence.params) if provider else NO_EVIDENCE
    return found


def compare(
    instrument: Instrument, answers: Mapping[str, int | None], measured: Mapping[str, Evidence]
) -> list[ItemEvidence]:
    """Self-reported vs measured per item with evidence, in instrument order.

    >>> from smart365.assessment.instrument import default_instrument
    >>> rows = compare(default_instrument(), {"CTL.4": 3}, {"CTL.4": Evidence(1, "x")})
    >>> [(r.item_id, r.reported, r.evidence.stage, r.disagrees, r.flagged) for r in rows]
    [('CTL.4', 3, 1, True, True)]
    """
    rows = []
    for item_id in instrument.item_ids:
        if item_id not in measured:
            continue
        evidence, reported = measured[item_id], answers.get(item_id)
        gap = math.inf if reported is None or evidence.stage is None else abs(reported - evidence.stage)
        rows.append(
            ItemEvidence(
                item_id=item_id,
                reported=reported,
                evidence=evidence,
                disagrees=math.isfinite(gap) and gap >= 1,
                flagged=math.isfinite(gap) and gap >= instrument.evidence_policy.flag_gap,
            )
        )
    return rows


# -- reading the firm's data ------------------------------------------------------------------------------

LIVE_WITHIN = timedelta(days=1)  # data this recent counts as live


def newest_points(context: EvidenceContext, tag_ids: list[int]) -> dict[int, datetime] | None:
    """The newest point's time per tag (tags without data left out); ``None`` when the store is not reachable."""
    if context.store is None:
        return None
    if not tag_ids:
        return {}
    try:
        rows = context.store.latest(tag_ids).to_pylist()
    except Exception:  # an unreachable store means no evidence, never a broken page
        return None
    return {row["tag_id"]: _aware(row["ts"]) for row in rows if row["ts"] is not None}


def newest_by_machine(context: EvidenceContext, tags: dict[int, int] | None = None) -> dict[int, datetime] | None:
    """The newest point's time per machine of the firm (machines without data left out), or ``None`` when the
    store is not reachable; ``tags`` (tag id → machine id, see :func:`_firm_tags`) when already read."""
    tags = _firm_tags(context) if tags is None else tags
    newest = newest_points(context, list(tags))
    if newest is None:
        return None
    by_machine: dict[int, datetime] = {}
    for tag, ts in newest.items():
        by_machine[tags[tag]] = max(ts, by_machine.get(tags[tag], ts))
    return by_machine


def _firm_tags(context: EvidenceContext) -> dict[int, int]:
    """Tag id → machine id of the firm's tags."""
    query = select(Tag.id, Tag.equipment_id).where(Tag.company_id == context.company_id)
    return dict(context.session.execute(query).all())


def _lines(context: EvidenceContext) -> dict[int, int]:
    """Machine id → line id of the firm's machines."""
    query = select(Equipment.id, Equipment.line_id).where(Equipment.company_id == context.company_id)
    return dict(context.session.execute(query).all())


def _characteristics(context: EvidenceContext) -> dict[int, int]:
    """Tag id → line id of the firm's measured signals: every tag but the state, reason and counter tags that
    feed OEE (a state code or a part count is not a characteristic to chart)."""
    lines = _lines(context)
    settings = oee_settings(context.session, list(lines)).values()
    not_measured = {t for s in settings for t in (s.state_tag_id, s.reason_tag_id, s.count_tag_id, s.bad_tag_id)}
    return {tag: lines[machine] for tag, machine in _firm_tags(context).items() if tag not in not_measured}


def _point_counts(store: TimeSeriesStore, tag_ids: list[int], start: datetime, end: datetime) -> dict[int, int]:
    """Points per tag in ``[start, end)``, from the store's rollups (one bucket per tag)."""
    if not tag_ids:
        return {}
    table = store.range(tag_ids, start, end, max_points=1)
    counts: dict[int, int] = {}
    for tag, n in zip(table.column("tag_id").to_pylist(), table.column("count").to_pylist(), strict=True):
        counts[tag] = counts.get(tag, 0) + int(n)
    return counts


def _deployed(context: EvidenceContext) -> list[AnalyticsModel]:
    return [m for m in models.deployed(context.session) if m.company_id == context.company_id]


def _scoring_live(context: EvidenceContext, deployed: list[AnalyticsModel]) -> list[AnalyticsModel]:
    """The deployed models whose input signals sent data within :data:`LIVE_WITHIN` (they are being scored)."""
    newest = newest_points(context, sorted({t for m in deployed for t in m.tag_ids})) or {}
    since = context.now - LIVE_WITHIN
    return [m for m in deployed if any(newest.get(t, since) > since for t in m.tag_ids)]


def _share_params(connected: int, total: int, share: float) -> dict[str, Any]:
    return {"connected": connected, "total": total, "share": round(100 * share)}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
