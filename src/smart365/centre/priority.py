"""Ranking firms for priority technical support (우선 기술지원 대상).

Each component is scaled to 0–1 and weighted by ``data/priority_weights.yaml`` (centre-editable):

- ``sobujang``: 1 for a materials, parts and equipment (소재·부품·장비) firm, else 0;
- ``gap``: where the firm stands against the target level (Level 3). With ``prefer: near`` a firm just below
  the target scores close to 1 and one ``max_gap`` levels or more below scores 0; with ``prefer: far`` the
  reverse. A firm at or above the target scores 0;
- ``readiness``: the weighted mean of people, systems and data readiness (each 0–1);
- ``impact``: the expected impact of support (0–1).

score = Σ weight × value, and every ranked firm carries each component's contribution and an explanation.

>>> ranked = rank_firms([FirmProfile("a", sobujang=True, level=2.5, people=0.5, systems=0.5, data=0.5, impact=0.5),
...                      FirmProfile("b", sobujang=False, level=1.0, people=0.2, systems=0.2, data=0.2, impact=0.2)])
>>> [(r.rank, r.firm_id, round(r.score, 1)) for r in ranked]
[(1, 'a', 70.0), (2, 'b', 20.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smart365.centre.categories import DATA_DIR, read_data_file
from smart365.core.errors import Invalid
from smart365.core.i18n import LOCALES, N_, translate_in

WEIGHTS_FILE = DATA_DIR / "priority_weights.yaml"
COMPONENTS = ("sobujang", "gap", "readiness", "impact")


class ComponentWeights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sobujang: float = Field(ge=0)
    gap: float = Field(ge=0)
    readiness: float = Field(ge=0)
    impact: float = Field(ge=0)


class ReadinessParts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    people: float = Field(ge=0)
    systems: float = Field(ge=0)
    data: float = Field(ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ReadinessParts:
        if self.people + self.systems + self.data <= 0:
            raise ValueError("readiness parts must not all be zero")
        return self


class GapRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    target_level: float = Field(default=3, gt=0, le=5)
    max_gap: float = Field(default=3, gt=0)
    prefer: Literal["near", "far"] = "near"


class PriorityWeights(BaseModel):
    """The contents of ``priority_weights.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    weights: ComponentWeights
    readiness_parts: ReadinessParts
    gap: GapRule = GapRule()

    @model_validator(mode="after")
    def _some_weight(self) -> PriorityWeights:
        if sum(self.weights.model_dump().values()) <= 0:
            raise ValueError("at least one component weight must be positive")
        return self


def load_weights(path: Path | None = None) -> PriorityWeights:
    """The weights file (default: the packaged one), validated.

    >>> load_weights().gap.target_level
    3.0
    """
    path = path or WEIGHTS_FILE
    return _load_weights(path, read_data_file(path))


@lru_cache(maxsize=8)
def _load_weights(path: Path, content: bytes) -> PriorityWeights:
    """Parsed once per content of the file: an edit is picked up without a restart."""
    try:
        return PriorityWeights.model_validate(yaml.safe_load(content))
    except ValidationError as error:
        first = error.errors()[0]
        raise Invalid(
            N_("The data file {path} is not valid at {where}: {reason}"),
            path=str(path),
            where=".".join(str(p) for p in first["loc"]),
            reason=first["msg"],
        ) from error


@dataclass(frozen=True)
class FirmProfile:
    """What the ranking needs about a firm. ``level``: current maturity level 0–5 (fractions allowed);
    ``people``, ``systems``, ``data``, ``impact``: 0–1."""

    id: str
    sobujang: bool
    level: float
    people: float
    systems: float
    data: float
    impact: float
    name: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.level) and 0 <= self.level <= 5):
            raise Invalid(N_("The maturity level must be between 0 and 5."))
        for value in (self.people, self.systems, self.data, self.impact):
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise Invalid(N_("Readiness and impact must be between 0 and 1."))


