"""The InfluxDB-compatible write as the factory's own edges use it: Telegraf's requests replayed byte for byte,
the InfluxDB client libraries against a live server, the new-signal inbox that keeps what no tag stands
for yet, and the refusals InfluxDB clients understand (400 with line numbers, 401, 413)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.api_keys import ApiKey, create_key
from smart365.core.audit import AuditEntry
from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Tag
from smart365.telemetry import signals
from smart365.telemetry.models import SeriesMapping
from tests.conftest import SENTINEL, World, bearer
from tests.fixtures.make_telegraf_requests import KEY, LINES, TS
from tests.web.test_tenancy_matrix import _csrf, _page_client

FIXTURE = Path(__file__).parent.parent / "fixtures" / "telegraf_requests.txt"
EVER = ("2000-01-01", "2100-01-01")
MODBUS_TEMP = "modbus,host=gw-01,name=press-01,slave_id=1,type=holding_register hydraulic_temp"


def _recorded() -> dict[str, bytes]:
    found: dict[str, list[str]] = {}
    name = ""
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("=== "):
            name = line[4:].strip()
            found[name] = []
        elif name and line and not line.startswith("#"):
            found[name].append(line)
    return {k: base64.b64decode("".join(v)) for k, v in found.items()}


def _fixture_key(world: World) -> None:
    """Register the fixture's API key for firm A (its secret is fixed so the recorded bytes replay as they are)."""
    key_id, secret = KEY.removeprefix("s365_").split("_", 1)
    with world.db.session(SYSTEM) as session:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        session.add(ApiKey(company_id=world.firm_a, key_id=key_id, secret_sha256=digest,
                           name="telegraf", created_by_name="test"))  # fmt: skip


def _key(world: World, firm: int) -> str:
    with world.db.session(SYSTEM) as session:
        return create_key(session, firm, "gateway", created_by="test")[1]


@contextmanager
def _served(app: Any) -> Iterator[int]:
    """The app on a free port of this machine; yields the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _replay(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` as it is on one connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _sep, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _c, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
    return int(lines[0].split()[1]), headers, body


def _inbox(world: World, firm: int) -> dict[str, SeriesMapping]:
    """The firm's series by name, less the one the world fixture puts in firm A's inbox."""
    with world.db.session(SYSTEM) as session:
        rows = session.scalars(select(SeriesMapping).where(SeriesMapping.company_id == firm))
        return {r.series: r for r in rows if SENTINEL not in r.series}


def _map_modbus_temp(world: World) -> int:
    """Firm A maps the press's hydraulic temperature to its existing tag beforehand."""
    with world.db.session(SYSTEM) as session:
        signals.map_series(session, world.firm_a, MODBUS_TEMP, world.ids_a["tag_id"], by="test")
    return world.ids_a["tag_id"]


@pytest.mark.parametrize("request_name", ["influxdb_write", "influxdb_v2_write"])
def test_telegrafs_recorded_requests_land_in_the_store(app: Any, world: World, request_name: str) -> None:
    _fixture_key(world)
    tag = _map_modbus_temp(world)
    recorded = _recorded()
    store = app.state.system.store
    with _served(app) as port:  # the store closes with the server: every check inside
        if request_name == "influxdb_write":
            status, headers, body = _replay(port, recorded["influxdb_create_database"])
            assert status == 200 and body == b'{"results":[{"statement_id":0}]}', body
        status, headers, body = _replay(port, recorded[request_name])
        _check_recorded_write(world, store, tag, request_name, status, headers, body)


