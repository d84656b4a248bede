"""The fleet simulator against a private hub and an in-process centre worker; the centre's write path.

Five simulated plants (each its own firm, NATS user and buffer) send 10 tags × 3 minutes of 1-minute rollups
through a real hub ``nats-server`` to one :class:`~smart365.fleet.centre.CentreConsumer`: every row arrives
exactly once (count and checksum of what was sent). The writer keeps the rows already stored when a batch
comes again (a redelivery), in whole or in part, and dead-letters a message with a value it cannot take.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import psycopg
import pytest

from smart365.core.db import libpq_url
from smart365.fleet.centre import CentreWriter
from smart365.fleet.wire import subject
from smart365.sim.fleet import PlantLoad, expected, fleet_loads, simulate_private, stored
from tests.conftest import postgres_records

pytestmark = pytest.mark.usefixtures("nats_server")


def test_five_simulated_plants_store_every_row_exactly_once() -> None:
    loads = fleet_loads(5, 10, 3)
    with postgres_records() as url:
        started = time.monotonic()
        report = asyncio.run(simulate_private(loads, url, workers=1))
        assert time.monotonic() - started < 20
    assert report.sent.plants == 5 and report.sent.messages == 15 and report.sent.rows == 150
    assert report.expected.rows == 150 and report.stored_rows == 150 and report.lost == 0
    assert report.exact  # the checksum of (firm, plant, tag, bucket, points) is what was sent
    assert report.sent.duplicates == 0 and report.sent.retries == 0
    assert report.rows_per_s > 0


def test_the_writer_keeps_rows_already_stored_and_dead_letters_what_it_cannot_take() -> None:
    now = datetime.now(UTC)
    load = PlantLoad("9000000365", "sim", tags=4, minutes=3, start_s=int(now.timestamp()) // 60 * 60 - 3600)
    messages = [(m.subject, m.body) for minute in range(3) for m in load.messages(minute)]
    with postgres_records() as url:
        writer = CentreWriter(url)
        try:
            first = writer.write(messages[:2], now)
            assert (first.stored, first.already, first.dead) == (8, 0, 0)
            again = writer.write(messages, now)  # two messages delivered again with a new one
            assert (again.stored, again.already, again.dead) == (4, 8, 0)
            bad = (subject("9000000365", "sim", "rollup.1m"), b'{"rows": [[1, 1765065600, 6, NaN, 1.0, 2.0]]}')
            assert writer.write([bad], now).dead == 1
        finally:
            writer.close()
        assert stored(url) == (12, load.checksum())
        with psycopg.connect(libpq_url(url)) as conn:
            reason = conn.execute("SELECT reason FROM fleet_dead_letters").fetchone()
        assert reason is not None and "mean nan is not a finite number" in reason[0]


def test_expected_counts_what_the_plants_made() -> None:
    class Made:
        def __init__(self, load: PlantLoad, produced: int) -> None:
            self.load, self.produced = load, produced

    loads = fleet_loads(2, 3, 5, start_s=1_765_065_600)
    want = expected([Made(loads[0], 5), Made(loads[1], 2)])
    assert want.rows == 3 * 7 and want.per_plant == {loads[0].brn: 15, loads[1].brn: 6}
    assert want.checksum == loads[0].checksum() + loads[1].checksum(2)
