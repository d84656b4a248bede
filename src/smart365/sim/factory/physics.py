"""Deterministic machine models of a small 소부장 plant, stepping in simulated time, with labelled faults.

Every machine has its own random stream spawned from one seed, so a run is reproducible and injecting a fault
on one machine never changes another's values. Each machine follows a small state machine (run / idle / down
with a reason) and produces one reading per step. Faults change the physics (tool wear, bearing degradation,
heater drift) or only the sensor (freeze, spike); each injected fault is a ground-truth :class:`Label`.

>>> plant = Plant.showcase(seed=7)
>>> readings = plant.advance(60.0)
>>> sorted(readings)[:2], readings["MCT-01"].state in ("run", "idle", "down")
(['IMM-01', 'IMM-02'], True)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np

from smart365.core.i18n import N_

SITE = "안산 본공장"
#: The showcase plant (same as the demo firm (주)한빛정밀): line → (kind, machine names).
SHOWCASE_LINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "가공라인": ("cnc", tuple(f"MCT-{i:02d}" for i in range(1, 5))),
    "사출라인": ("injection", tuple(f"IMM-{i:02d}" for i in range(1, 4))),
    "프레스라인": ("press", tuple(f"PRS-{i:02d}" for i in range(1, 3))),
}
#: Engineering units per tag (the registry's units; ``vibration`` is a simulator extra for bearing faults).
UNITS = {
    "spindle_load": "%",
    "spindle_temp": "°C",
    "spindle_speed": "rpm",
    "cycle_time": "s",
    "part_count": "ea",
    "vibration": "mm/s",
    "mould_temp": "°C",
    "injection_pressure": "bar",
    "barrel_temp": "°C",
    "shot_count": "ea",
    "bad_count": "ea",
    "tonnage": "t",
    "stroke_rate": "spm",
    "die_temp": "°C",
    "stroke_count": "ea",
}
#: Engineering ranges per tag (low, high), as the registry's tags have them; the OPC UA server's ``EURange``.
RANGES = {
    "spindle_load": (0.0, 150.0),
    "spindle_temp": (10.0, 90.0),
    "spindle_speed": (0.0, 12000.0),
    "cycle_time": (0.0, 600.0),
    "part_count": (0.0, 1e9),
    "vibration": (0.0, 50.0),
}
TAGS = {
    "cnc": ("spindle_load", "spindle_temp", "spindle_speed", "cycle_time", "part_count", "vibration"),
    "injection": ("mould_temp", "injection_pressure", "barrel_temp", "cycle_time", "shot_count", "bad_count"),
    "press": ("tonnage", "stroke_rate", "die_temp", "stroke_count", "vibration"),
}


class State(StrEnum):
    """Machine state."""

    RUN = "run"
    IDLE = "idle"
    DOWN = "down"


class Reason(StrEnum):
    """Why a machine is not running (Korean codes as used on shop floors)."""

    NONE = ""
    MATERIAL_WAIT = "자재대기"
    MOULD_CHANGE = "금형교체"
    TOOL_CHANGE = "공구교체"
    BREAKDOWN = "고장"


REASON_TEXT = {
    Reason.MATERIAL_WAIT: N_("material wait"),
    Reason.MOULD_CHANGE: N_("mould change"),
    Reason.TOOL_CHANGE: N_("tool change"),
    Reason.BREAKDOWN: N_("breakdown"),
}
#: Numeric codes for registers and metrics.
STATE_CODES = {State.IDLE: 0, State.RUN: 1, State.DOWN: 2}
REASON_CODES = {r: i for i, r in enumerate(Reason)}


class FaultKind(StrEnum):
    """Injectable faults."""

    TOOL_WEAR = "tool_wear"
    BEARING = "bearing_degradation"
    HEATER_DRIFT = "heater_drift"
    SENSOR_FREEZE = "sensor_freeze"
    SPIKE = "spike"


@dataclass(frozen=True)
class Fault:
    """A fault on one machine's tag between two simulated times (seconds since the plant's start)."""

    machine: str
    tag: str
    kind: FaultKind
    start_s: float
    end_s: float
    magnitude: float = 1.0

    def active(self, t: float) -> bool:
        """True while the fault is injected."""
        return self.start_s <= t < self.end_s

    def progress(self, t: float) -> float:
        """0 at the start, 1 at the end."""
        return min(1.0, max(0.0, (t - self.start_s) / max(self.end_s - self.start_s, 1e-9)))


@dataclass(frozen=True)
class Label:
    """A ground-truth record of an injected fault, in wall-clock terms, for scoring detectors."""

    machine: str
    tag: str
    fault: str
    start: datetime
    end: datetime
    magnitude: float


@dataclass
class Reading:
    """One machine's values at one instant."""

    machine: str
    line: str
    kind: str
    ts: datetime
    state: State
    reason: Reason
    values: dict[str, float]
    last_part_good: bool = True


