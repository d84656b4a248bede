"""The demo's showcase plant: every CNC machine gets a deployed anomaly model trained on its history, the
bearing wearing out on MCT-02 raises an explained anomaly alarm, and a second start reuses the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from smart365.analytics.models import AnalyticsModel
from smart365.core import migrate
from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.registry.models import Equipment
from smart365.sim.demo import seed_demo
from smart365.sim.live import LiveConfig, LivePlant
from smart365.telemetry.store import DuckDBStore


def _start_and_stop(db: Database, store: DuckDBStore) -> None:
    async def run() -> None:
        live = LivePlant(db, store, LiveConfig(network=False, backfill_h=3.0))
        await live.start()
        await live.stop()

    asyncio.run(run())


def test_demo_deploys_a_model_per_cnc_which_explains_the_bearing_fault_and_is_reused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    migrate.upgrade(url)
    db = Database(url)
    seed_demo(db, firms=2)
    store = DuckDBStore(tmp_path / "ts.duckdb")
    _start_and_stop(db, store)
    with db.session(SYSTEM) as session:
        names = dict(session.execute(select(Equipment.id, Equipment.name)).all())
        models = session.scalars(select(AnalyticsModel)).all()
        deployed = sorted(names[m.equipment_id] for m in models if m.status == "deployed")
        events = session.scalars(select(AlarmEvent).where(AlarmEvent.model_id.is_not(None))).all()
        bearing = [e for e in events if names[e.equipment_id] == "MCT-02"]
    assert deployed == ["MCT-01", "MCT-02", "MCT-03", "MCT-04"]
    assert all(m.version == 1 and m.created_by == "Smart365 demo" for m in models)
    assert len(bearing) == 1 and bearing[0].explanation is not None
    assert bearing[0].explanation[0]["tag"] == "vibration" and bearing[0].explanation[0]["sigma"] > 5

    _start_and_stop(db, store)  # a second start: the same models, no new versions
    with db.session(SYSTEM) as session:
        again = session.scalars(select(AnalyticsModel)).all()
    assert sorted((m.id, m.version, m.status) for m in again) == sorted((m.id, m.version, m.status) for m in models)
    store.close()
    db.dispose()
