"""Gap analysis and priorities (격차 분석·우선순위): how far each item is from the target, and what next.

For a target level t (default: the instrument's, 3) the gap of an item is ``max(0, t − stage) × weight``
with the item's weight after N/A redistribution (an N/A item has no gap). Its priority is
``gap × (1 + impact)`` where impact is 1 when the item is linked to a KPI the firm marked as a priority
(the links are data: ``kpi_links`` in the instrument). The roadmap lists the items of highest priority with
the concrete step for each stage transition up to the target, in Korean and English, and a rough effort.

>>> from smart365.assessment.instrument import default_instrument
>>> from smart365.assessment.scoring import score
>>> instrument = default_instrument()
>>> answers = np.full((1, 42), 3.0)
>>> answers[0, instrument.item_index("CTL.4")] = 1.0
>>> [entry.item_id for entry in roadmap(instrument, answers[0], score(instrument, answers).item_weight[0])]
['CTL.4']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from smart365.assessment.instrument import FloatArray, Instrument, Text
from smart365.assessment.scoring import Scores, stage_matrix

BoolArray = npt.NDArray[np.bool_]


def gaps(
    instrument: Instrument, stages: npt.ArrayLike, weights: npt.ArrayLike, target: int | None = None
) -> FloatArray:
    """Gap per item: ``max(0, target − stage) × weight`` (0 for N/A), shape ``(n, n_items)``.

    >>> from smart365.assessment.instrument import default_instrument
    >>> from smart365.assessment.scoring import score
    >>> answers = np.full((1, 42), 3.0)
    >>> answers[0, 0] = 1.0                       # STR.1 (25 points) two stages short of Level 3
    >>> float(gaps(default_instrument(), answers, score(default_instrument(), answers).item_weight)[0, 0])
    50.0
    """
    matrix = stage_matrix(instrument, stages)
    goal = instrument.target_level if target is None else target
    if not 1 <= goal <= len(instrument.thresholds):
        raise ValueError(f"target level must be 1..{len(instrument.thresholds)}, got {goal}")
    shortfall = np.clip(goal - matrix, 0.0, None)
    return np.where(np.isnan(matrix), 0.0, shortfall * np.asarray(weights, dtype=np.float64))


def impact(instrument: Instrument, priority_kpis: Sequence[Iterable[str]]) -> BoolArray:
    """Whether each item is linked to one of the response's priority KPIs, shape ``(n, n_items)``.

    >>> from smart365.assessment.instrument import default_instrument
    >>> instrument = default_instrument()
    >>> linked = impact(instrument, [["KPI.6"]])[0]
    >>> sorted(instrument.item_ids[i] for i in np.flatnonzero(linked))
    ['CTL.3', 'EQP.1', 'EQP.2', 'EQP.3', 'EQP.4', 'KPI.6', 'OPS.3']
    """
    kpi_ids = instrument.kpi_ids
    chosen = np.zeros((len(priority_kpis), len(kpi_ids)), dtype=np.uint8)
    for row, kpis in enumerate(priority_kpis):
        for kpi in kpis:
            if kpi not in kpi_ids:
                raise ValueError(f"{kpi} is not a KPI item ({', '.join(kpi_ids)})")
            chosen[row, kpi_ids.index(kpi)] = 1
    return (chosen @ instrument.kpi_matrix.astype(np.uint8)) > 0


def priorities(
    instrument: Instrument, gap: npt.ArrayLike, priority_kpis: Sequence[Iterable[str]] | None = None
) -> FloatArray:
    """Priority per item: ``gap × (1 + impact)``.

    >>> from smart365.assessment.instrument import default_instrument
    >>> instrument = default_instrument()
    >>> gap = np.ones((1, 42))
    >>> p = priorities(instrument, gap, [["KPI.6"]])[0]
    >>> float(p[instrument.item_index("EQP.2")]), float(p[instrument.item_index("QUA.1")])
    (2.0, 1.0)
    """
    gap_matrix = np.atleast_2d(np.asarray(gap, dtype=np.float64))
    if priority_kpis is None:
        return gap_matrix.copy()
    return gap_matrix * (1.0 + impact(instrument, priority_kpis))


@dataclass(frozen=True)
class RoadmapStep:
    """One stage transition of an item, e.g. 1 → 2, with its concrete action and rough effort."""

    from_stage: int
    to_stage: int
    text: Text
    weeks: float


@dataclass(frozen=True)
class RoadmapEntry:
    """An item to improve: where it is, its gap and priority, and the steps to the target."""

    item_id: str
    domain: str
    name: Text
    stage: float
    target: int
    gap: float
    priority: float
    kpis: tuple[str, ...]
    steps: tuple[RoadmapStep, ...]

    @property
    def weeks(self) -> float:
        """Rough effort of all steps, in weeks."""
        return sum(step.weeks for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (numbers rounded to 0.1)."""
        return {
            "item": self.item_id, "domain": self.domain, "name": self.name.as_dict(), "stage": self.stage,
            "target": self.target, "gap": round(self.gap, 1), "priority": round(self.priority, 1),
            "kpis": list(self.kpis), "weeks": self.weeks,
            "steps": [{"from": s.from_stage, "to": s.to_stage, "ko": s.text.ko, "en": s.text.en,
                       "weeks": s.weeks} for s in self.steps],
        }


