"""The demo's AI test-bed run: the showcase firm (주)한빛정밀 gets one run on its own backfilled history, so
the test-bed page shows a finished result a few seconds after start-up.

The run is an ordinary one (a tag selection staged from the store, queued to the app's worker), started
once: a later start of the demo finds it and adds nothing. It runs in the background, so start-up does not
wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from smart365.core.db import Database
from smart365.core.errors import AppError
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Company, Equipment, Tag
from smart365.sim.live import SHOWCASE_BRN
from smart365.telemetry.store import TimeSeriesStore
from smart365.testbed.models import TestbedRun
from smart365.testbed.service import RunRequest, TestbedWorker, start_run
from smart365.testbed.tables import stage_tags, tag_column

if TYPE_CHECKING:
    from smart365.bootstrap import System

log = logging.getLogger(__name__)

MACHINE = "MCT-01"
TARGET = "cycle_time"  # can the machine's other signals tell how long the current cycle takes?
WINDOW = timedelta(hours=8)
BY = "Smart365 데모 / demo"


def seed_testbed_run(db: Database, store: TimeSeriesStore, worker: TestbedWorker) -> int | None:
    """Queue the showcase run unless the firm has a run already; returns its id (``None``: nothing to do)."""
    with db.session(SYSTEM) as session:
        company_id = session.scalar(select(Company.id).where(Company.brn == SHOWCASE_BRN))
        if company_id is None or session.scalar(select(TestbedRun.id).where(TestbedRun.company_id == company_id)):
            return None
        tags = list(
            session.scalars(
                select(Tag).join(Equipment).options(selectinload(Tag.equipment))
                .where(Equipment.company_id == company_id, Equipment.name == MACHINE).order_by(Tag.id)
            )
        )  # fmt: skip
        target = next((tag_column(t) for t in tags if t.name == TARGET), None)
        if target is None:
            return None
        now = datetime.now(UTC)
        try:
            token = stage_tags(worker.staging, store, company_id, tags, now - WINDOW, now)
            run = start_run(session, worker.staging, company_id, RunRequest(token, target, "time"), BY)
        except AppError as exc:  # e.g. no history yet (``--no-live`` on a fresh data folder)
            log.info("demo test-bed run not seeded: %s", exc.english())
            return None
        run_id = run.id
    worker.submit(run_id)
    return run_id


class DemoTestbed:
    """Seeds the showcase run once the system's other plug-ins (the live plant's backfill) have started."""

    async def start(self, system: System) -> None:
        if system.testbed is not None:
            await asyncio.to_thread(seed_testbed_run, system.db, system.store, system.testbed)

    async def stop(self) -> None:
        return None
