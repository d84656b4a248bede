"""A labelled plant history for benchmarks: days of readings with a fixed fault schedule and per-part records.

:func:`fault_schedule` places every fault kind several times on every machine it applies to, one fault at a
time per machine, all after a fault-free ``normal_s`` (the detectors' training time) and ending before the
horizon. :func:`labelled_history` runs the showcase plant through them and keeps one row per machine every
``step_s`` seconds (values, state code, fault label) plus one record per injection shot (its process values,
good or bad, and the physics' own defect probability: an oracle no model can beat).

>>> h = labelled_history(seed=3, days=0.25, normal_h=1.0, step_s=30.0, counts=TEST_COUNTS)
>>> sorted(h.frames)[:2], h.frames["MCT-01"].columns[-2:].tolist()
(['IMM-01', 'IMM-02'], ['state', 'fault'])
>>> all(f.start_s >= 3600 for f in h.faults)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smart365.sim.factory.physics import (
    STATE_CODES,
    TAGS,
    Fault,
    FaultKind,
    InjectionMachine,
    Label,
    Plant,
)

#: What can go wrong per machine kind: (fault, tag it is labelled on, shortest and longest duration in s).
#: Sensor faults sit on tags the deployed anomaly models watch (monitoring.training.INPUTS).
FAULTS: dict[str, tuple[tuple[FaultKind, str, float, float], ...]] = {
    "cnc": (
        (FaultKind.BEARING, "vibration", 3 * 3600, 10 * 3600),  # runs to failure: breakdown at the end
        (FaultKind.TOOL_WEAR, "spindle_load", 2 * 3600, 6 * 3600),  # wear 5× faster than normal
        (FaultKind.SENSOR_FREEZE, "spindle_load", 1200, 3600),
        (FaultKind.SPIKE, "spindle_temp", 60, 300),
    ),
    "injection": (
        (FaultKind.HEATER_DRIFT, "barrel_temp", 3600, 4 * 3600),
        (FaultKind.SENSOR_FREEZE, "mould_temp", 1200, 3600),
        (FaultKind.SPIKE, "injection_pressure", 60, 300),
    ),
    "press": (
        (FaultKind.BEARING, "vibration", 3 * 3600, 10 * 3600),  # no breakdown at the end on a press
        (FaultKind.SENSOR_FREEZE, "tonnage", 1200, 3600),
        (FaultKind.SPIKE, "die_temp", 60, 300),
    ),
}
#: How many of each fault per machine (bench default) and a small schedule for tests.
COUNTS: dict[FaultKind, int] = {
    FaultKind.BEARING: 3, FaultKind.TOOL_WEAR: 2, FaultKind.HEATER_DRIFT: 3,
    FaultKind.SENSOR_FREEZE: 2, FaultKind.SPIKE: 3,
}  # fmt: skip
TEST_COUNTS: dict[FaultKind, int] = dict.fromkeys(FaultKind, 1)
MIN_GAP_S = 3600.0  # at least an hour of normal running between two faults on one machine
AFTER_FAILURE_S = 2 * 3600.0  # a failed spindle bearing is replaced for two hours


@dataclass(frozen=True)
class History:
    """A labelled plant history.

    ``frames``: per machine, one row every ``step_s`` (index: seconds since ``plant.start``), the machine's
    tags, ``state`` (0 idle, 1 run, 2 down) and ``fault`` (the active fault kind, "" when none).
    ``parts``: one row per injection shot seen (machine, t_s, process values, ``bad``, ``p_true``).
    """

    plant: Plant
    frames: dict[str, pd.DataFrame]
    parts: pd.DataFrame
    faults: list[Fault]
    labels: list[Label]
    step_s: float
    normal_s: float
    horizon_s: float


def fault_schedule(
    plant: Plant,
    horizon_s: float,
    normal_s: float,
    seed: int,
    counts: Mapping[FaultKind, int] = COUNTS,
) -> list[Fault]:
    """Faults for every machine in ``[normal_s, horizon_s)``, one at a time per machine, in shuffled order,
    spread over the whole time with at least ``MIN_GAP_S`` of normal running between them (the last ones are
    left out when they do not fit).

    >>> plant = Plant.showcase(seed=1)
    >>> faults = fault_schedule(plant, 2 * 86400, 86400, seed=1, counts=TEST_COUNTS)
    >>> sorted({str(f.kind) for f in faults if f.machine == "IMM-01"})
    ['heater_drift', 'sensor_freeze', 'spike']
    """
    rng = np.random.default_rng([seed, 7])
    out: list[Fault] = []
    for name, machine in plant.machines.items():
        options = [opt for opt in FAULTS[machine.kind] for _ in range(counts.get(opt[0], 0))]
        chosen = [options[i] for i in rng.permutation(len(options))]
        lengths = np.array([rng.uniform(shortest, longest) for _, _, shortest, longest in chosen])
        after = np.array([AFTER_FAILURE_S if k is FaultKind.BEARING and machine.kind == "cnc" else 0.0
                          for k, _, _, _ in chosen])  # fmt: skip
        while (
            chosen
            and (slack := horizon_s - normal_s - float(np.sum(lengths + after)) - MIN_GAP_S * (len(chosen) + 1)) < 0
        ):
            chosen, lengths, after = chosen[:-1], lengths[:-1], after[:-1]  # too many for the horizon
        if not chosen:
            continue
        gaps = MIN_GAP_S + rng.dirichlet(np.ones(len(chosen) + 1)) * slack  # spread over the whole horizon
        t = normal_s
        for (kind, tag, _, _), length, rest, gap in zip(chosen, lengths, after, gaps, strict=False):
            start = t + float(gap)
            out.append(Fault(name, tag, kind, start, start + float(length), 1.0))
            t = start + float(length + rest)
    return sorted(out, key=lambda f: (f.start_s, f.machine))


def labelled_history(
    seed: int = 2026,
    days: float = 5.0,
    normal_h: float = 24.0,
    step_s: float = 10.0,
    counts: Mapping[FaultKind, int] = COUNTS,
    max_dt: float = 2.0,
) -> History:
    """Run the showcase plant for ``days`` with :func:`fault_schedule`; deterministic for a seed."""
    plant = Plant.showcase(seed=seed)
    horizon, normal = days * 86400.0, normal_h * 3600.0
    for fault in fault_schedule(plant, horizon, normal, seed, counts):
        plant.inject(fault)
    names = list(plant.machines)
    rows: dict[str, list[list[float]]] = {n: [] for n in names}
    times: list[float] = []
    parts: list[tuple[object, ...]] = []
    shots = {n: _shots(plant, n) for n in names}
    while plant.t < horizon - 1e-9:
        readings = plant.advance(step_s, max_dt=max_dt)
        times.append(round(plant.t, 6))
        for name in names:
            r = readings[name]
            rows[name].append([r.values[tag] for tag in TAGS[r.kind]] + [float(STATE_CODES[r.state])])
            if r.kind == "injection" and (now := _shots(plant, name)) > shots[name]:
                parts.append(_part(plant, name, r.values, r.last_part_good, now - shots[name]))
                shots[name] = now
    index = pd.Index(times, name="t_s")
    frames = {}
    for name in names:
        kind = plant.machines[name].kind
        frame = pd.DataFrame(rows[name], index=index, columns=[*TAGS[kind], "state"])
        frame["fault"] = fault_column(index.to_numpy(), plant.faults, name)
        frames[name] = frame
    columns = ["machine", "t_s", "barrel_temp", "mould_temp", "injection_pressure", "cycle_time", "shots", "bad",
               "p_true"]  # fmt: skip
    return History(plant, frames, pd.DataFrame(parts, columns=columns), list(plant.faults), list(plant.labels),
                   step_s, normal, horizon)  # fmt: skip


def _shots(plant: Plant, name: str) -> float:
    return float(plant.machines[name].values.get("shot_count", 0.0))


def _part(plant: Plant, name: str, values: Mapping[str, float], good: bool, shots: float) -> tuple[object, ...]:
    machine = plant.machines[name]
    assert isinstance(machine, InjectionMachine)
    tags = ("barrel_temp", "mould_temp", "injection_pressure", "cycle_time")
    return (name, plant.t, *(values[t] for t in tags), int(shots), int(not good), machine.defect_probability())


def fault_column(t_s: Sequence[float] | np.ndarray, faults: Sequence[Fault], machine: str) -> np.ndarray:
    """The fault kind active on ``machine`` at each time (a reading at t shows the state after the step
    ending at t, so a fault counts from the first reading at or after its start), "" where none.

    >>> f = [Fault("M", "x", FaultKind.SPIKE, 10.0, 20.0)]
    >>> fault_column([5.0, 10.0, 19.0, 20.0], f, "M").tolist()
    ['', 'spike', 'spike', '']
    """
    t = np.asarray(t_s, dtype=float)
    out = np.full(t.shape, "", dtype=object)
    for f in faults:
        if f.machine == machine:
            out[(t >= f.start_s) & (t < f.end_s)] = str(f.kind)
    return out
