"""Scoring (채점): stage answers → item points, domain and area stages, total (0–1,000) and level.

Two implementations of the same rules in maturity-model.md:

- :func:`score` scores a whole survey (전수조사) at once: an ``(n_responses, n_items)`` matrix of stages
  0–5 with NaN for N/A, vectorised with NumPy (100,000 responses in well under a second);
- :func:`explain` scores one response in plain Python and returns every number behind the result (each
  item's weight after N/A redistribution, domain sums, each level rule with its numbers, the rule that
  blocks the next level) for a page to render. Tests check that both agree.

N/A: an item's weight goes to the applicable items of its domain (in proportion to their weights); a domain
with every item N/A passes its points to the other domains of its area; an area with every item N/A passes
its points to the other areas, so the maximum stays 1,000. When the systems area itself is entirely N/A the
systems rule (rule 2) fails for levels that need it: a level above 1 needs proof of connection.

Comparisons with thresholds use the unrounded values with a tolerance of 1e-6 points (1e-9 stages), so a
response sitting exactly on a threshold reaches it despite floating-point sums.

>>> from smart365.assessment.instrument import default_instrument
>>> instrument = default_instrument()
>>> scores = score(instrument, np.full((2, 42), 3.0))
>>> scores.total.tolist(), scores.level.tolist(), scores.blocking_rule(0)
([600.0, 600.0], [3, 3], 'threshold')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

import numpy as np
import numpy.typing as npt

from smart365.assessment.instrument import TOTAL_POINTS, FloatArray, Instrument

#: The level rules, in the order the diagnosis names them.
RULES: Final = ("threshold", "systems_area", "domain_lag")
EPS_POINTS: Final = 1e-6
EPS_STAGE: Final = 1e-9
MAX_STAGE: Final = 5.0

BoolArray = npt.NDArray[np.bool_]


def stage_matrix(instrument: Instrument, stages: npt.ArrayLike) -> FloatArray:
    """Check and convert answers to a float ``(n, n_items)`` matrix (one response may be 1-D).

    >>> from smart365.assessment.instrument import default_instrument
    >>> stage_matrix(default_instrument(), [2.0] * 42).shape
    (1, 42)
    """
    matrix = np.atleast_2d(np.asarray(stages, dtype=np.float64))
    n_items = len(instrument.items)
    if matrix.ndim != 2 or matrix.shape[1] != n_items:
        raise ValueError(f"expected {n_items} item columns, got shape {matrix.shape}")
    if np.any(matrix < 0) or np.any(matrix > MAX_STAGE):  # NaN compares false: N/A passes
        raise ValueError("stages must lie in 0..5 (NaN for N/A)")
    return matrix


@dataclass(frozen=True, eq=False)
class Scores:
    """Scores of ``n`` responses; row ``r`` of every array belongs to response ``r``.

    Points after N/A redistribution: ``item_weight`` (0 for N/A items), ``domain_points`` and
    ``area_points`` (0 where dropped). ``domain_score``/``area_score`` are points earned and the
    ``*_stage`` arrays weighted mean stages (NaN where dropped). ``failing[r, j]`` is true when rule
    ``RULES[j]`` stops response ``r`` from reaching ``level + 1``; ``blocking`` is the first such rule's
    index, -1 at the top level.
    """

    instrument: Instrument
    total: FloatArray
    level: npt.NDArray[np.int8]
    item_weight: FloatArray
    domain_points: FloatArray
    domain_score: FloatArray
    domain_stage: FloatArray
    area_points: FloatArray
    area_score: FloatArray
    area_stage: FloatArray
    failing: BoolArray
    blocking: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.total.shape[0])

    def blocking_rule(self, row: int) -> str | None:
        """The first rule that stops response ``row`` from reaching the next level (``None`` at Level 5)."""
        index = int(self.blocking[row])
        return None if index < 0 else RULES[index]

    def blocking_rules(self, row: int) -> list[str]:
        """Every rule that stops response ``row`` from reaching the next level."""
        return [rule for rule, fails in zip(RULES, self.failing[row], strict=True) if fails]

    def lagging_domains(self, row: int) -> list[str]:
        """Domains whose stage is too low for the next level (rule 3)."""
        mask = self._lagging(np.array([row]))[0]
        return [d for d, lags in zip(self.instrument.domain_ids, mask.tolist(), strict=True) if lags]

    def _lagging(self, rows: npt.NDArray[np.intp] | slice) -> BoolArray:
        bound = self.level[rows].astype(np.float64) + 1 - self.instrument.gating.domain_lag - EPS_STAGE
        with np.errstate(invalid="ignore"):
            return self.failing[rows, 2][:, None] & (self.domain_stage[rows] < bound[:, None])

    def level_counts(self) -> dict[int, int]:
        """How many responses sit at each level 0..5.

        >>> from smart365.assessment.instrument import default_instrument
        >>> score(default_instrument(), np.full((3, 42), 1.0)).level_counts()
        {0: 0, 1: 3, 2: 0, 3: 0, 4: 0, 5: 0}
        """
        counts = np.bincount(self.level, minlength=len(self.instrument.levels))
        return {level: int(count) for level, count in enumerate(counts)}

    def summary(self, row: int) -> dict[str, Any]:
        """JSON-ready result of response ``row`` (see :meth:`summaries`).

        >>> from smart365.assessment.instrument import default_instrument
        >>> result = score(default_instrument(), np.full((1, 42), 2.0)).summary(0)
        >>> result["total"], result["level"], result["domains"]["STR"], result["points_to_next_level"]
        (400.0, 2, {'score': 40.0, 'stage': 2.0}, 150.0)
        """
        return self.summaries([row])[0]

    def summaries(self, rows: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """JSON-ready results (all rows by default): scores rounded to 0.1, stages to 0.01, ``None`` for
        N/A; arrays are converted in bulk, which matters for 100,000 firms."""
        pick: npt.NDArray[np.intp] | slice = slice(None) if rows is None else np.asarray(rows, dtype=np.intp)
        inst = self.instrument
        top = len(inst.thresholds)
        levels = self.level[pick].tolist()
        to_next = np.append(np.asarray(inst.thresholds), np.nan)[self.level[pick]] - self.total[pick]
        columns = {
            "total": np.round(self.total[pick], 1).tolist(), "to_next": np.round(np.maximum(to_next, 0), 1).tolist(),
            "failing": self.failing[pick].tolist(), "lagging": self._lagging(pick).tolist(),
            "domains": _parts(inst.domain_ids, self.domain_score[pick], self.domain_stage[pick]),
            "areas": _parts(inst.area_ids, self.area_score[pick], self.area_stage[pick]),
        }
        results = []
        for r, level in enumerate(levels):
            failing = [rule for rule, fails in zip(RULES, columns["failing"][r], strict=True) if fails]
            results.append({
                "total": columns["total"][r], "level": level, "level_name": inst.level_name(level).as_dict(),
                "domains": columns["domains"][r], "areas": columns["areas"][r],
                "next_level": level + 1 if level < top else None,
                "points_to_next_level": columns["to_next"][r] if level < top else None,
                "blocking_rule": failing[0] if failing else None, "blocking_rules": failing,
                "lagging_domains": [d for d, lags in zip(inst.domain_ids, columns["lagging"][r], strict=True)
                                    if lags],
                "instrument": inst.version,
            })
        return results


def _parts(ids: Sequence[str], scores: FloatArray, stages: FloatArray) -> list[dict[str, dict[str, float | None]]]:
    """Per row ``{id: {"score", "stage"}}`` with NaN (dropped) as ``None``."""
    score_rows, stage_rows = np.round(scores, 1).tolist(), np.round(stages, 2).tolist()
    return [{part: {"score": None if math.isnan(sc) else sc, "stage": None if math.isnan(st) else st}
             for part, sc, st in zip(ids, score_row, stage_row, strict=True)}
            for score_row, stage_row in zip(score_rows, stage_rows, strict=True)]


# --------------------------------------------------------------------------- vectorised


def score(instrument: Instrument, stages: npt.ArrayLike, *, chunk_size: int = 4096) -> Scores:
    """Score every response of an ``(n, n_items)`` stage matrix (NaN = N/A), in chunks to bound memory.

    >>> from smart365.assessment.instrument import default_instrument
    >>> answers = np.full((1, 42), 2.0)
    >>> answers[0, :4] = [5, 3, 4, np.nan]        # STR.4 N/A: its 25 points go to STR.1–3
    >>> result = score(default_instrument(), answers)
    >>> round(float(result.total[0]), 3), int(result.level[0]), result.blocking_rules(0)
    (440.0, 2, ['threshold', 'systems_area'])
    """
    matrix = stage_matrix(instrument, stages)
    n = matrix.shape[0]
    n_domains, n_areas = len(instrument.domains), len(instrument.areas)
    out = {
        "item_weight": np.empty(matrix.shape), "domain_points": np.empty((n, n_domains)),
        "domain_score": np.empty((n, n_domains)), "domain_stage": np.empty((n, n_domains)),
        "area_points": np.empty((n, n_areas)), "area_score": np.empty((n, n_areas)),
        "area_stage": np.empty((n, n_areas)),
    }
    for start in range(0, n, chunk_size):
        part = slice(start, min(start + chunk_size, n))
        for name, value in _score_chunk(instrument, matrix[part]).items():
            out[name][part] = value
    total = out["area_score"].sum(axis=1, where=~np.isnan(out["area_score"]))
    systems_stage = out["area_stage"][:, instrument.systems_area_index]
    lowest_domain = np.where(np.isnan(out["domain_stage"]), np.inf, out["domain_stage"]).min(axis=1)
    level, failing, blocking = _levels(instrument, total, systems_stage, lowest_domain)
    return Scores(instrument=instrument, total=total, level=level, failing=failing, blocking=blocking, **out)


def _by_domain(inst: Instrument, per_item: FloatArray) -> FloatArray:
    """Sum item columns per domain (contiguous groups: a plain reduction, no BLAS threads)."""
    return np.add.reduceat(per_item, inst.domain_start, axis=1)


def _by_area(inst: Instrument, per_domain: FloatArray) -> FloatArray:
    return np.add.reduceat(per_domain, inst.area_start, axis=1)


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """numerator / denominator, NaN where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0)