@dataclass(frozen=True)
class Contribution:
    """One component: its 0–1 value, its weight and the points it adds (value × weight)."""

    component: str
    value: float
    weight: float

    @property
    def points(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True)
class Ranked:
    """A firm's rank (ties share a rank), score, contributions and explanation in Korean and English."""

    rank: int
    firm_id: str
    score: float
    contributions: tuple[Contribution, ...]
    explanation: dict[str, str]


def component_values(firm: FirmProfile, weights: PriorityWeights) -> dict[str, float]:
    """Each component scaled to 0–1.

    >>> w = load_weights()
    >>> component_values(FirmProfile("x", True, 2.0, 1.0, 0.0, 0.0, 0.3), w)
    {'sobujang': 1.0, 'gap': 0.6666666666666667, 'readiness': 0.4, 'impact': 0.3}
    """
    parts = weights.readiness_parts
    readiness = (parts.people * firm.people + parts.systems * firm.systems + parts.data * firm.data) / (
        parts.people + parts.systems + parts.data
    )
    return {
        "sobujang": 1.0 if firm.sobujang else 0.0,
        "gap": gap_value(firm.level, weights),
        "readiness": readiness,
        "impact": firm.impact,
    }


def gap_value(level: float, weights: PriorityWeights) -> float:
    """The gap component: 0 at or above the target; otherwise near → 1 − gap/max_gap, far → gap/max_gap."""
    rule = weights.gap
    if level >= rule.target_level:
        return 0.0
    share = min(rule.target_level - level, rule.max_gap) / rule.max_gap
    return 1.0 - share if rule.prefer == "near" else share


def rank_firms(firms: Sequence[FirmProfile], weights: PriorityWeights | None = None) -> list[Ranked]:
    """Firms by decreasing score (ties: same rank, then by id), each with its contributions explained."""
    weights = weights or load_weights()
    scored = []
    for firm in firms:
        values = component_values(firm, weights)
        contributions = tuple(Contribution(c, values[c], float(getattr(weights.weights, c))) for c in COMPONENTS)
        scored.append((sum(c.points for c in contributions), firm, contributions))
    scored.sort(key=lambda item: (-item[0], item[1].id))
    out: list[Ranked] = []
    for position, (total, firm, contributions) in enumerate(scored, start=1):
        rank = out[-1].rank if out and math.isclose(out[-1].score, total, abs_tol=1e-9) else position
        texts = {loc: _explain(firm, contributions, weights, loc) for loc in LOCALES}
        out.append(Ranked(rank, firm.id, total, contributions, texts))
    return out


def _explain(firm: FirmProfile, contributions: Sequence[Contribution], weights: PriorityWeights, locale: str) -> str:
    """E.g. "소부장 기업 +20.0, 레벨 3까지 0.5단계 +25.0, 준비도 0.62(인력 0.50 …) +12.4, 기대 효과 0.80 +24.0"."""
    by_name = {c.component: c for c in contributions}
    target = f"{weights.gap.target_level:g}"
    gap = weights.gap.target_level - firm.level
    pieces = [
        N_("materials/parts/equipment firm +{points}")
        if firm.sobujang
        else N_("not a materials/parts/equipment firm +{points}"),
        N_("{gap} levels below Level {target} +{points}") if gap > 0 else N_("already at Level {target} +{points}"),
        N_("readiness {value} (people {people}, systems {systems}, data {data}) +{points}"),
        N_("expected impact {value} +{points}"),
    ]
    fields = {
        "target": target,
        "gap": f"{gap:.1f}",
        "people": f"{firm.people:.2f}",
        "systems": f"{firm.systems:.2f}",
        "data": f"{firm.data:.2f}",
    }
    texts = [
        translate_in(locale, msgid).format(points=f"{c.points:.1f}", value=f"{c.value:.2f}", **fields)
        for msgid, c in zip(pieces, (by_name[n] for n in COMPONENTS), strict=True)
    ]
    return ", ".join(texts)