def roadmap(
    instrument: Instrument,
    stages: npt.ArrayLike,
    weights: npt.ArrayLike,
    *,
    priority_kpis: Iterable[str] = (),
    target: int | None = None,
    top: int = 5,
) -> list[RoadmapEntry]:
    """The ``top`` items of one response by priority (then gap, then instrument order), with their steps.

    >>> from smart365.assessment.instrument import default_instrument
    >>> from smart365.assessment.scoring import score
    >>> instrument = default_instrument()
    >>> answers = np.full(42, 3.0)
    >>> answers[instrument.item_index("SYS.3")] = 1.0
    >>> entry = roadmap(instrument, answers, score(instrument, answers).item_weight[0])[0]
    >>> entry.item_id, entry.gap, [(s.from_stage, s.to_stage) for s in entry.steps], entry.steps[0].text.en
    ('SYS.3', 80.0, [(1, 2), (2, 3)], 'Feed per-machine results into MES live and automatically')
    """
    kpis = [tuple(priority_kpis)]
    return roadmaps(instrument, stages, weights, priority_kpis=kpis, target=target, top=top)[0]


def roadmaps(
    instrument: Instrument,
    stages: npt.ArrayLike,
    weights: npt.ArrayLike,
    *,
    priority_kpis: Sequence[Iterable[str]] | None = None,
    target: int | None = None,
    top: int = 5,
) -> list[list[RoadmapEntry]]:
    """:func:`roadmap` for every response of a stage matrix (selection vectorised, entries per row)."""
    matrix = stage_matrix(instrument, stages)
    goal = instrument.target_level if target is None else target
    gap = gaps(instrument, matrix, np.atleast_2d(np.asarray(weights, dtype=np.float64)), goal)
    kpi_sets = [tuple(k) for k in priority_kpis] if priority_kpis is not None else [()] * len(matrix)
    priority = priorities(instrument, gap, kpi_sets)
    columns = np.broadcast_to(np.arange(matrix.shape[1]), matrix.shape)
    order = np.lexsort(np.stack([columns, -gap, -priority]), axis=-1)[:, :top]  # priority, gap, item order
    picked = [order.tolist()] + [np.take_along_axis(values, order, axis=1).tolist()
                                 for values in (matrix, gap, priority)]
    build = _EntryBuilder(instrument, goal)
    return [[build(column, stage, g, p, kpi_sets[row])
             for column, stage, g, p in zip(*chosen, strict=True) if g > 0]
            for row, chosen in enumerate(zip(*picked, strict=True))]


def roadmaps_for(
    scores: Scores, stages: npt.ArrayLike, *, priority_kpis: Sequence[Iterable[str]] | None = None,
    target: int | None = None, top: int = 5,
) -> list[list[RoadmapEntry]]:
    """Roadmaps using the item weights of already computed :class:`Scores`."""
    return roadmaps(scores.instrument, stages, scores.item_weight, priority_kpis=priority_kpis, target=target,
                    top=top)


class _EntryBuilder:
    """Builds roadmap entries fast: steps per (item, stage) looked up once, not per response."""

    def __init__(self, instrument: Instrument, target: int) -> None:
        self.instrument, self.target = instrument, target
        self.steps = [[self._step(item.id, stage) for stage in range(target)] for item in instrument.items]
        self.links = {kpi: instrument.kpi_matrix[k].tolist() for k, kpi in enumerate(instrument.kpi_ids)}

    def _step(self, item_id: str, from_stage: int) -> RoadmapStep | None:
        step = self.instrument.step(item_id, from_stage)
        return None if step is None else RoadmapStep(from_stage, from_stage + 1, step.text, step.weeks)

    def __call__(
        self, column: int, stage: float, gap: float, priority: float, kpis: tuple[str, ...]
    ) -> RoadmapEntry:
        item = self.instrument.items[column]
        steps = tuple(step for step in self.steps[column][math.floor(stage):] if step is not None)
        linked = tuple(kpi for kpi in kpis if self.links[kpi][column])
        return RoadmapEntry(item_id=item.id, domain=item.domain, name=item.name, stage=stage,
                            target=self.target, gap=gap, priority=priority, kpis=linked, steps=steps)
