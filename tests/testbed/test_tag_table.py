"""The wide table the test-bed builds from tags: a grid as fine as the data, codes never averaged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from smart365.registry.models import Equipment, Tag
from smart365.telemetry.batch import Batch
from smart365.telemetry.store import DuckDBStore
from smart365.testbed.tables import tag_table

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _tags() -> list[Tag]:
    machine = Equipment(name="MCT-01")
    return [Tag(id=1, name="coolant_temp", display_name="절삭유 온도", equipment=machine),
            Tag(id=2, name="reject", display_name="불량 여부", equipment=machine)]  # fmt: skip


def _store(minutes: int, kept: np.ndarray) -> tuple[DuckDBStore, np.ndarray]:
    store = DuckDBStore(":memory:")
    moments = [START + timedelta(minutes=i) for i in range(minutes)]
    rng = np.random.default_rng(7)
    temperature = rng.uniform(20, 40, minutes)
    rejects = (temperature > 33).astype(float)
    store.append(Batch.from_columns(1, [m for m, k in zip(moments, kept, strict=True) if k], temperature[kept]))
    store.append(Batch.from_columns(2, moments, rejects))
    return store, rejects


def test_missing_minutes_and_an_outage_do_not_coarsen_the_grid() -> None:
    kept = np.random.default_rng(1).random(180) > 0.1  # one minute in ten never arrived...
    kept[60:85] = False  # ...and a 25-minute outage
    store, rejects = _store(180, kept)
    table = tag_table(store, _tags(), START, START + timedelta(hours=3))
    assert len(table) == 180  # one row per minute, as the sensors send (it was 90: a 2-minute grid)
    assert set(table["MCT-01/불량 여부"].unique()) == {0.0, 1.0}
    np.testing.assert_array_equal(table["MCT-01/불량 여부"].to_numpy(), rejects)


def test_a_code_tag_takes_its_highest_value_per_step_and_a_measurement_its_mean() -> None:
    store, rejects = _store(600, np.ones(600, dtype=bool))
    table = tag_table(store, _tags(), START, START + timedelta(days=20))  # coarser steps than the data
    step = int((table["time"].iloc[1] - table["time"].iloc[0]).total_seconds() // 60)
    assert step > 1
    assert set(table["MCT-01/불량 여부"].unique()) <= {0.0, 1.0}  # a reject in the step, not "0.5 of a reject"
    assert table["MCT-01/불량 여부"].iloc[0] == rejects[:step].max()
    assert not np.isin(table["MCT-01/절삭유 온도"].to_numpy(), [20.0, 40.0]).all()  # measurements are averaged