@dataclass
class Machine:
    """Base model: the run/idle/down state machine; subclasses add the process physics."""

    name: str
    line: str
    kind: str
    rng: np.random.Generator
    state: State = State.RUN
    reason: Reason = Reason.NONE
    hold_s: float = 0.0
    last_part_good: bool = True
    values: dict[str, float] = field(default_factory=dict)
    # mean seconds between events while running
    mtb_material_wait: float = 4 * 3600
    mtb_breakdown: float = 24 * 3600

    def step_state(self, dt: float) -> None:
        """Advance the state machine: stops end after their hold time; running machines stop at random."""
        if self.state is not State.RUN:
            self.hold_s -= dt
            if self.hold_s <= 0:
                self.state, self.reason = State.RUN, Reason.NONE
            return
        if self.rng.random() < dt / self.mtb_breakdown:
            self.stop(State.DOWN, Reason.BREAKDOWN, float(self.rng.uniform(900, 3600)))
        elif self.rng.random() < dt / self.mtb_material_wait:
            self.stop(State.IDLE, Reason.MATERIAL_WAIT, float(self.rng.uniform(120, 900)))

    def stop(self, state: State, reason: Reason, seconds: float) -> None:
        """Leave the run state for ``seconds``."""
        self.state, self.reason, self.hold_s = state, reason, seconds

    def step(self, dt: float, faults: list[Fault], t: float) -> None:
        """Advance the state machine and the physics by ``dt`` seconds."""
        self.step_state(dt)
        self.step_physics(dt, faults, t)

    def step_physics(self, dt: float, faults: list[Fault], t: float) -> None:  # pragma: no cover - abstract
        """Update ``values``; overridden per kind."""
        raise NotImplementedError

    def noise(self, scale: float) -> float:
        """Gaussian measurement noise."""
        return float(self.rng.normal(0.0, scale))

    def cycles(self, dt: float, cycle_time: float) -> int:
        """Whole cycles completed in ``dt`` seconds (carrying the fraction), zero when not running."""
        if self.state is not State.RUN:
            return 0
        carry = self.values.get("_cycle_frac", 0.0) + dt / cycle_time
        self.values["_cycle_frac"] = carry - math.floor(carry)
        return math.floor(carry)

    @staticmethod
    def approach(current: float, target: float, dt: float, tau: float) -> float:
        """First-order lag towards ``target`` with time constant ``tau``."""
        return target + (current - target) * math.exp(-dt / tau)


def _effect(faults: list[Fault], kind: FaultKind, t: float) -> Fault | None:
    return next((f for f in faults if f.kind is kind and f.active(t)), None)


