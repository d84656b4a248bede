"""Measured evidence on a plant that runs: the simulated showcase plant registered, then three hours of it
stored (alarm rules watching, anomaly models trained and deployed on the way). Each evidence item moves
when its data appears, and the numbers it shows are the plant's own."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, update

from smart365.assessment import evidence
from smart365.assessment.evidence import Evidence, EvidenceContext
from smart365.assessment.instrument import default_instrument
from smart365.bootstrap import bootstrap, records
from smart365.core.db import Database, utcnow
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.monitoring.models import AlarmEvent
from smart365.sim.demo import register_showcase
from smart365.sim.live import DirectFeed, catch_up, showcase_tags
from smart365.telemetry.store import TimeSeriesStore

INSTRUMENT = default_instrument()


def _measure(db: Database, store: TimeSeriesStore, company_id: int) -> dict[str, Evidence]:
    with db.session(SYSTEM) as session:
        return evidence.measure_items(INSTRUMENT, EvidenceContext(session, company_id, store, utcnow()))


def _stages(found: dict[str, Evidence]) -> dict[str, int | None]:
    return {item: found[item].stage for item in ("CTL.4", "OPS.3", "EQP.1", "QUA.1", "EQP.2")}


def test_each_evidence_item_moves_when_the_plant_makes_its_data(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="evidence", warm_up=False)
    db = records(settings)
    with db.session(SYSTEM) as session:
        company_id = register_showcase(session).id
    system = bootstrap(settings, db=db)
    try:
        # registered, nothing collected yet: rules watch (1), nothing else proven
        before = _measure(db, system.store, company_id)
        assert _stages(before) == {"CTL.4": 0, "OPS.3": 1, "EQP.1": 0, "QUA.1": 0, "EQP.2": None}

        with db.session(SYSTEM) as session:
            _, tags = showcase_tags(session)
        catch_up(DirectFeed(db, system.store, tags, system.alarms), hours=3)
        with db.session(SYSTEM) as session:
            raised = session.scalar(select(func.count()).select_from(AlarmEvent))
        assert raised > 0

        ran = _measure(db, system.store, company_id)
        # alarms raised but none acknowledged: still 1; the rest proven by the plant's own data
        assert _stages(ran) == {"CTL.4": 2, "OPS.3": 1, "EQP.1": 2, "QUA.1": 2, "EQP.2": 3}
        assert ran["CTL.4"].english() == (
            "9 of 9 registered machines sent data automatically in the last 7 days (100%)."
        )
        assert ran["OPS.3"].params["raised"] == raised and ran["OPS.3"].params["acked"] == 0
        assert ran["EQP.2"].params["live"] == 12  # the demo's three models on each of the four CNCs
        assert "1-" not in ran["EQP.1"].localized()  # plain Korean, not a raw template

        with db.session(SYSTEM) as session:  # the team acknowledges every alarm
            session.execute(update(AlarmEvent).values(acked_at=utcnow(), acked_by_name="반장"))
        handled = _measure(db, system.store, company_id)["OPS.3"]
        assert handled.stage == 3  # acknowledged and an anomaly model scores live data
        assert handled.localized().startswith(f"최근 30일 알람 {raised}건, 확인 {raised}건(100%)")
    finally:
        system.store.close()
        db.dispose()