def _score_chunk(inst: Instrument, stages: FloatArray) -> dict[str, FloatArray]:
    applicable = ~np.isnan(stages)
    answered = np.where(applicable, stages, 0.0)
    base_weight = applicable * inst.item_weight                           # N/A items weigh nothing
    domain_base = _by_domain(inst, base_weight)                           # applicable base weight per domain
    domain_kept = (domain_base > 0) * inst.domain_points                  # all-N/A domains dropped
    area_kept = _by_area(inst, domain_kept)
    area_used = (area_kept > 0) * inst.area_points                        # all-N/A areas dropped
    scale = _zero_nan(_ratio(np.full(len(area_used), TOTAL_POINTS), area_used.sum(axis=1)))
    area_points = area_used * scale[:, None]
    domain_points = domain_kept * _zero_nan(_ratio(area_points, area_kept))[:, inst.domain_area]
    item_weight = base_weight * _zero_nan(_ratio(domain_points, domain_base))[:, inst.item_domain]
    weighted = item_weight * answered
    domain_sum = _by_domain(inst, weighted)
    area_sum = _by_area(inst, domain_sum)
    return {
        "item_weight": item_weight, "domain_points": domain_points,
        "domain_score": np.where(domain_points > 0, domain_sum / MAX_STAGE, np.nan),
        "domain_stage": _ratio(domain_sum, domain_points),
        "area_points": area_points, "area_score": np.where(area_points > 0, area_sum / MAX_STAGE, np.nan),
        "area_stage": _ratio(area_sum, area_points),
    }


