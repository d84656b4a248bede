"""Secured OPC UA (Basic256Sha256): a server whose certificate is not trusted is refused and its certificate kept
for the administrator; once trusted, the connector collects over Sign and SignAndEncrypt; an unsecured client
finds no endpoint on a server that asks for security."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smart365.sim.factory.opcua_server import PlantOpcUaServer
from smart365.sim.factory.physics import TAGS, Plant
from smart365.sim.factory.runner import free_port
from smart365.telemetry.connectors.opcua import OpcUaConnector, browse
from smart365.telemetry.opcua_pki import Pki
from tests.telemetry.connector_helpers import Recorder, run, wait_until

LOAD = "ns=2;s=Plant/가공라인/MCT-01/SpindleLoad"


def _server(tmp_path: Path) -> PlantOpcUaServer:
    return PlantOpcUaServer({"MCT-01": ("가공라인", TAGS["cnc"])}, port=free_port(), secure_in=tmp_path / "server")


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_a_secured_session_needs_the_servers_certificate_trusted(tmp_path: Path, mode: str) -> None:
    pki = Pki(tmp_path / "client")
    login = {"security": "Basic256Sha256", "mode": mode, "pki_dir": str(pki.root), "installation": "plant-1",
             "username": "operator", "password": "smart365"}  # fmt: skip

    async def scenario() -> None:
        server = _server(tmp_path)
        await server.start()
        plant = Plant.showcase(seed=3, start=datetime(2026, 1, 5, 8, tzinfo=UTC))
        try:
            with pytest.raises(Exception):  # noqa: B017 - asyncua's refusal is a bare status error
                await browse(server.endpoint, **login)
            [seen] = pki.certificates("rejected")
            assert seen.subject == "urn:smart365:sim:opcua-server" and pki.certificates("trusted") == []
            assert (await pki.own("plant-1")).subject == "urn:smart365:plant-1"
            pki.trust(seen.thumbprint)
            found = {s.node_id for s in await browse(server.endpoint, **login)}
            assert LOAD in found
            recorder = Recorder()
            config = {"endpoint": server.endpoint, "publishing_interval_ms": 100, "backoff_initial_s": 0.2,
                      "tags": [{"tag_id": 1, "node_id": LOAD}], **login}  # fmt: skip
            connector = OpcUaConnector(config, recorder.emit)
            await connector.start()
            try:
                for _ in range(100):
                    await server.update(plant.advance(5))
                    if len(recorder.values(1)) >= 3:
                        break
                    await asyncio.sleep(0.1)
                await wait_until(lambda: len(recorder.values(1)) >= 3, what="values over the secured session")
            finally:
                await connector.stop()
            with pytest.raises(Exception):  # noqa: B017 - no endpoint without security on this server
                await browse(server.endpoint, username="operator", password="smart365")
        finally:
            await server.stop()

    run(scenario(), timeout=90)