def _check_recorded_write(world: World, store: Any, tag: int, request_name: str, status: int,
                          headers: dict[str, str], body: bytes) -> None:  # fmt: skip
    assert status == 204, body
    assert headers["x-influxdb-version"]
    # the mapped series is stored as its tag, both points, at Telegraf's nanosecond times
    held = store.read(tag, *EVER)
    assert held.value.tolist() == [48.25, 48.5]
    assert held.ts_us.tolist() == [TS // 1000, TS // 1000 + 10_000_000]
    # every other series waits in the inbox, its points kept, nothing dropped
    inbox = _inbox(world, world.firm_a)
    expected = {"cpu,cpu=cpu-total,host=press-01 usage_idle", "cpu,cpu=cpu-total,host=press-01 usage_user",
                "cpu,cpu=cpu-total,host=press-01 usage_system", "mem,host=press-01 available_percent",
                "mem,host=press-01 used", f"{MODBUS_TEMP.rsplit(' ', 1)[0]} pressure"}  # fmt: skip
    assert {s for s, r in inbox.items() if r.tag_id is None} == expected
    idle = inbox["cpu,cpu=cpu-total,host=press-01 usage_idle"]
    assert store.read(signals.held_key(idle.id), *EVER).value.tolist() == [97.5, 96.5]
    assert idle.source == ("db=telegraf" if request_name == "influxdb_write" else "bucket=telegraf")
    points_sent = LINES.decode().count("=") - _tag_pairs(LINES.decode())
    kept = sum(len(store.read(signals.held_key(r.id), *EVER)) for r in inbox.values() if r.tag_id is None)
    assert kept + 2 == points_sent  # every field of every line is somewhere


def _tag_pairs(text: str) -> int:
    return sum(line.split(" ")[0].count("=") for line in text.splitlines())


def test_assigning_an_inbox_signal_moves_its_past_and_future_points_onto_the_new_tag(
    app: Any, client: TestClient, world: World
) -> None:
    key = _key(world, world.firm_a)
    now = datetime.now(UTC).replace(microsecond=0)
    past = [int((now - timedelta(minutes=m)).timestamp()) for m in (3, 2)]
    body = "\n".join(f"hydraulic,host=press-01 temp_c={40 + i} {t}" for i, t in enumerate(past))
    first = client.post("/write?db=factory&precision=s", content=body, headers={"Authorization": f"Token {key}"})
    assert first.status_code == 204, first.text
    member = bearer(client, world.emails["member_a"])
    inbox = client.get(f"/api/v1/companies/{world.firm_a}/signals", headers=member).json()
    row = next(s for s in inbox if s["series"] == "hydraulic,host=press-01 temp_c")
    assert (row["points"], row["last_value"], row["tags"], row["field"]) == (2, 41.0, {"host": "press-01"}, "temp_c")

    assigned = client.post(
        f"/api/v1/companies/{world.firm_a}/signals/{row['id']}/assign", headers=member,
        json={"equipment_id": world.ids_a["equipment_id"], "name": "1호 프레스 유압 온도", "unit": "°C"},
    )  # fmt: skip
    assert assigned.status_code == 200, assigned.text
    tag_id = assigned.json()["tag_id"]
    assert assigned.json()["points"] == 2 and assigned.json()["tag_name"] == "1호 프레스 유압 온도"
    store = app.state.system.store
    assert store.read(tag_id, *EVER).value.tolist() == [40.0, 41.0]  # the past, kept in the inbox, moved over

    later = f"hydraulic,host=press-01 temp_c=45.5 {int(now.timestamp())}"
    gzipped = {"Authorization": f"Token {key}", "Content-Encoding": "gzip"}
    v2 = "/api/v2/write?bucket=b&org=o&precision=s"
    sent = client.post(v2, content=gzip.compress(later.encode()), headers=gzipped)
    assert sent.status_code == 204, sent.text
    assert store.read(tag_id, *EVER).value.tolist() == [40.0, 41.0, 45.5]  # the future goes to the tag
    assert all(s["series"] != row["series"] for s in client.get(
        f"/api/v1/companies/{world.firm_a}/signals", headers=member).json())  # fmt: skip
    with world.db.session(SYSTEM) as session:
        tag = session.get(Tag, tag_id)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "signal.assign"))
    assert tag is not None and tag.unit == "°C" and tag.company_id == world.firm_a
    assert entry is not None and entry.user_email == world.emails["member_a"] and entry.company_id == world.firm_a
    assert entry.details["series"] == row["series"] and entry.details["tag_id"] == tag_id


