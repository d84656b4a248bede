"""The demo seeds one AI test-bed run on the showcase firm's backfilled history, once."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from smart365.core.db import Database
from smart365.core.tenancy import SYSTEM
from smart365.sim.demo import seed_demo
from smart365.sim.demo_testbed import seed_testbed_run
from smart365.sim.live import DirectFeed, catch_up, showcase_tags
from smart365.telemetry.store import open_store
from smart365.testbed.models import TestbedRun
from smart365.testbed.service import TestbedWorker
from smart365.testbed.tables import Staging


def test_demo_seeds_a_showcase_run_on_its_history_once(db: Database, tmp_path: Path) -> None:
    seed_demo(db, firms=3)
    store = open_store(tmp_path / "ts.duckdb")
    worker = TestbedWorker(db, Staging(tmp_path / "testbed"))
    assert seed_testbed_run(db, store, worker) is None  # no history yet: nothing seeded, nothing breaks
    with db.session(SYSTEM) as session:
        _company, tags = showcase_tags(session)
    catch_up(DirectFeed(db, store, tags), hours=1.5)
    run_id = seed_testbed_run(db, store, worker)
    assert run_id is not None
    deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
    while time.monotonic() < deadline:
        with db.session(SYSTEM) as session:
            run = session.get(TestbedRun, run_id)
            assert run is not None
            if not run.active:
                break
        time.sleep(0.1)
    worker.stop()
    assert run.status == "done", run.error
    assert run.source_kind == "tags" and run.target == "MCT-01/사이클 타임" and "MCT-01/주축 부하" in run.source
    assert run.report and run.report["winner"]["best_model"] and len(run.report["results"]) == 5
    assert seed_testbed_run(db, store, worker) is None  # a later start adds nothing
    with db.session(SYSTEM) as session:
        assert len(session.scalars(select(TestbedRun)).all()) == 1
    store.close()
