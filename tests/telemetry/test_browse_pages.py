"""Picking tags from a live OPC UA server: the page browses the simulator's address space, offers each variable
with its unit and range, adds the ticked ones as tags with their node ids, and says plainly when it cannot browse."""

from __future__ import annotations

import asyncio
import html
import re
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Equipment, Tag
from smart365.sim.factory.opcua_server import PlantOpcUaServer
from smart365.sim.factory.physics import TAGS
from smart365.sim.factory.runner import free_port
from tests.conftest import World
from tests.registry.test_plant_pages import _login

LOAD = "ns=2;s=Plant/가공라인/MCT-01/SpindleLoad"


@pytest.fixture
def opcua_server() -> Iterator[str]:
    """The simulator's OPC UA server on a free port, in a thread with its own event loop; yields its endpoint."""
    yield from _serving(PlantOpcUaServer({"MCT-01": ("가공라인", TAGS["cnc"])}, port=free_port()))


def _serving(server: PlantOpcUaServer) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    yield server.endpoint
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _connect(world: World, endpoint: str) -> int:
    with world.db.session(SYSTEM) as session:
        machine = session.get_one(Equipment, world.ids_a["equipment_id"])
        machine.protocol, machine.endpoint = "opcua", endpoint
        return machine.id


def _row_of(page: str, path_end: str) -> int:
    """The form index of the row whose browse path ends with ``path_end``."""
    for index, path in re.findall(r'name="pick" value="(\d+)" aria-label="([^"]+)"', page):
        if path.endswith(path_end):
            return int(index)
    raise AssertionError(f"no row for {path_end}")


def test_a_member_picks_tags_from_the_machines_opcua_server(
    client: TestClient, world: World, opcua_server: str
) -> None:
    machine = _connect(world, opcua_server)
    csrf = _login(client, world.emails["member_a"])
    assert f"/equipment/{machine}/browse" in client.get(f"/equipment/{machine}").text
    page = html.unescape(client.get(f"/equipment/{machine}/browse").text)
    assert "MCT-01/SpindleLoad" in page and "StateCode" in page
    load, temp = _row_of(page, "/SpindleLoad"), _row_of(page, "/SpindleTemp")
    assert f'name="name-{load}" value="spindle_load"' in page
    assert f'name="display_name-{load}" value="주축 부하"' in page  # a known signal's Korean name
    assert f'name="unit-{load}" value="%"' in page and f'name="max_value-{load}" value="150"' in page

    form = {"csrf_token": csrf, "pick": [str(load), str(temp)]}
    for index in (load, temp):
        for key in ("name", "display_name", "unit", "address", "min_value", "max_value"):
            found = re.search(rf'name="{key}-{index}" value="([^"]*)"', page)
            form[f"{key}-{index}"] = found.group(1) if found else ""
    form[f"name-{temp}"] = "주축_온도"  # renamed before adding
    done = client.post(f"/equipment/{machine}/browse", data=form)
    assert "태그 2개를 추가했습니다." in done.text
    with world.db.session(SYSTEM) as session:
        tags = {t.name: t for t in session.scalars(select(Tag).where(Tag.equipment_id == machine))}
    assert (tags["spindle_load"].address, tags["spindle_load"].unit, tags["spindle_load"].max_value) == (LOAD, "%", 150)
    assert tags["주축_온도"].address == LOAD.replace("SpindleLoad", "SpindleTemp")
    again = html.unescape(client.get(f"/equipment/{machine}/browse").text)
    assert "이미 주축 부하(으)로" not in again and "이미 주축 부하로 수집 중" in again

    other = _login(client, world.emails["member_b"])
    assert client.get(f"/equipment/{machine}/browse").status_code in (403, 404)
    assert client.post(f"/equipment/{machine}/browse", data={"csrf_token": other}).status_code in (403, 404)


def test_an_unreachable_server_is_said_plainly(client: TestClient, world: World) -> None:
    machine = _connect(world, f"opc.tcp://127.0.0.1:{free_port()}/nothing/")
    _login(client, world.emails["member_a"])
    page = client.get(f"/equipment/{machine}/browse")
    assert page.status_code == 200 and "설비의 OPC UA 서버를 찾아볼 수 없습니다" in page.text


@pytest.fixture
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The simulator's server asking for Basic256Sha256, with a certificate of its own."""
    server = PlantOpcUaServer({"MCT-01": ("가공라인", TAGS["cnc"])}, port=free_port(),
                              secure_in=tmp_path_factory.mktemp("ua-server"))  # fmt: skip
    yield from _serving(server)


def test_the_admin_trusts_a_refused_server_and_the_member_browses_it_secured(
    client: TestClient, world: World, secure_server: str
) -> None:
    machine = _connect(world, f"{secure_server}?security=Basic256Sha256&mode=SignAndEncrypt")
    _login(client, world.emails["member_a"])
    refused = client.get(f"/equipment/{machine}/browse").text
    assert "서버 인증서를 아직 신뢰하지 않습니다" in refused
    assert client.get("/admin/opcua").status_code == 403  # the trust list is the administrator's

    csrf = _login(client, world.emails["admin"])
    page = client.get("/admin/opcua").text
    [thumbprint] = re.findall(r'name="thumbprint" value="([0-9a-f]{40})"', page)
    assert "urn:smart365:sim:opcua-server" in page and "/admin/opcua/own.der" in page
    assert client.get("/admin/opcua/own.der").content.startswith(b"\x30")  # a DER certificate
    trusted = client.post("/admin/opcua/trust", data={"csrf_token": csrf, "thumbprint": thumbprint})
    assert "이제 urn:smart365:sim:opcua-server를 신뢰합니다." in html.unescape(trusted.text)

    _login(client, world.emails["member_a"])
    assert "MCT-01/SpindleLoad" in client.get(f"/equipment/{machine}/browse").text