@dataclass
class CncMachine(Machine):
    """A machining centre: spindle load rises with tool wear until a tool change; bearings heat and vibrate."""

    wear: float = 0.0  # 0 new tool … 1 worn out
    bearing: float = 0.0  # 0 healthy … 1 failed
    parts_per_tool: int = 400

    def step_physics(self, dt: float, faults: list[Fault], t: float) -> None:
        v = self.values
        cycle = 95.0 + 8.0 * self.wear
        wear_rate = 1.0 / self.parts_per_tool
        if (tw := _effect(faults, FaultKind.TOOL_WEAR, t)) is not None:
            wear_rate *= 1.0 + 4.0 * tw.magnitude
        parts = self.cycles(dt, cycle)
        self.wear += parts * wear_rate
        v["part_count"] = v.get("part_count", 0.0) + parts
        if self.wear >= 1.0:
            self.wear = 0.0
            self.stop(State.IDLE, Reason.TOOL_CHANGE, 300.0)
        self._bearing(dt, faults, t)
        running = self.state is State.RUN
        speed = 8000.0 if running else 0.0
        load = (45.0 + 40.0 * self.wear**1.5 + 15.0 * self.bearing) if running else 2.0
        temp_target = (28.0 + 0.25 * load + 30.0 * self.bearing**2) if running else 24.0
        v["spindle_speed"] = speed + (self.noise(15.0) if running else 0.0)
        v["spindle_load"] = max(0.0, load + self.noise(1.5))
        v["_temp"] = self.approach(v.get("_temp", 30.0), temp_target, dt, 600.0)
        v["spindle_temp"] = v["_temp"] + self.noise(0.2)
        v["vibration"] = max(0.0, (1.2 + 8.0 * self.bearing**2) * (1.0 if running else 0.1) + self.noise(0.08))
        v["cycle_time"] = cycle + self.noise(0.8)

    def _bearing(self, dt: float, faults: list[Fault], t: float) -> None:
        fault = _effect(faults, FaultKind.BEARING, t)
        if fault is None:
            return
        self.bearing = fault.progress(t + dt) ** 2 * fault.magnitude
        if t + dt >= fault.end_s:  # run to failure, then the spindle bearing is replaced
            self.bearing = 0.0
            self.stop(State.DOWN, Reason.BREAKDOWN, 7200.0)


@dataclass
class InjectionMachine(Machine):
    """An injection-moulding machine: temperatures under PID, defects rise with temperature deviation."""

    barrel_setpoint: float = 230.0
    mould_setpoint: float = 60.0
    base_defect_p: float = 0.01
    shots_per_mould: int = 5000
    mould_shots: int = 0

    def step_physics(self, dt: float, faults: list[Fault], t: float) -> None:
        v = self.values
        drift = _effect(faults, FaultKind.HEATER_DRIFT, t)
        offset = drift.magnitude * drift.progress(t) * 25.0 if drift else 0.0  # °C of uncontrolled heating
        v["_barrel"] = self.approach(v.get("_barrel", self.barrel_setpoint), self.barrel_setpoint + offset, dt, 120.0)
        mould_target = (self.mould_setpoint + 0.4 * offset) if self.state is State.RUN else 40.0
        v["_mould"] = self.approach(v.get("_mould", self.mould_setpoint), mould_target, dt, 300.0)
        v["barrel_temp"] = v["_barrel"] + self.noise(0.3)
        v["mould_temp"] = v["_mould"] + self.noise(0.2)
        cycle = 32.0 + 0.05 * max(0.0, v["_mould"] - self.mould_setpoint)
        v["cycle_time"] = cycle + self.noise(0.3)
        running = self.state is State.RUN
        v["injection_pressure"] = (1150.0 - 4.0 * (v["_barrel"] - self.barrel_setpoint) + self.noise(12.0)) * running
        self._shots(self.cycles(dt, cycle))

    def defect_probability(self) -> float:
        """Probability that a shot is bad: about 1 in 100 on setpoint, rising with temperature deviation.

        >>> m = InjectionMachine("IMM-01", "사출라인", "injection", np.random.default_rng(0))
        >>> m.values.update(_barrel=230.0, _mould=60.0); round(m.defect_probability(), 3)
        0.01
        """
        dev = (
            abs(self.values["_barrel"] - self.barrel_setpoint) / 5.0
            + abs(self.values["_mould"] - self.mould_setpoint) / 4.0
        )
        return min(0.9, self.base_defect_p * (1.0 + dev**2))

    def _shots(self, shots: int) -> None:
        v = self.values
        for _ in range(shots):
            self.last_part_good = bool(self.rng.random() >= self.defect_probability())
            v["bad_count"] = v.get("bad_count", 0.0) + (not self.last_part_good)
        v["shot_count"] = v.get("shot_count", 0.0) + shots
        v.setdefault("bad_count", 0.0)
        self.mould_shots += shots
        if self.mould_shots >= self.shots_per_mould:
            self.mould_shots = 0
            self.stop(State.IDLE, Reason.MOULD_CHANGE, 1800.0)