def _zero_nan(values: FloatArray) -> FloatArray:
    return np.nan_to_num(values, nan=0.0)


def _levels(
    inst: Instrument, total: FloatArray, systems_stage: FloatArray, min_domain_stage: FloatArray
) -> tuple[npt.NDArray[np.int8], BoolArray, npt.NDArray[np.int8]]:
    """Level = highest k whose three rules hold; which rules fail for level + 1."""
    gating = inst.gating
    k = np.arange(1, len(inst.thresholds) + 1)
    ungated = k < gating.from_level
    with np.errstate(invalid="ignore"):
        checks = np.stack([
            total[:, None] >= np.asarray(inst.thresholds) - EPS_POINTS,
            ungated | (systems_stage[:, None] >= k - gating.area_lag - EPS_STAGE),   # NaN (all N/A) fails
            ungated | (min_domain_stage[:, None] >= k - gating.domain_lag - EPS_STAGE),
        ], axis=2)                                                                    # (n, levels, rules)
    level = np.where(checks.all(axis=2), k, 0).max(axis=1, initial=0).astype(np.int8)
    top = level >= k[-1]
    next_index = np.minimum(level, k[-1] - 1)
    failing = ~checks[np.arange(total.size), next_index] & ~top[:, None]
    blocking = np.where(failing.any(axis=1), failing.argmax(axis=1), -1).astype(np.int8)
    return level, failing, blocking


# --------------------------------------------------------------------------- measured evidence


