"""A plant's uplink on its own leaf node with no hub reachable: the outbox keeps everything, a restart goes on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from smart365.bootstrap import bootstrap
from smart365.core.settings import Settings
from smart365.core.tenancy import SYSTEM
from smart365.fleet.nats_config import NatsServer, free_port, leaf_config
from smart365.fleet.uplink import OUTBOX_STREAM, Uplink
from smart365.telemetry.batch import Batch
from tests.fleet.firms import firm_with_machine

pytestmark = pytest.mark.usefixtures("nats_server")

BRN = "1018600011"
START = 1_796_500_800  # an hour's start


def test_the_outbox_keeps_what_the_hub_never_got_and_a_restart_publishes_only_what_is_new(tmp_path: Path) -> None:
    port = free_port()
    conf = leaf_config(port, f"nats://127.0.0.1:{free_port()}", BRN, "pw", tmp_path / "js", plant="p1")
    with NatsServer(conf, tmp_path, "leaf", port):  # its hub is nowhere: the WAN is down from the start
        settings = Settings(
            data_dir=tmp_path / "plant",
            fleet_leaf_url=f"nats://127.0.0.1:{port}",
            fleet_brn=BRN,
            fleet_every_s=3600,
            installation_id="p1",
            warm_up=False,
        )
        system = bootstrap(settings)
        with system.db.session(SYSTEM) as session:  # the firm, and a neighbour whose data must not leave
            ids = [firm_with_machine(session, brn, [("vibration", "mm/s")])[0] for brn in (BRN, "2028700024")]
        ts = np.arange(START, START + 7200, 10, dtype=np.int64) * 1_000_000
        for tag_id in ids:
            system.store.append(Batch.from_columns(tag_id, ts, np.linspace(1.0, 2.0, ts.size)))

        async def messages(uplink: Uplink) -> dict[str, int]:
            info = await uplink._js.stream_info(OUTBOX_STREAM, subjects_filter=">")
            prefix = f"outbox.s365.{BRN}.p1."
            return {name.removeprefix(prefix): n for name, n in (info.state.subjects or {}).items()}

        async def run() -> None:
            first = system.fleet
            assert isinstance(first, Uplink)
            first.clock = lambda: START + 3600 + 180.0
            await first.start()  # publishes at once, then every hour
            await asyncio.sleep(1.0)
            assert first.forwarded == 0  # the hub is unreachable: nothing was acknowledged by it
            # the tag catalogue, minutes 0-59 and minute 60 (published an hour's slice at a time), hour 0, and
            # the measured evidence; no models, no alarms, no OEE settings: nothing of those
            assert await messages(first) == {"tags": 1, "rollup.1m": 2, "rollup.1h": 1, "evidence": 1}
            last = await first._js.get_last_msg(OUTBOX_STREAM, f"outbox.s365.{BRN}.p1.rollup.1m")
            [row] = json.loads(last.data)["rows"]  # only the firm's own tag, never its neighbour's
            stored = system.store.rollup(ids[0], (START + 3600) * 10**6, (START + 3660) * 10**6).to_pylist()[0]
            assert row == [ids[0], START + 3600, stored["count"], stored["avg"], stored["min"], stored["max"]]
            await first.stop()

            second = Uplink(system.db, system.store, leaf_url=settings.fleet_leaf_url or "", brn=BRN, plant="p1")
            second.clock = lambda: START + 3600 + 180.0
            await second.start()  # a restart at the same moment: nothing new is due
            await asyncio.sleep(0.5)
            assert sum((await messages(second)).values()) == 5
            assert await second.publish_due(START + 7200 + 180.0) == 2  # the second hour's minutes and hour
            last = await second._js.get_last_msg(OUTBOX_STREAM, f"outbox.s365.{BRN}.p1.rollup.1m")
            assert json.loads(last.data)["rows"][0][1] == START + 3660  # on from where the first stopped
            await second.stop()

        asyncio.run(run())
        system.store.close()