@dataclass
class PressMachine(Machine):
    """A mechanical press: tonnage per stroke, stroke rate, die temperature warming with work."""

    bearing: float = 0.0

    def step_physics(self, dt: float, faults: list[Fault], t: float) -> None:
        v = self.values
        fault = _effect(faults, FaultKind.BEARING, t)
        self.bearing = fault.progress(t) ** 2 * fault.magnitude if fault else 0.0
        running = self.state is State.RUN
        rate = 30.0 if running else 0.0
        v["stroke_rate"] = max(0.0, rate + (self.noise(0.4) if running else 0.0))
        v["tonnage"] = max(0.0, (180.0 + 20.0 * self.bearing + self.noise(4.0)) if running else 0.0)
        v["_die"] = self.approach(v.get("_die", 25.0), 55.0 + 25.0 * self.bearing if running else 25.0, dt, 900.0)
        v["die_temp"] = v["_die"] + self.noise(0.2)
        v["stroke_count"] = v.get("stroke_count", 0.0) + self.cycles(dt, 60.0 / 30.0)
        v["vibration"] = max(0.0, (2.0 + 10.0 * self.bearing**2) * (1.0 if running else 0.1) + self.noise(0.1))


MODELS: dict[str, type[Machine]] = {"cnc": CncMachine, "injection": InjectionMachine, "press": PressMachine}


