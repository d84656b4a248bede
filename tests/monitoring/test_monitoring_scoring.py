"""Online anomaly scoring: a deployed model scores stored points tag by tag, raises one explained alarm for
one anomaly, clears it, never raises twice for the same points, and a broken model does not stop the worker."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from smart365.analytics import registry
from smart365.analytics.anomaly import (
    AnyDetector,
    PcaDetector,
    StuckConfig,
    StuckSignalDetector,
    TrendConfig,
    TrendDetector,
)
from smart365.analytics.models import AnalyticsModel
from smart365.core.db import utcnow
from smart365.core.tenancy import SYSTEM
from smart365.monitoring import scoring, service, training
from smart365.monitoring.models import AlarmEvent
from smart365.monitoring.runtime import AlarmMonitor
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from tests.conftest import World

NORMAL = {"load": (50.0, 2.0), "temp": (40.0, 0.5), "vib": (1.2, 0.1)}


def _machine(world: World) -> dict[str, int]:
    with world.db.session(SYSTEM) as session:
        tags = {"load": world.ids_a["tag_id"]}
        for name in ("temp", "vib"):
            tag = Tag(company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name=f"spindle_{name}")
            session.add(tag)
            session.flush()
            tags[name] = tag.id
        return tags


def _values(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(mu, sd, n) for k, (mu, sd) in NORMAL.items()}


def _deploy(world: World, tags: dict[str, int], detector: AnyDetector | None = None, **settings: float) -> int:
    history = pd.DataFrame({str(tags[k]): v for k, v in _values(2000, 0).items()})
    detector = (detector or PcaDetector()).fit(history)
    with world.db.session(SYSTEM) as session:
        row = registry.register(
            session, company_id=world.firm_a, equipment_id=world.ids_a["equipment_id"], name="spindle",
            kind=detector.kind, state=detector.state(), tag_ids=[tags[k] for k in NORMAL], trained_from=utcnow(),
            trained_to=utcnow() + timedelta(hours=1), metrics={}, created_by="test",
        )  # fmt: skip
        row.settings = {"delay_s": 5.0} | settings
        registry.deploy(session, row.id, by="test")
        return row.id


def _per_tag_batches(tags: dict[str, int], values: dict[str, np.ndarray]) -> list[Batch]:
    """One batch per tag per second, as a connector that reports each tag on its own delivers them."""
    start = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    batches = []
    for i in range(len(values["load"])):
        for name, tag_id in tags.items():
            jitter = timedelta(milliseconds=100 * list(tags).index(name))  # tags of one second differ a little
            batches.append(Batch.from_columns(tag_id, [start + timedelta(seconds=i) + jitter], [values[name][i]]))
    return batches


def _anomaly_events(world: World) -> list[AlarmEvent]:
    with world.db.session(SYSTEM) as session:
        return list(session.scalars(select(AlarmEvent).where(AlarmEvent.model_id.is_not(None))))


def test_one_anomaly_raises_one_explained_alarm_which_clears(world: World) -> None:
    tags = _machine(world)
    model_id = _deploy(world, tags)
    values = _values(200, 1)
    values["load"][60:90] += 10 * NORMAL["load"][1]  # spindle load 10σ high for 30 s
    batches = _per_tag_batches(tags, values)
    monitor = AlarmMonitor(world.db)
    for batch in batches:
        monitor.process(batch)

    events = _anomaly_events(world)
    assert len(events) == 1
    event = events[0]
    assert event.model_id == model_id and event.rule_id is None and event.company_id == world.firm_a
    assert event.explanation is not None and event.explanation[0]["tag_id"] == tags["load"]
    assert event.explanation[0]["sigma"] > 5 and event.tag_id == tags["load"]
    assert event.cleared_at is not None and event.cleared_at > event.raised_at
    assert scoring.summary(event.explanation, "en").startswith("SENTINEL-A spindle +")

    with world.db.session(SYSTEM) as session:  # acknowledged and shelved like any alarm
        service.acknowledge(session, event.id, None, "김반장")
        service.shelve(session, event.id, "김반장", 15)
    with world.db.session(SYSTEM) as session:
        handled = session.get(AlarmEvent, event.id)
        assert handled is not None and handled.acked_by_name == "김반장" and service.is_shelved(handled)

    for batch in batches:  # the same points delivered again raise nothing
        AlarmMonitor(world.db).process(batch)
    assert len(_anomaly_events(world)) == 1


def test_a_frozen_sensor_raises_an_alarm_that_says_how_long_it_has_not_changed(world: World) -> None:
    tags = _machine(world)
    model_id = _deploy(world, tags, StuckSignalDetector(StuckConfig(min_points=30)))
    values = _values(300, 2)
    values["temp"][100:250] = 40.12  # the temperature transmitter repeats one normal value for 150 s
    monitor = AlarmMonitor(world.db)
    for batch in _per_tag_batches(tags, values):
        monitor.process(batch)

    (event,) = _anomaly_events(world)
    assert event.model_id == model_id and event.tag_id == tags["temp"]
    assert event.explanation is not None
    # only the frozen signal is named, re-explained while it grew (each new peak 20 % above the last one)
    (why,) = event.explanation
    assert why["value"] == 40.12 and why["limit_s"] == 30.0 and 120 <= why["unchanged_s"] <= 149
    assert event.cleared_at is not None  # the value moves again at second 250
    minutes = why['unchanged_s'] / 60
    assert scoring.summary(event.explanation, "en") == f"spindle temperature unchanged {minutes:.0f} min"
    assert scoring.sentences(event.explanation)[0].startswith("주축 온도: 2분째 40.12에서 변화 없음")


def test_a_trend_alarm_gives_the_slope_per_hour(world: World) -> None:
    tags = _machine(world)
    _deploy(world, tags, TrendDetector(TrendConfig(window=60)))
    values = _values(400, 3)
    values["load"][150:] += 0.5 * np.arange(250)  # spindle load rising 0.5 % a second from second 150
    monitor = AlarmMonitor(world.db)
    for batch in _per_tag_batches(tags, values):
        monitor.process(batch)

    (event,) = _anomaly_events(world)
    assert event.explanation is not None and event.tag_id == tags["load"]
    why = event.explanation[0]
    # 0.5 a second is 1800 an hour; the smaller slope of the two 30 s halves, so near it, not above by much
    assert why["tag"] == "SENTINEL-A spindle" and 1300 < why["trend_per_h"] < 2300 and 0 < why["limit_per_h"] < 1300
    assert scoring.summary(event.explanation, "en") == f"SENTINEL-A spindle {why['trend_per_h']:+.3g}/h"


def test_a_restart_resumes_the_trend_window_and_keeps_its_alarm_open(world: World) -> None:
    from smart365.telemetry.store import DuckDBStore

    tags = _machine(world)
    _deploy(world, tags, TrendDetector(TrendConfig(window=60)))
    values = _values(420, 3)
    values["load"][150:] += 0.5 * np.arange(270)  # rising from second 150 to the end
    per_tag = _per_tag_batches(tags, values)
    seconds = [Batch.concat(per_tag[i : i + 3]) for i in range(0, len(per_tag), 3)]
    store = DuckDBStore(":memory:")
    first = AlarmMonitor(world.db, store=store)
    for batch in seconds[:300]:
        store.append(batch)
        first.process(batch)
    assert [e.cleared_at for e in _anomaly_events(world)] == [None]  # raised, still rising

    restarted = AlarmMonitor(world.db, store=store)  # e.g. a new release deployed
    for batch in seconds[300:]:
        store.append(batch)
        restarted.process(batch)
    # the stored rows are replayed into the new runner, so its window goes on: one alarm, still open (a runner
    # started blind scores 0 for a window's worth of rows, clears the true alarm and raises it again)
    assert [e.cleared_at for e in _anomaly_events(world)] == [None]
    store.close()


def test_a_growing_anomaly_is_explained_by_what_it_has_become(world: World) -> None:
    tags = _machine(world)
    _deploy(world, tags)
    values = _values(200, 5)
    values["load"][40:160] += 8 * NORMAL["load"][1]  # the load goes up first
    values["vib"][100:160] += 40 * NORMAL["vib"][1]  # then the bearing shakes, far more
    batches = _per_tag_batches(tags, values)
    monitor = AlarmMonitor(world.db)
    for batch in batches[: 3 * 90]:
        monitor.process(batch)
    assert [e.explanation[0]["tag_id"] for e in _anomaly_events(world) if e.explanation] == [tags["load"]]
    restarted = AlarmMonitor(world.db)  # a restart in the middle keeps the event and its peak
    for batch in batches[3 * 90 :]:
        restarted.process(batch)
    events = _anomaly_events(world)
    assert len(events) == 1 and events[0].explanation is not None
    assert events[0].explanation[0]["tag_id"] == tags["vib"] and events[0].explanation[0]["sigma"] > 20
    assert events[0].cleared_at is not None


def test_an_anomaly_too_short_for_the_on_delay_raises_nothing(world: World) -> None:
    tags = _machine(world)
    _deploy(world, tags, delay_s=30.0)
    values = _values(120, 2)
    values["vib"][40:50] += 20 * NORMAL["vib"][1]  # a 10 s burst
    monitor = AlarmMonitor(world.db)
    for batch in _per_tag_batches(tags, values):
        monitor.process(batch)
    assert _anomaly_events(world) == []


def test_a_broken_model_is_left_out_and_rule_alarms_go_on(world: World) -> None:
    tags = _machine(world)
    model_id = _deploy(world, tags)
    with world.db.session(SYSTEM) as session:
        session.get(AnalyticsModel, model_id).state = b"not a model"  # type: ignore[union-attr]
    monitor = AlarmMonitor(world.db)
    monitor.process(_per_tag_batches(tags, _values(3, 3))[0])
    assert monitor.anomalies.runners == {}


def test_training_on_stored_history_registers_a_candidate_that_scores_online(world: World, tmp_path: object) -> None:
    from smart365.telemetry.store import DuckDBStore

    tags = _machine(world)
    store = DuckDBStore(":memory:")
    values = _values(600, 4)
    store.append(Batch.concat(_per_tag_batches(tags, values)))
    start, end = utcnow() - timedelta(hours=1), utcnow()
    with world.db.session(SYSTEM) as session:
        row = training.train_anomaly_model(
            session, store, equipment_id=world.ids_a["equipment_id"], start=start, end=end, created_by="test",
            tag_ids=[tags[k] for k in NORMAL], settings={},
        )  # fmt: skip
        assert row.status == "candidate" and row.version == 1 and row.metrics["rows"] == 600
        assert 0 <= row.metrics["holdout_alarm_rate"] < 0.1
    with world.db.session(SYSTEM) as session, pytest.raises(Exception, match="usable rows"):
        training.train_anomaly_model(
            session, store, equipment_id=world.ids_a["equipment_id"], start=start - timedelta(days=9),
            end=start - timedelta(days=8), created_by="test", tag_ids=[tags["load"]], settings={},
        )  # fmt: skip
    store.close()


def test_a_model_trained_on_a_sparser_history_scores_live_rows_at_that_cadence(world: World) -> None:
    from smart365.telemetry.store import DuckDBStore

    tags = _machine(world)
    store = DuckDBStore(":memory:")
    now = utcnow().replace(microsecond=0)
    history = _values(1000, 7)  # stored every 10 s, as a replay or an import per minute would be
    for name, tag_id in tags.items():
        stamps = [now - timedelta(hours=4) + timedelta(seconds=10 * i) for i in range(1000)]
        store.append(Batch.from_columns(tag_id, stamps, history[name]))
    with world.db.session(SYSTEM) as session:
        row = training.train_anomaly_model(
            session, store, equipment_id=world.ids_a["equipment_id"], start=now - timedelta(hours=5),
            end=now - timedelta(hours=1), created_by="test", kind="anomaly.stuck", tag_ids=list(tags.values()),
        )  # fmt: skip
        assert row.settings["bucket_s"] == 10.0 and row.metrics["rows"] == 1000
        registry.deploy(session, row.id, by="test")
    store.close()

    live = _values(1300, 8)  # live data every second; the temperature freezes for 1,000 s
    live["temp"][200:1200] = 40.05
    monitor = AlarmMonitor(world.db)
    for second, batch in enumerate(_per_tag_batches(tags, live)):
        monitor.process(batch)
        if second == 3 * 500:  # 300 s frozen: 300 one-second rows, yet only 30 of the model's rows
            assert _anomaly_events(world) == []
    (event,) = _anomaly_events(world)
    assert event.explanation is not None
    (why,) = event.explanation
    # the limit is 60 of the history's rows (the detector's minimum): 10 minutes, as in training, not 60 s
    assert why["tag_id"] == tags["temp"] and why["limit_s"] == 600.0 and why["unchanged_s"] >= 600


def test_a_monitor_starting_mid_run_knows_since_when_the_machine_runs() -> None:
    from smart365.telemetry.store import DuckDBStore

    store = DuckDBStore(":memory:")
    t = np.arange(0, 3600, 10) * 1_000_000  # a state point every 10 s for an hour
    state = np.where((t >= 1800 * 1_000_000) & (t < 2400 * 1_000_000), 0.0, 1.0)  # idle 30–40 min in
    store.append(Batch.from_columns(9, t, state))
    settings = {"gate_tag_id": 9, "run_value": 1.0, "settle_s": 1800.0}
    assert scoring.running_since(store, settings) == 2400 * 1_000_000  # the run began when the idle ended
    assert scoring.running_since(store, settings | {"settle_s": 600.0}) == (3590 - 660) * 1_000_000  # whole lookback
    store.append(Batch.from_columns(9, [3600 * 1_000_000], [2.0]))
    assert scoring.running_since(store, settings) is None  # down now
    assert scoring.running_since(store, {"gate_tag_id": None}) is None
    store.close()


@pytest.mark.parametrize("kind", sorted(training.DETECTORS))
def test_every_deployable_detector_can_reach_its_own_alarm_limit(kind: str) -> None:
    """A limit set beyond what the score can ever reach makes a model that never alarms (an isolation
    forest's score stays below 1, so a margin of 1.2 on its 99.5 % quantile was out of reach)."""
    rng = np.random.default_rng(3)
    normal = pd.DataFrame(rng.normal(0, 1, (2000, 3)), columns=["1", "2", "3"])
    detector = training.DETECTORS[kind][0]().fit(normal)
    far_off = pd.DataFrame([[10.0, 10.0, 0.0]], columns=["1", "2", "3"])  # two signals 10σ off
    if kind == "anomaly.stuck":  # its anomaly is stillness: signal 2 frozen at a normal value
        far_off = pd.DataFrame(rng.normal(0, 1, (300, 3)), columns=["1", "2", "3"]).assign(**{"2": 0.4})
    if kind == "anomaly.trend":  # its anomaly is a ramp: signal 2 rising 0.05 σ per row
        far_off = pd.DataFrame(rng.normal(0, 1, (300, 3)), columns=["1", "2", "3"])
        far_off["2"] += 0.05 * np.arange(300)
    assert detector.score(far_off).max() > detector.threshold
    assert (detector.score(normal) > detector.threshold).mean() < 0.01