def apply_evidence(
    instrument: Instrument, self_reported: npt.ArrayLike, measured: npt.ArrayLike
) -> tuple[FloatArray, BoolArray]:
    """Combine self-reported and measured stages (NaN = none) by the instrument's evidence policy.

    Returns the stages to score and a flag per cell where both exist and differ by ``flag_gap`` or more.

    >>> from smart365.assessment.instrument import default_instrument
    >>> used, flags = apply_evidence(default_instrument(), [[3.0, 1.0, np.nan]], [[1.0, np.nan, 2.0]])
    >>> used.tolist(), flags.tolist()
    ([[1.0, 1.0, 2.0]], [[True, False, False]])
    """
    reported = np.asarray(self_reported, dtype=np.float64)
    proven = np.asarray(measured, dtype=np.float64)
    policy = instrument.evidence_policy
    if policy.use == "lower":
        used = np.fmin(reported, proven)
    elif policy.use == "measured":
        used = np.where(np.isnan(proven), reported, proven)
    else:
        used = np.where(np.isnan(reported), proven, reported)
    with np.errstate(invalid="ignore"):
        flags = np.abs(reported - proven) >= policy.flag_gap - EPS_STAGE
    return used, flags


# --------------------------------------------------------------------------- per response, explained


class TextDict(TypedDict):
    ko: str
    en: str


class ItemExplanation(TypedDict):
    id: str
    domain: str
    name: TextDict
    stage: float | None
    applicable: bool
    base_weight: float
    weight: float
    points: float


class PartExplanation(TypedDict):
    """A domain or an area: ``points`` is its share of 1,000 after redistribution, ``score`` its earnings."""

    id: str
    parent: str | None
    name: TextDict
    applicable: bool
    base_points: float
    points: float
    score: float | None
    stage: float | None


class RuleCheck(TypedDict):
    rule: str
    applies: bool
    value: float | None
    required: float | None
    passed: bool
    domains: list[str]


class LevelCheck(TypedDict):
    level: int
    passed: bool
    checks: list[RuleCheck]


class Explanation(TypedDict):
    instrument: str
    company: str | None
    total: float
    level: int
    level_name: TextDict
    items: list[ItemExplanation]
    domains: list[PartExplanation]
    areas: list[PartExplanation]
    levels: list[LevelCheck]
    next_level: int | None
    blocking_rule: str | None
    blocking_rules: list[str]
    lagging_domains: list[str]


Answers = Sequence[float | None] | Mapping[str, float | None]


def explain(instrument: Instrument, answers: Answers, *, company: str | None = None) -> Explanation:
    """Score one response in plain Python and show every number behind its level.

    ``answers``: stages in item order, or a mapping item id → stage; ``None``/NaN/missing = N/A.

    >>> from smart365.assessment.instrument import default_instrument
    >>> answers = {item_id: 3 for item_id in default_instrument().item_ids}
    >>> answers |= {"LOG.1": 1, "LOG.2": 1, "LOG.3": 1}
    >>> result = explain(default_instrument(), answers)
    >>> round(result["total"], 3), result["level"], result["blocking_rule"], result["lagging_domains"]
    (573.333, 2, 'domain_lag', ['LOG'])
    >>> check = result["levels"][2]["checks"][2]
    >>> check["rule"], check["value"], check["required"], check["passed"]
    ('domain_lag', 1.0, 2.0, False)
    """
    stages = _answers_by_item(instrument, answers)
    items = _explain_items(instrument, stages)
    domains = _explain_domains(instrument, items)
    areas = _explain_areas(instrument, domains)
    total = sum(item["points"] for item in items)
    levels = [_check_level(instrument, k, total, areas, domains)
              for k in range(1, len(instrument.thresholds) + 1)]
    level = max((check["level"] for check in levels if check["passed"]), default=0)
    next_check = levels[level] if level < len(levels) else None
    failing = [c for c in next_check["checks"] if not c["passed"]] if next_check else []
    return Explanation(
        instrument=instrument.version, company=company, total=total, level=level,
        level_name=_text(instrument.level_name(level)), items=items, domains=domains, areas=areas,
        levels=levels, next_level=next_check["level"] if next_check else None,
        blocking_rule=failing[0]["rule"] if failing else None, blocking_rules=[c["rule"] for c in failing],
        lagging_domains=next(iter(c["domains"] for c in failing if c["rule"] == "domain_lag"), []),
    )


def _text(text: Any) -> TextDict:
    return TextDict(ko=text.ko, en=text.en)


def _answers_by_item(instrument: Instrument, answers: Answers) -> dict[str, float | None]:
    if isinstance(answers, Mapping):
        unknown = set(answers) - set(instrument.item_ids)
        if unknown:
            raise ValueError(f"unknown items: {', '.join(sorted(unknown))}")
        raw = [answers.get(item_id) for item_id in instrument.item_ids]
    else:
        raw = list(answers)
        if len(raw) != len(instrument.items):
            raise ValueError(f"expected {len(instrument.items)} answers, got {len(raw)}")
    stages: dict[str, float | None] = {}
    for item_id, value in zip(instrument.item_ids, raw, strict=True):
        stage = None if value is None or math.isnan(float(value)) else float(value)
        if stage is not None and not 0 <= stage <= MAX_STAGE:
            raise ValueError(f"{item_id}: {value} is not a stage 0–5")
        stages[item_id] = stage
    return stages