def test_the_inbox_page_names_and_assigns_a_signal(app: Any, client: TestClient, world: World) -> None:
    key = _key(world, world.firm_a)
    ts = int(datetime.now(UTC).timestamp()) - 60
    client.post(f"/write?db=f&u=x&p={key}&precision=s", content=f"vib,axis=x rms=0.42 {ts}")
    page_client = _page_client(app, world.emails["member_a"])
    page = page_client.get(f"/companies/{world.firm_a}/signals")
    assert page.status_code == 200 and "rms" in page.text and "axis=x" in page.text and "0.42" in page.text
    series_id = next(r.id for s, r in _inbox(world, world.firm_a).items() if s == "vib,axis=x rms")
    form = {"name": "주축 진동", "unit": "mm/s", "equipment_id": str(world.ids_a["equipment_id"]),
            "csrf_token": _csrf(page_client)}  # fmt: skip
    done = page_client.post(f"/companies/{world.firm_a}/signals/{series_id}/assign", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    row = _inbox(world, world.firm_a)["vib,axis=x rms"]
    assert row.tag_id is not None and app.state.system.store.read(row.tag_id, *EVER).value.tolist() == [0.42]
    assert "주축 진동" in page_client.get(f"/companies/{world.firm_a}/signals").text


def test_another_firm_neither_sees_nor_feeds_the_inbox(app: Any, client: TestClient, world: World) -> None:
    key_a, key_b = _key(world, world.firm_a), _key(world, world.firm_b)
    line = f"cpu,host=shared usage_idle=50 {int(datetime.now(UTC).timestamp())}"
    for key in (key_a, key_b):
        assert (
            client.post("/write?db=t&precision=s", content=line, headers={"Authorization": f"Token {key}"}).status_code
            == 204
        )
    a, b = (
        _inbox(world, world.firm_a)["cpu,host=shared usage_idle"],
        _inbox(world, world.firm_b)["cpu,host=shared usage_idle"],
    )
    assert a.id != b.id  # each firm its own series of the same name
    outsider = bearer(client, world.emails["member_b"])
    assert client.get(f"/api/v1/companies/{world.firm_a}/signals", headers=outsider).status_code == 404
    assigned = client.post(f"/api/v1/companies/{world.firm_b}/signals/{a.id}/assign", headers=outsider,
                           json={"equipment_id": world.ids_a["equipment_id"], "name": "x"})  # fmt: skip
    assert assigned.status_code == 404
    own = client.get(f"/api/v1/companies/{world.firm_b}/signals", headers=outsider).json()
    assert [s["id"] for s in own] == [b.id] and own[0]["points"] == 1
    page = _page_client(app, world.emails["member_b"]).get(f"/companies/{world.firm_a}/signals")
    assert page.status_code == 404
    # B cannot put its series on A's machine either
    onto_a = client.post(f"/api/v1/companies/{world.firm_b}/signals/{b.id}/assign", headers=outsider,
                         json={"equipment_id": world.ids_a["equipment_id"], "name": "x"})  # fmt: skip
    assert onto_a.status_code == 404 and _inbox(world, world.firm_b)["cpu,host=shared usage_idle"].tag_id is None


def test_a_bad_line_is_a_400_naming_its_line_and_the_good_lines_are_kept(
    app: Any, client: TestClient, world: World
) -> None:
    key = _key(world, world.firm_a)
    ts = int(datetime.now(UTC).timestamp())
    body = f'm,host=a v=1 {ts}\nm,host=a v=oops {ts}\nm,host=a state="running" {ts}\nm,host=a v=2 {ts + 1}\n'
    for path, shape in (("/write?db=x&precision=s", "error"), ("/api/v2/write?bucket=x&org=o&precision=s", "message")):
        answer = client.post(path, content=body, headers={"Authorization": f"Token {key}"})
        assert answer.status_code == 400, answer.text
        text = answer.json()[shape]
        assert "line 2" in text and "line 3" in text and "dropped=2" in text
        assert (path.startswith("/write") and text.startswith("partial write:")) or answer.json()["code"] == "invalid"
        assert answer.json()["line"] == 2 and answer.json()["reason"]  # Korean first
        assert [r["row"] for r in answer.json()["rejected"]] == [2, 3]
    row = _inbox(world, world.firm_a)["m,host=a v"]
    assert app.state.system.store.read(signals.held_key(row.id), *EVER).value.tolist() == [1.0, 2.0]
    reasons = app.state.system.store.dead_letters().column("reason").to_pylist()
    assert reasons.count("not_a_number") == 2 and reasons.count("text_field") == 2  # kept with their reason


def test_a_wrong_or_missing_key_is_401_in_influxdbs_words(client: TestClient, world: World) -> None:
    member = bearer(client, world.emails["member_a"])
    revoked = _key(world, world.firm_a)
    with world.db.session(SYSTEM) as session:
        session.scalar(select(ApiKey).where(ApiKey.key_id == revoked.split("_")[1])).revoked_at = datetime.now(UTC)  # type: ignore[union-attr]
    wrong = "s365_0123456789ab_not-the-secret"
    basic = "Basic " + base64.b64encode(f"telegraf:{wrong}".encode()).decode()
    for path in ("/write?db=x", "/api/v2/write?bucket=x&org=o", "/query?q=SHOW+DATABASES"):
        for headers in (
            {},
            {"Authorization": f"Token {wrong}"},
            {"Authorization": basic},
            {"Authorization": f"Token {revoked}"},
            member,
        ):  # a user's token is no API key
            answer = client.post(path, content="m v=1", headers=headers)
            assert answer.status_code == 401, f"{path} {headers}: {answer.status_code}"
            body = answer.json()
            assert (body["code"] == "unauthorized" and body["message"]) if "/api/v2" in path else body["error"]
    assert _inbox(world, world.firm_a) == {}


def test_a_gzip_bomb_is_413_and_never_unpacked_whole(client: TestClient, world: World) -> None:
    key = _key(world, world.firm_a)
    bomb = gzip.compress(b"m v=1\n" * (40 * 1024 * 1024 // 6), compresslevel=9)  # 40 MB unpacked, ~40 KB sent
    assert len(bomb) < 1024 * 1024
    headers = {"Authorization": f"Token {key}", "Content-Encoding": "gzip"}
    for path in ("/write?db=x", "/api/v2/write?bucket=x&org=o"):
        answer = client.post(path, content=bomb, headers=headers)
        assert answer.status_code == 413, answer.text
    ingest_headers = {"X-API-Key": key, "Content-Encoding": "gzip", "Content-Type": "text/plain"}
    ingest = client.post("/api/v1/ingest", content=bomb, headers=ingest_headers)
    assert ingest.status_code == 413 and ingest.json()["error"]["code"] == "body_too_large"
    for damaged in (gzip.compress(b"m v=1\n")[:-6], b"\x1f\x8b not gzip at all"):
        answer = client.post("/write?db=x", content=damaged, headers=headers)
        assert answer.status_code == 400 and "gzip" in answer.json()["error"], answer.text
    assert _inbox(world, world.firm_a) == {}


def test_ingest_takes_gzip_too_and_keeps_its_equipment_id_convention(
    app: Any, client: TestClient, world: World
) -> None:
    key = _key(world, world.firm_a)
    tag = world.ids_a["tag_id"]
    with world.db.session(SYSTEM) as session:
        name = session.get(Tag, tag).name  # type: ignore[union-attr]
    ts = int(datetime.now(UTC).timestamp())
    line = f"mct,equipment_id={world.ids_a['equipment_id']} {name.replace(' ', chr(92) + ' ')}=12.5 {ts}"
    headers = {"X-API-Key": key, "Content-Type": "text/plain", "Content-Encoding": "gzip"}
    answer = client.post("/api/v1/ingest?precision=s", content=gzip.compress(line.encode()), headers=headers)
    assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text
    assert app.state.system.store.read(tag, *EVER).value.tolist() == [12.5]


def test_ping_and_health_answer_as_influxdb(client: TestClient) -> None:
    for method in ("GET", "HEAD"):
        answer = client.request(method, "/ping")
        assert answer.status_code == 204 and re.fullmatch(r"\d+\.\d+\.\d+", answer.headers["x-influxdb-version"])
    assert client.get("/ping?verbose=true").json()["version"]
    assert client.get("/health").json()["status"] == "pass"


def test_the_influxdb_client_libraries_write_to_a_live_server(app: Any, world: World) -> None:
    from influxdb import InfluxDBClient
    from influxdb_client import InfluxDBClient as V2Client
    from influxdb_client import Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    key = _key(world, world.firm_a)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with _served(app) as port:
        with V2Client(url=f"http://127.0.0.1:{port}", token=key, org="factory", enable_gzip=True) as v2:
            assert v2.ping()
            point = Point("press").tag("line", "2라인").field("stroke_rate", 31.5).time(now)
            v2.write_api(write_options=SYNCHRONOUS).write(bucket="plant", record=point)
        v1 = InfluxDBClient(host="127.0.0.1", port=port, username="node-red", password=key, database="plant", gzip=True)
        v1.create_database("plant")
        assert v1.write_points([{"measurement": "press", "tags": {"line": "2라인"}, "time": now.isoformat(),
                                 "fields": {"oil_temp": 44.0}}], time_precision="s")  # fmt: skip
        v1.close()
        inbox = _inbox(world, world.firm_a)
        store = app.state.system.store
        rate, oil = inbox["press,line=2라인 stroke_rate"], inbox["press,line=2라인 oil_temp"]
        assert store.read(signals.held_key(rate.id), *EVER).value.tolist() == [31.5]
        assert store.read(signals.held_key(oil.id), *EVER).value.tolist() == [44.0]
    assert (rate.source, oil.source) == ("bucket=plant", "db=plant")


def test_a_full_inbox_refuses_new_series_by_line_and_keeps_the_known_ones(
    app: Any, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signals, "MAX_INBOX", 3)  # the world's own inbox series, and two more
    key = _key(world, world.firm_a)
    ts = int(datetime.now(UTC).timestamp())
    headers = {"Authorization": f"Token {key}"}
    assert client.post("/write?precision=s", content=f"a v=1 {ts}\nb v=1 {ts}", headers=headers).status_code == 204
    answer = client.post("/write?precision=s", content=f"a v=2 {ts + 1}\nc v=1 {ts}", headers=headers)
    assert answer.status_code == 400 and "line 2" in answer.json()["error"], answer.text
    assert set(_inbox(world, world.firm_a)) == {"a v", "b v"}
    row = _inbox(world, world.firm_a)["a v"]
    assert app.state.system.store.read(signals.held_key(row.id), *EVER).value.tolist() == [1.0, 2.0]


def test_a_tags_new_limit_and_a_new_mapping_hold_from_the_very_next_write(
    app: Any, client: TestClient, world: World
) -> None:
    """What a firm's series resolve to is remembered between writes; a change to a tag or a mapping is not missed."""
    key, tag = _key(world, world.firm_a), world.ids_a["tag_id"]  # the spindle tag: max 150
    with world.db.session(SYSTEM) as session:
        signals.map_series(session, world.firm_a, "spindle,host=mct load", tag, by="test")
    auth = {"Authorization": f"Token {key}"}
    ts = int(datetime.now(UTC).timestamp())
    assert client.post("/write?precision=s", content=f"spindle,host=mct load=140 {ts}", headers=auth).status_code == 204
    with world.db.session(SYSTEM) as session:
        session.get(Tag, tag).max_value = 120  # type: ignore[union-attr]
    refused = client.post("/write?precision=s", content=f"spindle,host=mct load=130 {ts + 1}", headers=auth)
    assert refused.status_code == 400 and refused.json()["line"] == 1, refused.text
    with world.db.session(SYSTEM) as session:
        signals.map_series(session, world.firm_a, "spindle,host=mct torque", tag, by="test")
    assert client.post("/write?precision=s", content=f"spindle,host=mct torque=99 {ts + 2}",
                       headers=auth).status_code == 204  # fmt: skip
    store = app.state.system.store
    assert store.read(tag, *EVER).value.tolist()[-2:] == [140.0, 99.0]
    assert "spindle,host=mct torque" not in {s for s, r in _inbox(world, world.firm_a).items() if r.tag_id is None}
