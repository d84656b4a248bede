"""The Grafana recipe of docs/grafana.md, run as Grafana runs it: the recipe's own SQL, with the macros and
variables expanded the way Grafana's PostgreSQL data source expands them, against a real PostgreSQL store
as a login that may read the views only; and the JSON recipe's URL with a firm's API key."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smart365.core.tenancy import SYSTEM
from smart365.registry.models import Tag
from smart365.telemetry.batch import Batch
from smart365.telemetry.grafana import TagNames
from smart365.telemetry.store import open_store
from tests.conftest import World
from tests.telemetry.test_influx_write import _key

RECIPE = (Path(__file__).parents[2] / "docs" / "grafana.md").read_text(encoding="utf-8")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")  # the pattern of Grafana's postgres macro engine


def _blocks(kind: str) -> list[str]:
    """The recipe's fenced blocks of one kind (```sql grafana-panel, …)."""
    return re.findall(rf"```\w+ {kind}\n(.*?)```", RECIPE, flags=re.S)


def _grafana(sql: str, start: datetime, end: datetime, variables: dict[str, str]) -> str:
    """``sql`` as Grafana sends it: template variables first, then the macros (postgres, TimescaleDB off)."""
    for name, value in variables.items():
        sql = re.sub(rf"\${name}\b(?!\()", value, sql)

    def iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def group(args: list[str]) -> str:
        seconds = {"s": 1, "m": 60, "h": 3600}[args[1][-1]] * int(args[1][:-1])
        return f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"

    def expand(match: re.Match[str]) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{iso(start)}' AND '{iso(end)}'"
        if name == "__timeGroupAlias":
            return group(args) + ' AS "time"'
        raise AssertionError(f"the recipe uses a macro this test does not expand: {name}")

    return MACRO.sub(expand, sql)


@pytest.mark.postgres
def test_grafanas_panels_read_the_views_with_the_registry_names_as_a_read_only_login(
    world: World, pg_database: str
) -> None:
    tag = world.ids_a["tag_id"]
    with world.db.session(SYSTEM) as session:
        session.get(Tag, tag).display_name = "주축 부하"
        row = session.scalar(select(Tag).where(Tag.id == tag))
        assert row is not None
        machine, tag_name = row.equipment.name, row.name
    schema = f"g_{uuid.uuid4().hex[:10]}"  # the store's own schema (``public`` in the recipe)
    with psycopg.connect(pg_database, autocommit=True) as owner:
        owner.execute(f"CREATE SCHEMA {schema}")
    in_schema = f"?options=-csearch_path%3D{schema}"
    store = open_store(pg_database + in_schema)
    try:
        minutes = [START + timedelta(minutes=m, seconds=s) for m in range(3) for s in (0, 30)]
        store.append(Batch.from_columns(tag, minutes, [10.0, 20.0, 30.0, 50.0, 70.0, 80.0]))
        names = TagNames()
        assert names.sync(world.db, store) and not names.sync(world.db, store)  # written once, then unchanged
        with world.db.session(SYSTEM) as session:
            session.get(Tag, tag).display_name = "스핀들 부하"
        assert names.sync(world.db, store)  # a renamed tag reaches the dashboards
    finally:
        store.close()

    role = f"grafana_{uuid.uuid4().hex[:10]}"
    setup = _blocks("grafana-setup")[0].replace("grafana_reader", role).replace("SCHEMA public", f"SCHEMA {schema}")
    with psycopg.connect(pg_database + in_schema, autocommit=True) as owner:
        for statement in setup.split(";"):
            if statement.strip():
                owner.execute(statement)
    base = pg_database.rsplit("/", 1)
    reader = f"postgresql://{role}@{base[0].split('@', 1)[1]}/{base[1]}{in_schema}"
    try:
        with psycopg.connect(reader) as grafana:
            variables = {"company": str(world.firm_a), "machine": f"'{machine}'", "__interval": "2m"}
            line, bands, raw = (grafana.execute(_grafana(sql, START, START + timedelta(hours=1), variables)).fetchall()
                                for sql in [b.replace("'spindle_load'", f"'{tag_name}'")  # the recipe's example tag
                                            for b in _blocks("grafana-panel")])  # fmt: skip
            companies, machines = (grafana.execute(_grafana(sql, START, START, variables)).fetchall()
                                   for sql in _blocks("grafana-variable"))  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                grafana.execute("SELECT * FROM ts_points")
    finally:
        with psycopg.connect(pg_database, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {role}")
            owner.execute(f"DROP ROLE {role}")
            owner.execute(f"DROP SCHEMA {schema} CASCADE")

    epoch = START.timestamp()
    assert line == [(epoch, "스핀들 부하", 27.5), (epoch + 120, "스핀들 부하", 75.0)]  # two-minute buckets, weighted
    assert bands == [(epoch, 10.0, 50.0), (epoch + 120, 70.0, 80.0)]
    assert [(row[1], row[2]) for row in raw] == [("스핀들 부하", v) for v in (10.0, 20.0, 30.0, 50.0, 70.0, 80.0)]
    assert (world.firm_a,) in companies and (machine,) in machines


def test_the_json_recipes_url_reads_the_firms_series_with_its_api_key(client: TestClient, world: World) -> None:
    tag = world.ids_a["tag_id"]
    key = _key(world, world.firm_a)
    points = [{"tag_id": tag, "ts": (START + timedelta(minutes=m)).isoformat(), "value": float(m)} for m in range(5)]
    assert client.post("/api/v1/ingest", headers={"Authorization": f"Bearer {key}"},
                       json={"points": points}).json()["stored"] == 5  # fmt: skip
    url = _blocks("grafana-url")[0].strip().split(":8365", 1)[1].replace("<tag id>", str(tag))
    grafana_range = {"${__from:date:iso}": "2026-12-01T08:00:00.000Z", "${__to:date:iso}": "2026-12-01T10:00:00.000Z"}
    for variable, value in grafana_range.items():
        url = url.replace(variable, value)  # as Grafana formats the dashboard's range
    answer = client.get(url, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    series: dict[str, Any] = answer.json()
    assert sum(p["count"] for p in series["points"]) == 5 and max(p["max"] for p in series["points"]) == 4.0
    assert {"t", "avg", "min", "max"} <= set(series["points"][0])
    latest = client.get(f"/api/v1/tags/{tag}/latest", headers={"X-API-Key": key}).json()
    assert latest["value"] == 4.0
    other = _key(world, world.firm_b)
    assert client.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 404  # not its firm's tag
