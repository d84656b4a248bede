"""The demo centre's fleet: what a dozen synthetic firms' plants would have forwarded over NATS.

The demo runs no NATS hub (it needs no server), so the fleet tables are seeded as a centre worker would have
written them: for each plant the firm's registered machines and tags with a day of 1-hour and six hours of
1-minute rollups (values inside each tag's range; counters climb), its tag catalogue, an open alarm on some,
OEE of the last closed shifts and its measured evidence. Most plants were
heard from a minute ago, one is late and one has gone silent, so every state of the **공장 연결망** page shows.
The showcase firm is the demo's own live plant and is not among them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from smart365.core.i18n import translate_in
from smart365.fleet.models import (
    FleetAlarm,
    FleetEvidence,
    FleetOee,
    FleetPlant,
    FleetRollup1h,
    FleetRollup1m,
    FleetTag,
)
from smart365.fleet.partitions import maintain
from smart365.monitoring.oee import shift_at
from smart365.registry.models import Company, Equipment, Tag
from smart365.registry.vocab import SIGNAL_LABELS

QUIET = {3: timedelta(minutes=20), 7: timedelta(hours=3)}  # the late plant and the silent one
DETAIL = "{connected} of {total} registered machines sent data automatically in the last {days} days ({share}%)."


def seed_fleet(session: Session, now: datetime, plants: int = 12, showcase_id: int | None = None) -> int:
    """Seed a plant for each of ``plants`` 소부장 firms of the population that registered tags (never the
    showcase firm, whose plant runs live in the demo); returns how many."""
    if session.get_bind().dialect.name == "postgresql":  # the rollup tables take rows only into partitions
        maintain(session.connection().connection.driver_connection, now)
    with_tags = select(Tag.company_id)
    firms = session.scalars(
        select(Company)
        .where(Company.sobujang.is_(True), Company.id.in_(with_tags), Company.id != (showcase_id or 0))
        .order_by(Company.id)
        .limit(plants)
    ).all()
    rng = np.random.default_rng(365)
    for number, firm in enumerate(firms):
        plant, heard = f"plant-{number + 1}", now - QUIET.get(number, timedelta(minutes=1))
        first = now - timedelta(days=20 + 3 * number)
        session.add(FleetPlant(brn=firm.brn, plant=plant, first_seen=first, last_seen=heard))
        tags = _tags(session, firm, plant)
        session.execute(insert(FleetTag), [{k: v for k, v in tag.items() if k not in ("low", "high")} for tag in tags])
        for model, width, hours in ((FleetRollup1h, 3600, 24), (FleetRollup1m, 60, 6)):
            session.execute(insert(model), _rollups(rng, tags, heard, width, hours))
        machines = sorted({tag["equipment"] for tag in tags})
        session.execute(insert(FleetOee), _oee(rng, firm.brn, plant, machines, heard))
        session.add(_evidence(firm.brn, plant, len(machines), heard))
        if number % 4 == 1:
            session.add(_alarm(tags[0], heard))
    return len(firms)


def _tags(session: Session, firm: Company, plant: str) -> list[dict[str, Any]]:
    """The firm's registered tags as its plant's catalogue (with their ranges, for the values)."""
    found = session.execute(
        select(Tag, Equipment.name)
        .join(Equipment, Tag.equipment_id == Equipment.id)
        .where(Tag.company_id == firm.id)
        .order_by(Tag.id)
    ).all()
    return [
        {
            "brn": firm.brn,
            "plant": plant,
            "tag_id": tag.id,
            "name": tag.name,
            "unit": tag.unit,
            "equipment": machine,
            "label": translate_in("ko", SIGNAL_LABELS[tag.name]) if tag.name in SIGNAL_LABELS else tag.name,
            "low": tag.min_value or 0.0,
            "high": tag.max_value if tag.max_value is not None else 100.0,
        }
        for tag, machine in found
    ]


def _rollups(
    rng: np.random.Generator, tags: list[dict[str, Any]], heard: datetime, width: int, hours: int
) -> list[dict[str, Any]]:
    last = int(heard.timestamp()) // width * width - width  # the newest closed bucket
    buckets = np.arange(last - hours * 3600 + width, last + width, width)
    hour_of_day = (buckets % 86400) / 3600
    rows = []
    for tag in tags:
        points = 60 if width == 60 else 360
        typical, swing = tag["low"] + 0.45 * (tag["high"] - tag["low"]), 0.08 * (tag["high"] - tag["low"])
        if tag["name"].endswith("_count"):  # a counter: its mean climbs through the day
            mean = np.cumsum(rng.poisson(1.4 * width / 60, buckets.size)).astype(float)
            swing = 1.0
        else:
            mean = (
                typical
                + swing * np.sin((hour_of_day - 8) / 24 * 2 * np.pi)
                + rng.normal(0, swing / 10 + 1e-9, buckets.size)
            )
        spread = np.abs(rng.normal(swing / 4, swing / 10 + 1e-9, buckets.size))
        rows += [
            {
                **{k: tag[k] for k in ("brn", "plant", "tag_id")},
                "bucket": datetime.fromtimestamp(int(b), UTC),
                "n": points,
                "avg": float(v),
                "vmin": float(v - s),
                "vmax": float(v + s),
            }
            for b, v, s in zip(buckets, mean, spread, strict=True)
        ]
    return rows


def _oee(rng: np.random.Generator, brn: str, plant: str, machines: list[str], heard: datetime) -> list[dict[str, Any]]:
    rows = []
    shift = shift_at(heard)
    for _ in range(2):
        shift = shift_at(shift.start - timedelta(seconds=1))
        for number, machine in enumerate(machines, 1):
            a, p, q = rng.uniform(0.72, 0.95), rng.uniform(0.8, 0.97), rng.uniform(0.96, 0.995)
            planned = (shift.end - shift.start).total_seconds()
            parts = float(int(planned * a * p / 42))
            rows.append(
                {
                    "brn": brn,
                    "plant": plant,
                    "equipment_id": number,
                    "shift_start": shift.start,
                    "equipment": machine,
                    "shift": shift.name,
                    "availability": a,
                    "performance": p,
                    "quality": q,
                    "oee": a * p * q,
                    "parts": parts,
                    "good": float(int(parts * q)),
                    "planned_s": planned,
                    "run_s": planned * a,
                    "as_of": shift.end,
                }
            )
    return rows


def _alarm(tag: dict[str, Any], heard: datetime) -> FleetAlarm:
    limit = tag["low"] + 0.9 * (tag["high"] - tag["low"])
    condition = f"{tag['name']} > {limit:g} {tag['unit'] or ''}".strip()
    return FleetAlarm(
        brn=tag["brn"],
        plant=tag["plant"],
        alarm_id=1,
        tag_id=tag["tag_id"],
        equipment=tag["equipment"],
        severity="high",
        condition=condition,
        raised_at=heard - timedelta(minutes=35),
        as_of=heard,
    )


def _evidence(brn: str, plant: str, machines: int, heard: datetime) -> FleetEvidence:
    params = {"connected": machines, "total": machines, "days": 7, "share": 100}
    return FleetEvidence(brn=brn, plant=plant, item_id="CTL.4", stage=2, detail=DETAIL, params=params, as_of=heard)