class Plant:
    """All machines of a plant, the injected faults and their labels, advanced together in simulated time."""

    def __init__(
        self,
        lines: dict[str, tuple[str, tuple[str, ...]]],
        seed: int = 365,
        start: datetime | None = None,
        site: str = SITE,
    ) -> None:
        self.site = site
        self.start = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        self.t = 0.0
        self.faults: list[Fault] = []
        self.labels: list[Label] = []
        names = [(line, kind, name) for line, (kind, machines) in lines.items() for name in machines]
        streams = np.random.SeedSequence(seed).spawn(len(names))
        self.machines: dict[str, Machine] = {
            name: MODELS[kind](name, line, kind, np.random.default_rng(s))
            for (line, kind, name), s in zip(names, streams, strict=True)
        }
        self._frozen: dict[Fault, float] = {}
        self.advance(1.0)

    @classmethod
    def showcase(cls, seed: int = 365, start: datetime | None = None) -> Plant:
        """The demo firm's plant: MCT-01..04, IMM-01..03, PRS-01..02."""
        return cls(SHOWCASE_LINES, seed=seed, start=start)

    @property
    def now(self) -> datetime:
        """The current simulated wall-clock time."""
        return self.start + timedelta(seconds=self.t)

    def inject(self, fault: Fault) -> Label:
        """Inject a fault and record its ground-truth label.

        >>> plant = Plant.showcase(seed=1)
        >>> plant.inject(Fault("IMM-01", "barrel_temp", FaultKind.HEATER_DRIFT, 60, 3600)).fault
        'heater_drift'
        """
        if fault.machine not in self.machines:
            raise KeyError(fault.machine)
        self.faults.append(fault)
        label = Label(
            fault.machine,
            fault.tag,
            str(fault.kind),
            self.start + timedelta(seconds=fault.start_s),
            self.start + timedelta(seconds=fault.end_s),
            fault.magnitude,
        )
        self.labels.append(label)
        return label

    def advance(self, seconds: float, max_dt: float = 1.0) -> dict[str, Reading]:
        """Advance by ``seconds`` in steps of at most ``max_dt`` and return the latest readings."""
        steps = max(1, math.ceil(seconds / max_dt))
        dt = seconds / steps
        for _ in range(steps):
            for machine in self.machines.values():
                own = [f for f in self.faults if f.machine == machine.name]
                machine.step(dt, own, self.t)
            self.t += dt
        return self.readings()

    def readings(self) -> dict[str, Reading]:
        """Current readings with sensor faults (freeze, spike) applied."""
        return {name: self._reading(m) for name, m in self.machines.items()}

    def _reading(self, m: Machine) -> Reading:
        values = {tag: float(m.values[tag]) for tag in TAGS[m.kind]}
        for fault in (f for f in self.faults if f.machine == m.name and f.tag in values):
            self._sensor_fault(fault, values)
        return Reading(m.name, m.line, m.kind, self.now, m.state, m.reason, values, m.last_part_good)

    def _sensor_fault(self, fault: Fault, values: dict[str, float]) -> None:
        if fault.kind is FaultKind.SENSOR_FREEZE:  # keyed by the fault: another freeze of the tag must not thaw it
            if fault.active(self.t):
                values[fault.tag] = self._frozen.setdefault(fault, values[fault.tag])
            else:
                self._frozen.pop(fault, None)
        elif fault.kind is FaultKind.SPIKE and fault.active(self.t):
            values[fault.tag] = values[fault.tag] * (1.0 + 0.5 * fault.magnitude) + 10.0 * fault.magnitude

    def random_faults(self, horizon_s: float, per_machine: float = 1.0) -> list[Label]:
        """Inject a reproducible random fault schedule over ``horizon_s`` seconds (about ``per_machine`` each)."""
        rng = np.random.default_rng([len(self.machines), int(horizon_s)])
        options = {
            "cnc": [(FaultKind.TOOL_WEAR, "spindle_load"), (FaultKind.BEARING, "vibration")],
            "injection": [(FaultKind.HEATER_DRIFT, "barrel_temp")],
            "press": [(FaultKind.BEARING, "vibration")],
        }
        labels = []
        for m in self.machines.values():
            kinds = [*options[m.kind], (FaultKind.SENSOR_FREEZE, TAGS[m.kind][0]), (FaultKind.SPIKE, TAGS[m.kind][1])]
            for _ in range(int(rng.poisson(per_machine))):
                kind, tag = kinds[int(rng.integers(len(kinds)))]
                start = self.t + float(rng.uniform(0, horizon_s * 0.8))
                length = 5.0 if kind is FaultKind.SPIKE else float(rng.uniform(0.05, 0.2)) * horizon_s
                labels.append(self.inject(Fault(m.name, tag, kind, start, start + length, 1.0)))
        return labels


LABEL_FIELDS = ("machine", "tag", "fault", "start", "end", "magnitude")


def write_labels(labels: Iterable[Label], path: Path) -> Path:
    """Write labels to ``path`` (``.parquet`` via pandas, anything else as CSV with ISO timestamps).

    >>> import tempfile
    >>> p = write_labels([], Path(tempfile.mkdtemp()) / "labels.csv")
    >>> p.read_text(encoding="utf-8").strip()
    'machine,tag,fault,start,end,magnitude'
    """
    rows = [asdict(label) for label in labels]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pandas as pd

        pd.DataFrame(rows, columns=list(LABEL_FIELDS)).to_parquet(path, index=False)
        return path
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LABEL_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "start": row["start"].isoformat(), "end": row["end"].isoformat()})
    return path
