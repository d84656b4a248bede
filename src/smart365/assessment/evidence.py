"""Measured evidence (측정 근거): items answered from the firm's own data instead of its word.

The instrument names an evidence ``hook`` on some items (maturity-model.md, "Measured evidence"); a
provider per hook reads the firm's data and proposes a stage with its proof, or says there is no evidence.
Until the data plane for alarms, SPC and deployed models exists, those providers answer "no evidence".

>>> NO_EVIDENCE.stage is None, Evidence(2, "{n} of {total} machines", {"n": 4, "total": 5}).english()
(True, '4 of 5 machines')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smart365.assessment.instrument import Instrument
from smart365.core.db import utcnow
from smart365.core.i18n import N_, gettext, translate_in
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
    """Share of registered machines set up for automatic data collection (a protocol and at least one tag)."""

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        tagged = select(Tag.equipment_id).where(Tag.company_id == context.company_id)
        total = context.session.scalar(
            select(func.count()).select_from(Equipment).where(Equipment.company_id == context.company_id)
        )
        if not total:
            return Evidence(None, N_("No evidence: no machine is registered."))
        connected = context.session.scalar(
            select(func.count())
            .select_from(Equipment)
            .where(Equipment.company_id == context.company_id, Equipment.protocol != "none", Equipment.id.in_(tagged))
        )
        share = (connected or 0) / total
        detail = N_("{connected} of {total} registered machines collect data automatically ({share}%).")
        return Evidence(_stage_by_share(share, params), detail, _share_params(connected or 0, total, share))


class DataFreshness:
    """Whether machine data actually arrives: machines with data in the window (→ 1) and live, today (→ 2).

    Reads the newest point of each of the firm's tags from the time-series store; without a store, or
    before any data arrived, it has no evidence (absence of data in Smart365 proves nothing).
    """

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        if context.store is None:
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        tags = dict(
            context.session.execute(select(Tag.id, Tag.equipment_id).where(Tag.company_id == context.company_id)).all()
        )
        if not tags:
            return Evidence(None, N_("No evidence: no machine is registered."))
        try:
            newest = context.store.latest(list(tags)).to_pylist()
        except Exception:  # an unreachable store means no evidence, never a broken page
            return Evidence(None, N_("No evidence: the time-series store is not reachable."))
        if not newest:
            return Evidence(None, N_("No evidence: no machine data has arrived in Smart365 yet."))
        return self._stage(context, params, tags, newest)

    def _stage(
        self, context: EvidenceContext, params: Mapping[str, Any], tags: dict[int, int], newest: list[dict[str, Any]]
    ) -> Evidence:
        window = context.now - timedelta(days=int(params.get("window_days", 30)))
        live_since = context.now - timedelta(days=1)
        machines = len(set(tags.values()))
        recent = {tags[p["tag_id"]] for p in newest if p["ts"] is not None and _aware(p["ts"]) >= window}
        live = {tags[p["tag_id"]] for p in newest if p["ts"] is not None and _aware(p["ts"]) >= live_since}
        stage = 2 if len(live) / machines >= float(params.get("live_share", 0.8)) else int(bool(recent))
        detail = N_("{live} of {total} machines sent data in the last day, {recent} in the last {days} days.")
        return Evidence(
            stage,
            detail,
            {"live": len(live), "recent": len(recent), "total": machines, "days": params.get("window_days", 30)},
        )


class NotYetMeasured:
    """A provider whose data (alarms, SPC, deployed models, OEE) Smart365 does not keep yet."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def measure(self, context: EvidenceContext, params: Mapping[str, Any]) -> Evidence:
        return Evidence(None, self.detail)


#: Instrument evidence hook → provider.
PROVIDERS: dict[str, EvidenceProvider] = {
    "equipment_connectivity": CollectionShare(),
    "mes_results": DataFreshness(),
    "alarm_handling": NotYetMeasured(N_("No evidence: alarms and their acknowledgements are not recorded yet.")),
    "spc_in_use": NotYetMeasured(N_("No evidence: SPC charts are not run in Smart365 yet.")),
    "maintenance_model": NotYetMeasured(N_("No evidence: no maintenance model is deployed in Smart365 yet.")),
    "oee_coverage": NotYetMeasured(N_("No evidence: OEE is not computed in Smart365 yet.")),
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


def _share_params(connected: int, total: int, share: float) -> dict[str, Any]:
    return {"connected": connected, "total": total, "share": round(100 * share)}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
