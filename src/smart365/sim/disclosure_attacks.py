"""Attacks on the peer benchmarks' releases: differencing, trackers and averaging over repeated queries, each trying
to recover one target firm's figure. Used by tests/collab/test_disclosure_attacks.py and bench/bench_disclosure.py.

A :class:`Publisher` releases one KPI's cell for a set of firms the way :func:`smart365.collab.benchmarks.release_for`
does (the same :func:`~smart365.collab.benchmarks.decide_cells`): one release per membership, kept and shown
again; ε charged to every firm of a DP cell against its budget. ``protected=False`` is the control: the raw
mean of every group, which every attack here breaks.

An attack *recovers* the target's value when its estimate is within :data:`TOLERANCE` of the KPI's range
(1 %: an OEE to within one point). Under differential privacy an estimate can land that close by luck; each
attack is therefore also scored against the same luck with no attack at all (guessing the group's released
mean, or the middle of the range where none is released): the rules hold when an attack does no better.

>>> rng = random.Random(1)
>>> raw = run_all(Publisher(protected=False), rng, 20)
>>> raw["differencing"].exact, raw["differencing"].sequences
(20, 20)
>>> safe = run_all(Publisher(), random.Random(1), 20)
>>> safe["differencing"].exact, safe["averaging"].exact
(0, 0)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from smart365.collab.benchmarks import decide_cells
from smart365.collab.disclosure import BUDGET_PER_KPI, EPSILON, KPIS, Cell, Rule

KPI = KPIS["oee"]
TOLERANCE = 0.01
EXACT = 1e-9


@dataclass
class Publisher:
    """Releases of one KPI for groups of firms (id → value), cached per membership, with the budget ledger."""

    protected: bool = True
    cache: dict[str, Cell] = field(default_factory=dict)
    used: dict[tuple[int, str], float] = field(default_factory=dict)

    def release(self, group: dict[int, float]) -> Cell:
        """The group's cell; the same members get the same release (asking again draws no new noise)."""
        if not self.protected:
            values = list(group.values())
            return Cell(KPI.code, "raw", len(values), sum(values) / len(values) if values else None)
        key = hashlib.sha256(json.dumps(sorted(group.items())).encode()).hexdigest()
        if key not in self.cache:
            (cell,) = decide_cells([(cid, {KPI.code: v}) for cid, v in group.items()], self.used)
            if cell.rule == Rule.DP:
                for cid in group:
                    self.used[(cid, KPI.code)] = self.used.get((cid, KPI.code), 0.0) + EPSILON
            self.cache[key] = cell
        return self.cache[key]


@dataclass
class Score:
    """How an attack fared: sequences run, estimates it could make, recoveries (within the tolerance), exact
    recoveries, and the recoveries of the no-attack guess over the same sequences."""

    sequences: int = 0
    estimates: int = 0
    recovered: int = 0
    exact: int = 0
    chance: int = 0

    def add(self, target: float, estimate: float | None, guess: float) -> None:
        width = KPI.hi - KPI.lo
        self.sequences += 1
        self.chance += abs(guess - target) <= TOLERANCE * width
        if estimate is None:
            return
        self.estimates += 1
        self.recovered += abs(estimate - target) <= TOLERANCE * width
        self.exact += abs(estimate - target) <= EXACT


def _firms(rng: random.Random, n: int, start: int) -> dict[int, float]:
    return {start + i: round(rng.uniform(0.35, 0.9), 4) for i in range(n)}


def _sum(cell: Cell) -> float | None:
    return None if cell.value is None else cell.value * cell.n


def _guess(cell: Cell) -> float:
    return cell.value if cell.value is not None else (KPI.lo + KPI.hi) / 2


def _size(rng: random.Random) -> int:
    """Group sizes on both sides of the DP threshold (n · ε ≥ 50) and near the minimum of five."""
    return rng.choice((rng.randint(4, 12), rng.randint(40, 70), rng.randint(80, 150)))


def differencing(pub: Publisher, rng: random.Random, base: int) -> tuple[float, float | None, float]:
    """Two releases that differ by the target only: before it joins and after."""
    group = _firms(rng, _size(rng), base)
    target_id, target = base + 10_000, round(rng.uniform(0.35, 0.9), 4)
    before = pub.release(group)
    after = pub.release({**group, target_id: target})
    s1, s2 = _sum(before), _sum(after)
    return target, None if s1 is None or s2 is None else s2 - s1, _guess(after)


def tracker(pub: Publisher, rng: random.Random, base: int) -> tuple[float, float | None, float]:
    """Nested groups (a region inside its industry, say) whose difference is the target plus firms the attacker
    knows (its own colluders): total of the parent minus the child minus the colluders."""
    child = _firms(rng, _size(rng), base)
    colluders = _firms(rng, rng.randint(0, 3), base + 5_000)
    target_id, target = base + 10_000, round(rng.uniform(0.35, 0.9), 4)
    parent = {**child, **colluders, target_id: target}
    s_child, s_parent = _sum(pub.release(child)), _sum(pub.release(parent))
    if s_child is None or s_parent is None:
        return target, None, _guess(pub.release(parent))
    return target, s_parent - s_child - sum(colluders.values()), _guess(pub.release(parent))


def averaging(pub: Publisher, rng: random.Random, base: int, repeats: int = 30) -> tuple[float, float | None, float]:
    """Repeated queries to average the noise away: the same releases asked ``repeats`` times, and fresh releases
    forced by a colluder joining and leaving (its own value known), each pair differenced and averaged."""
    group = _firms(rng, _size(rng), base)
    target_id, target = base + 10_000, round(rng.uniform(0.35, 0.9), 4)
    estimates: list[float] = []
    for k in range(repeats):
        colluder = {base + 20_000 + k: 0.5} if k % 2 else {}
        without = pub.release({**group, **colluder})
        with_target = pub.release({**group, **colluder, target_id: target})
        s1, s2 = _sum(without), _sum(with_target)
        if s1 is not None and s2 is not None:
            estimates.append(s2 - s1)
    guess = _guess(pub.release({**group, target_id: target}))
    return target, (sum(estimates) / len(estimates) if estimates else None), guess


ATTACKS = {"differencing": differencing, "tracker": tracker, "averaging": averaging}


def run_all(pub: Publisher, rng: random.Random, sequences: int, attacks: Sequence[str] = tuple(ATTACKS)
            ) -> dict[str, Score]:  # fmt: skip
    """Run ``sequences`` attack sequences of each kind against ``pub`` (fresh firms every sequence)."""
    scores = {name: Score() for name in attacks}
    for i in range(sequences):
        for name in attacks:
            target, estimate, guess = ATTACKS[name](pub, rng, 1_000_000 * (i + 1) + 100_000 * list(ATTACKS).index(name))
            scores[name].add(target, estimate, guess)
    return scores


__all__ = ["BUDGET_PER_KPI", "Publisher", "Score", "run_all"]