def _explain_items(inst: Instrument, stages: dict[str, float | None]) -> list[ItemExplanation]:
    """Base weights, then the N/A redistribution: items within a domain, domains within an area, areas."""
    area_of = {d.id: d.area for d in inst.domains}
    domain_base = dict(zip(inst.domain_ids, inst.domain_points.tolist(), strict=True))
    item_base = dict(zip(inst.item_ids, inst.item_weight.tolist(), strict=True))
    applicable_base: dict[str, float] = {d.id: 0.0 for d in inst.domains}
    for item in inst.items:
        if stages[item.id] is not None:
            applicable_base[item.domain] += item_base[item.id]
    area_kept = {a.id: sum(points for d, points in domain_base.items()
                           if area_of[d] == a.id and applicable_base[d] > 0) for a in inst.areas}
    used = sum(a.points for a in inst.areas if area_kept[a.id] > 0)
    area_points = {a.id: a.points * TOTAL_POINTS / used if area_kept[a.id] > 0 else 0.0 for a in inst.areas}
    explained = []
    for item in inst.items:
        stage, domain = stages[item.id], item.domain
        weight = 0.0
        if stage is not None:
            domain_points = domain_base[domain] * area_points[area_of[domain]] / area_kept[area_of[domain]]
            weight = item_base[item.id] * domain_points / applicable_base[domain]
        explained.append(ItemExplanation(
            id=item.id, domain=domain, name=_text(item.name), stage=stage, applicable=stage is not None,
            base_weight=item_base[item.id], weight=weight, points=weight * (stage or 0.0) / MAX_STAGE))
    return explained


def _explain_domains(inst: Instrument, items: list[ItemExplanation]) -> list[PartExplanation]:
    parts = []
    for domain in inst.domains:
        own = [item for item in items if item["domain"] == domain.id]
        points = sum(item["weight"] for item in own)
        weighted = sum(item["weight"] * (item["stage"] or 0.0) for item in own)
        parts.append(PartExplanation(
            id=domain.id, parent=domain.area, name=_text(domain.name), applicable=points > 0,
            base_points=sum(item["base_weight"] for item in own), points=points,
            score=weighted / MAX_STAGE if points > 0 else None,
            stage=weighted / points if points > 0 else None))
    return parts


def _explain_areas(inst: Instrument, domains: list[PartExplanation]) -> list[PartExplanation]:
    parts = []
    for area in inst.areas:
        own = [d for d in domains if d["parent"] == area.id and d["applicable"]]
        points = sum(d["points"] for d in own)
        earned = sum(d["score"] or 0.0 for d in own)
        parts.append(PartExplanation(
            id=area.id, parent=None, name=_text(area.name), applicable=points > 0, base_points=area.points,
            points=points, score=earned if points > 0 else None,
            stage=earned * MAX_STAGE / points if points > 0 else None))
    return parts


def _check_level(
    inst: Instrument, k: int, total: float, areas: list[PartExplanation], domains: list[PartExplanation]
) -> LevelCheck:
    gating = inst.gating
    gated = k >= gating.from_level
    threshold = inst.thresholds[k - 1]
    systems = next(a for a in areas if a["id"] == gating.systems_area)["stage"]
    applicable = [d for d in domains if d["stage"] is not None]
    lowest = min((d["stage"] for d in applicable if d["stage"] is not None), default=None)
    area_bound, domain_bound = k - gating.area_lag, k - gating.domain_lag
    lagging = [d["id"] for d in applicable
               if d["stage"] is not None and d["stage"] < domain_bound - EPS_STAGE]
    checks = [
        RuleCheck(rule="threshold", applies=True, value=total, required=threshold,
                  passed=total >= threshold - EPS_POINTS, domains=[]),
        RuleCheck(rule="systems_area", applies=gated, value=systems, required=area_bound if gated else None,
                  passed=not gated or (systems is not None and systems >= area_bound - EPS_STAGE),
                  domains=[]),
        RuleCheck(rule="domain_lag", applies=gated, value=lowest, required=domain_bound if gated else None,
                  passed=not gated or not lagging, domains=lagging if gated else []),
    ]
    return LevelCheck(level=k, passed=all(c["passed"] for c in checks), checks=checks)
