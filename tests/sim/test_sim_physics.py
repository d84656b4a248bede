"""The simulated plant: reproducible, plausible, and every injected fault labelled."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smart365.sim.factory.physics import (
    SHOWCASE_LINES,
    Fault,
    FaultKind,
    InjectionMachine,
    Plant,
    Reason,
    State,
    write_labels,
)


def _series(plant: Plant, machine: str, tag: str, seconds: int, step: float = 1.0) -> list[float]:
    return [plant.advance(step)[machine].values[tag] for _ in range(int(seconds / step))]


def _defect_rate(plant: Plant, names: list[str]) -> float:
    machines = [plant.machines[n] for n in names]
    return sum(m.values["bad_count"] for m in machines) / sum(m.values["shot_count"] for m in machines)


def test_same_seed_same_plant_and_other_seed_differs() -> None:
    a, b, c = Plant.showcase(seed=11), Plant.showcase(seed=11), Plant.showcase(seed=12)
    ra, rb, rc = a.advance(900), b.advance(900), c.advance(900)
    assert ra["MCT-02"].values == rb["MCT-02"].values
    assert ra["IMM-03"].values == rb["IMM-03"].values
    assert ra["MCT-02"].values != rc["MCT-02"].values


def test_a_fault_on_one_machine_leaves_the_others_unchanged() -> None:
    clean, faulty = Plant.showcase(seed=5), Plant.showcase(seed=5)
    faulty.inject(Fault("IMM-01", "barrel_temp", FaultKind.HEATER_DRIFT, 0, 3600))
    assert clean.advance(1800)["IMM-02"].values == faulty.advance(1800)["IMM-02"].values


def test_defect_rate_is_about_one_in_a_hundred_and_rises_under_heater_drift() -> None:
    line = {"사출라인": SHOWCASE_LINES["사출라인"]}
    normal, drifting = Plant(line, seed=3), Plant(line, seed=3)
    for name in ("IMM-01", "IMM-02", "IMM-03"):
        drifting.inject(Fault(name, "barrel_temp", FaultKind.HEATER_DRIFT, 0, 24 * 3600, magnitude=1.0))
    normal.advance(24 * 3600, max_dt=2.0)
    drifting.advance(24 * 3600, max_dt=2.0)
    names = ["IMM-01", "IMM-02", "IMM-03"]
    base, drift = _defect_rate(normal, names), _defect_rate(drifting, names)
    assert 0.004 < base < 0.025
    assert drift > 4 * base
    assert drifting.machines["IMM-01"].values["barrel_temp"] > normal.machines["IMM-01"].values["barrel_temp"] + 15


def test_defect_probability_grows_with_temperature_deviation() -> None:
    m = InjectionMachine("IMM-01", "사출라인", "injection", np.random.default_rng(0))
    probabilities = []
    for dev in (0.0, 5.0, 10.0, 20.0):
        m.values.update(_barrel=m.barrel_setpoint + dev, _mould=m.mould_setpoint)
        probabilities.append(m.defect_probability())
    assert probabilities == sorted(probabilities) and probabilities[0] == pytest.approx(0.01)
    assert probabilities[-1] > 0.1


def test_tool_wear_raises_spindle_load_until_a_tool_change() -> None:
    plant = Plant.showcase(seed=8)
    cnc = plant.machines["MCT-01"]
    cnc.mtb_breakdown = cnc.mtb_material_wait = float("inf")
    plant.inject(Fault("MCT-01", "spindle_load", FaultKind.TOOL_WEAR, 0, 48 * 3600, magnitude=1.0))
    samples: list[tuple[float, float]] = []
    for _ in range(int(4 * 3600 / 10)):
        reading = plant.advance(10, max_dt=10)["MCT-01"]
        if reading.state is State.RUN:
            samples.append((cnc.wear, reading.values["spindle_load"]))
        if reading.reason is Reason.TOOL_CHANGE:
            break
    assert cnc.reason is Reason.TOOL_CHANGE, "the worn tool is changed"
    wear, load = np.array(samples).T
    assert load[wear > 0.8].mean() > load[wear < 0.2].mean() + 20


def test_bearing_degradation_raises_vibration_and_temperature_then_breaks_down() -> None:
    plant = Plant.showcase(seed=2)
    cnc = plant.machines["MCT-03"]
    cnc.mtb_breakdown = cnc.mtb_material_wait = float("inf")
    cnc.parts_per_tool = 10**9
    start = plant.t
    plant.inject(Fault("MCT-03", "vibration", FaultKind.BEARING, start + 600, start + 4 * 3600))
    early = plant.advance(900, max_dt=5)["MCT-03"].values
    late = plant.advance(4 * 3600 - 960, max_dt=5)["MCT-03"].values
    assert late["vibration"] > 3 * early["vibration"]
    assert late["spindle_temp"] > early["spindle_temp"] + 5
    plant.advance(120)
    assert (cnc.state, cnc.reason) == (State.DOWN, Reason.BREAKDOWN)


def test_sensor_freeze_holds_the_value_and_spike_stands_out() -> None:
    plant = Plant.showcase(seed=4)
    t = plant.t
    plant.inject(Fault("PRS-01", "tonnage", FaultKind.SENSOR_FREEZE, t + 10, t + 70))
    plant.inject(Fault("PRS-01", "tonnage", FaultKind.SENSOR_FREEZE, t + 500, t + 600))  # a later one must not thaw it
    plant.inject(Fault("PRS-02", "die_temp", FaultKind.SPIKE, t + 100, t + 103, magnitude=2.0))
    plant.advance(11)
    frozen = _series(plant, "PRS-01", "tonnage", 50)
    assert len(set(frozen)) == 1
    assert len(set(_series(plant, "PRS-01", "tonnage", 20))) > 1
    normal = plant.readings()["PRS-02"].values["die_temp"]
    plant.advance(t + 101 - plant.t)
    assert plant.readings()["PRS-02"].values["die_temp"] > 1.5 * normal


def test_every_injected_fault_is_written_as_a_label(tmp_path: Path) -> None:
    plant = Plant.showcase(seed=9)
    labels = plant.random_faults(8 * 3600, per_machine=2.0)
    plant.inject(Fault("IMM-02", "barrel_temp", FaultKind.HEATER_DRIFT, 10, 20))
    assert len(labels) >= 9 and len(plant.labels) == len(labels) + 1
    with write_labels(plant.labels, tmp_path / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(plant.labels)
    assert rows[-1]["machine"] == "IMM-02" and rows[-1]["fault"] == "heater_drift"
    assert {r["fault"] for r in rows} <= {k.value for k in FaultKind}
    assert all(r["start"] < r["end"] for r in rows)
    frame = pd.read_parquet(write_labels(plant.labels, tmp_path / "labels.parquet"))
    assert list(frame.columns) == ["machine", "tag", "fault", "start", "end", "magnitude"]
    assert len(frame) == len(plant.labels)


def test_unknown_machine_is_refused() -> None:
    with pytest.raises(KeyError):
        Plant.showcase().inject(Fault("XYZ-99", "tonnage", FaultKind.SPIKE, 0, 1))
