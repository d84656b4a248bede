"""The demo's showcase plant: every CNC machine gets three deployed anomaly models trained on its history (PCA,
a stuck-sensor check and a trend check), the bearing wearing out on MCT-02 and the spindle-load sensor stuck on
MCT-01 raise explained anomaly alarms, and a second start reuses the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from smart365.analytics.models import AnalyticsModel
from smart365.bootstrap import bootstrap, records
from smart365.core.db import Database
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.registry.models import Equipment
from smart365.sim.demo import seed_demo
from smart365.sim.live import LiveConfig, LivePlant


def _start_and_stop(settings: Settings, db: Database) -> None:
    """The demo's system (without collection: no network here) with the live plant, started and stopped."""
    system = bootstrap(settings, db=db)
    system.plugins.append(LivePlant(LiveConfig(network=False, backfill_h=3.0)))

    async def run() -> None:
        await system.start()
        await system.stop()

    asyncio.run(run())


def test_demo_deploys_a_model_per_cnc_which_explains_the_bearing_fault_and_is_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, collect=False, warm_up=False)
    db = records(settings)
    seed_demo(db, firms=2)
    _start_and_stop(settings, db)
    with db.session(SYSTEM) as session:
        names = dict(session.execute(select(Equipment.id, Equipment.name)).all())
        models = session.scalars(select(AnalyticsModel)).all()
        kinds = {m.id: m.kind for m in models}
        deployed = sorted((names[m.equipment_id], m.kind) for m in models if m.status == "deployed")
        events = session.scalars(select(AlarmEvent).where(AlarmEvent.model_id.is_not(None))).all()
        found = {(names[e.equipment_id], kinds[e.model_id]): e for e in events}
    kinds_each = ("anomaly.pca", "anomaly.stuck", "anomaly.trend")
    assert deployed == [(f"MCT-0{i}", kind) for i in range(1, 5) for kind in kinds_each]
    assert all(m.settings["bucket_s"] == 10.0 for m in models)  # the replay's cadence, kept for the live rows
    assert all(m.version == 1 and m.created_by == "Smart365 demo" for m in models)
    bearing = [e for e in events if names[e.equipment_id] == "MCT-02" and kinds[e.model_id] == "anomaly.pca"]
    assert len(bearing) == 1 and bearing[0].explanation is not None
    assert bearing[0].explanation[0]["tag"] == "vibration" and bearing[0].explanation[0]["sigma"] > 5
    # the sensor stuck for 30 min (40 to 10 min before the end of the replay): only the stuck check sees it
    stuck = found[("MCT-01", "anomaly.stuck")].explanation
    assert stuck is not None and [c["tag"] for c in stuck] == ["spindle_load"]
    assert stuck[0]["unchanged_s"] >= 10 * 60
    assert {key for key in found if key[1] == "anomaly.stuck"} == {("MCT-01", "anomaly.stuck")}  # no false alarm
    # the wearing bearing's vibration also rises faster than ever in the history; nothing else trends
    trend = found[("MCT-02", "anomaly.trend")].explanation
    assert trend is not None and trend[0]["tag"] == "vibration" and trend[0]["trend_per_h"] > trend[0]["limit_per_h"]
    assert {key for key in found if key[1] == "anomaly.trend"} == {("MCT-02", "anomaly.trend")}

    _start_and_stop(settings, db)  # a second start: the same models, no new versions
    with db.session(SYSTEM) as session:
        again = session.scalars(select(AnalyticsModel)).all()
    assert sorted((m.id, m.version, m.status) for m in again) == sorted((m.id, m.version, m.status) for m in models)
    db.dispose()
