"""The labelled plant history the simulator benchmark scores: reproducible, and its labels are the faults."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from smart365.sim.factory.physics import FaultKind
from smart365.sim.history import FAULTS, TEST_COUNTS, History, fault_schedule, labelled_history


def _history(seed: int) -> History:
    return labelled_history(seed=seed, days=1.0, normal_h=2.0, step_s=60.0, counts=TEST_COUNTS, max_dt=10.0)


@pytest.fixture(scope="module")
def history() -> History:
    return _history(4)


def test_same_seed_same_history_other_seed_differs(history: History) -> None:
    again, other = _history(4), _history(5)
    assert again.faults == history.faults and again.labels == history.labels
    for name, frame in history.frames.items():
        pd.testing.assert_frame_equal(frame, again.frames[name])
    pd.testing.assert_frame_equal(history.parts, again.parts)
    assert other.faults != history.faults
    assert not other.frames["MCT-01"]["spindle_load"].equals(history.frames["MCT-01"]["spindle_load"])


def test_schedule_places_each_kind_after_the_normal_time_one_fault_at_a_time(history: History) -> None:
    plant = history.plant
    for name, machine in plant.machines.items():
        own = sorted((f for f in history.faults if f.machine == name), key=lambda f: f.start_s)
        assert own, name
        assert all(history.normal_s <= f.start_s < f.end_s < history.horizon_s for f in own)
        assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(own))  # never two at once
        assert {(f.kind, f.tag) for f in own} <= {(k, t) for k, t, _, _ in FAULTS[machine.kind]}
    kinds = {f.kind for f in history.faults}
    assert {FaultKind.SPIKE, FaultKind.SENSOR_FREEZE, FaultKind.HEATER_DRIFT} <= kinds
    more = fault_schedule(plant, 6 * 86400, 86400, seed=4)  # the bench's counts: each kind several times
    per_kind = pd.Series([str(f.kind) for f in more]).value_counts()
    assert set(per_kind.index) == {str(k) for k in FaultKind} and per_kind.min() >= 6


def test_labels_line_up_with_the_injected_faults(history: History) -> None:
    start = history.plant.start
    assert len(history.labels) == len(history.faults)
    for label, fault in zip(history.labels, history.faults, strict=True):
        assert (label.machine, label.tag, label.fault) == (fault.machine, fault.tag, str(fault.kind))
        assert label.start == start + timedelta(seconds=fault.start_s)
        assert label.end == start + timedelta(seconds=fault.end_s)
        frame = history.frames[fault.machine]
        t = frame.index.to_numpy()
        inside = (t >= fault.start_s) & (t < fault.end_s)
        assert inside.any()
        assert (frame["fault"].to_numpy()[inside] == str(fault.kind)).all()
        values = frame[fault.tag].to_numpy()
        if fault.kind is FaultKind.SENSOR_FREEZE:
            assert np.unique(values[inside]).size == 1  # held at its first faulty reading
        elif fault.kind is FaultKind.SPIKE:
            first = int(np.flatnonzero(inside)[0])
            assert values[first] > 1.2 * values[first - 1] + 5.0  # ×1.5 + 10 over the reading before
    labelled = sum(int((f["fault"] != "").sum()) for f in history.frames.values())
    expected = sum(
        int(((fr.index >= f.start_s) & (fr.index < f.end_s)).sum())
        for f in history.faults
        for fr in [history.frames[f.machine]]
    )
    assert labelled == expected  # nothing labelled outside a fault


def test_parts_are_injection_shots_with_their_defect_probability(history: History) -> None:
    parts = history.parts
    assert set(parts["machine"]) == {"IMM-01", "IMM-02", "IMM-03"}
    assert parts["bad"].isin([0, 1]).all() and parts["p_true"].between(0.0, 0.9).all()
    drift = [f for f in history.faults if f.kind is FaultKind.HEATER_DRIFT]
    during = np.zeros(len(parts), dtype=bool)
    for f in drift:
        during |= (parts["machine"] == f.machine).to_numpy() & parts["t_s"].between(f.start_s, f.end_s).to_numpy()
    assert parts.loc[during, "p_true"].mean() > parts.loc[~during, "p_true"].mean()
