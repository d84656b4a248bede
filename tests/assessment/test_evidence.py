"""Evidence providers on fixtures: machines set up for automatic collection, data freshness from a store,
'no evidence' where Smart365 holds no data yet, and self-reported vs measured flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update

from smart365.assessment import evidence
from smart365.assessment.evidence import Evidence, EvidenceContext
from smart365.assessment.instrument import default_instrument
from smart365.core.tenancy import SYSTEM, Principal, Role
from smart365.registry.models import Equipment, Tag
from smart365.telemetry.batch import Batch
from smart365.telemetry.store import DuckDBStore
from tests.conftest import World

INSTRUMENT = default_instrument()
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONNECTIVITY = {"window_days": 7, "stage_1_share": 0.2, "stage_2_share": 0.8}


def _add_machines(world: World, count: int, protocol: str) -> list[int]:
    """Extra machines on firm A's line, each with one tag; returns the tag ids."""
    tags = []
    with world.db.session(SYSTEM) as session:
        for i in range(count):
            machine = Equipment(
                company_id=world.firm_a, line_id=world.ids_a["line_id"], name=f"M{protocol}{i}", protocol=protocol
            )
            session.add(machine)
            session.flush()
            tag = Tag(company_id=world.firm_a, equipment_id=machine.id, name="load")
            session.add(tag)
            session.flush()
            tags.append(tag.id)
    return tags


def _measure(
    world: World, provider: evidence.EvidenceProvider, store: object = None, params: dict | None = None
) -> Evidence:  # type: ignore[type-arg]
    member = Principal(user_id=None, role=Role.COMPANY_MEMBER, company_id=world.firm_a)
    with world.db.session(member) as session:
        context = EvidenceContext(session, world.firm_a, store, NOW)  # type: ignore[arg-type]
        return provider.measure(context, params or CONNECTIVITY)


def test_collection_share_counts_machines_with_a_protocol_and_tags(world: World) -> None:
    found = _measure(world, evidence.CollectionShare())
    assert (found.stage, found.english()) == (0, "0 of 1 registered machines collect data automatically (0%).")
    _add_machines(world, 1, "opcua")
    found = _measure(world, evidence.CollectionShare())
    assert (found.stage, found.params["share"]) == (1, 50)
    with world.db.session(SYSTEM) as session:
        session.execute(update(Equipment).where(Equipment.company_id == world.firm_a).values(protocol="modbus"))
    assert _measure(world, evidence.CollectionShare()).stage == 2


def test_collection_share_without_machines_is_no_evidence(world: World) -> None:
    with world.db.session(SYSTEM) as session:
        session.execute(update(Equipment).where(Equipment.company_id == world.firm_a).values(company_id=world.firm_b))
    assert _measure(world, evidence.CollectionShare()).stage is None


def test_freshness_reads_the_newest_point_of_each_tag(world: World) -> None:
    live, stale = _add_machines(world, 2, "mqtt")
    params = {"window_days": 30}
    assert _measure(world, evidence.DataFreshness(), None, params).stage is None  # no store: no evidence
    store = DuckDBStore(":memory:")
    try:
        assert _measure(world, evidence.DataFreshness(), store, params).stage is None  # nothing arrived yet
        micros = lambda moment: int(moment.timestamp() * 1_000_000)  # noqa: E731
        store.append(Batch.from_columns(live, [micros(NOW - timedelta(hours=2))], [1.0]))
        store.append(Batch.from_columns(stale, [micros(NOW - timedelta(days=10))], [1.0]))
        found = _measure(world, evidence.DataFreshness(), store, params)
        assert (found.stage, found.params["live"], found.params["recent"], found.params["total"]) == (1, 1, 2, 3)
        assert found.english() == "1 of 3 machines sent data in the last day, 2 in the last 30 days."
        for tag in (stale, world.ids_a["tag_id"]):
            store.append(Batch.from_columns(tag, [micros(NOW - timedelta(minutes=5))], [2.0]))
        assert _measure(world, evidence.DataFreshness(), store, params).stage == 2
    finally:
        store.close()


class _BrokenStore:
    def latest(self, tag_ids: object) -> object:
        raise ConnectionError("down")


def test_an_unreachable_store_is_no_evidence_not_an_error(world: World) -> None:
    found = _measure(world, evidence.DataFreshness(), _BrokenStore(), {"window_days": 30})
    assert found.stage is None and "not reachable" in found.english()


@pytest.mark.parametrize("hook", ["alarm_handling", "spc_in_use", "maintenance_model"])
def test_providers_without_data_say_no_evidence(world: World, hook: str) -> None:
    found = _measure(world, evidence.PROVIDERS[hook])
    assert found.stage is None and found.english().startswith("No evidence")


def test_lines_without_oee_settings_measure_zero(world: World) -> None:
    found = _measure(world, evidence.PROVIDERS["oee_coverage"])
    assert (found.stage, found.english()) == (0, "OEE is not set up for any of the 1 lines.")


def test_every_instrument_hook_has_a_provider_and_the_comparison_flags_gaps(world: World) -> None:
    hooks = {item.evidence.hook for item in INSTRUMENT.items if item.evidence}
    assert hooks <= set(evidence.PROVIDERS)
    with world.db.session(SYSTEM) as session:
        measured = evidence.measure_items(INSTRUMENT, EvidenceContext(session, world.firm_a, None, NOW))
    assert set(measured) == {"CTL.4", "EQP.1", "OPS.3", "QUA.1", "EQP.2", "SYS.3"}
    assert measured["CTL.4"].stage == 0 and measured["SYS.3"].stage is None
    answers = {"CTL.4": 3, "EQP.1": 2, "OPS.3": None}
    rows = {r.item_id: r for r in evidence.compare(INSTRUMENT, answers, measured | {"EQP.1": Evidence(1, "x")})}
    assert (rows["CTL.4"].disagrees, rows["CTL.4"].flagged) == (True, True)  # 3 stages apart
    assert (rows["EQP.1"].disagrees, rows["EQP.1"].flagged) == (True, False)  # one stage apart
    assert not rows["OPS.3"].disagrees and not rows["SYS.3"].disagrees  # nothing to compare
    assert np.isfinite(INSTRUMENT.evidence_policy.flag_gap)
